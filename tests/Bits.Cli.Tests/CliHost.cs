using Azure.Storage.Blobs;
using Bits.Host;
using Bits.Testing;
using Microsoft.Extensions.Logging;

[assembly: AssemblyFixture(typeof(AzuriteFixture))]

namespace Bits.Cli.Tests;

/// <summary>The real Kestrel host (<see cref="BitsHostApp"/>) on a free loopback port, on its own containers and table in Azurite.</summary>
public sealed class CliHost : IAsyncDisposable
{
    private readonly InProcessHost _host;

    private CliHost(InProcessHost host, StorageNames storage)
    {
        _host = host;
        Storage = storage;
        UploadBase = new Uri(host.Root, "uploads/");
    }

    public Uri UploadBase { get; }

    public StorageNames Storage { get; }

    public BlobContainerClient Uploads => Storage.Uploads;

    public static async Task<CliHost> StartAsync(AzuriteFixture azurite, IDictionary<string, string?>? settings = null)
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        var host = await InProcessHost.StartAsync(
            storage,
            settings,
            builder =>
            {
                if (Environment.GetEnvironmentVariable("CLI_TEST_LOG") is not null)
                {
                    builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Debug);
                }
            },
            cancellationToken: TestContext.Current.CancellationToken);
        return new CliHost(host, storage);
    }

    public Uri Url(string path) => new(UploadBase, path);

    public Task<byte[]> ReadPublishedAsync(string name) => Storage.ReadPublishedAsync(name);

    public Task<int> SessionRowCountAsync() => Storage.SessionRowCountAsync();

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
