using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Bits.Host;
using Bits.Load;
using Bits.Testing;
using Microsoft.Extensions.Logging;

[assembly: AssemblyFixture(typeof(AzuriteFixture))]

namespace Bits.Cli.Tests;

/// <summary>The real Kestrel host (<see cref="BitsHostApp"/>) on a free loopback port, on its own containers and table in Azurite.</summary>
public sealed class CliHost : IAsyncDisposable
{
    private readonly InProcessHost _host;

    private CliHost(InProcessHost host, string connectionString, string uploadContainer, string sessionTable)
    {
        _host = host;
        UploadBase = new Uri(host.Root, "uploads/");
        Uploads = new BlobServiceClient(connectionString).GetBlobContainerClient(uploadContainer);
        Sessions = new TableServiceClient(connectionString).GetTableClient(sessionTable);
    }

    public Uri UploadBase { get; }

    public BlobContainerClient Uploads { get; }

    public TableClient Sessions { get; }

    public static async Task<CliHost> StartAsync(AzuriteFixture azurite, IDictionary<string, string?>? settings = null)
    {
        var suffix = Guid.NewGuid().ToString("N")[..12];
        var values = new Dictionary<string, string?>
        {
            ["BitsStorage:ConnectionString"] = azurite.ConnectionString,
            ["BitsStorage:UploadContainer"] = "up-" + suffix,
            ["BitsStorage:StagingContainer"] = "st-" + suffix,
            ["BitsStorage:SessionTable"] = "sessions" + suffix,
            ["Bits:Janitor:Enabled"] = "false",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values[key] = value;
        }

        var host = await InProcessHost.StartAsync(
            values,
            builder =>
            {
                if (Environment.GetEnvironmentVariable("CLI_TEST_LOG") is not null)
                {
                    builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Debug);
                }
            },
            TestContext.Current.CancellationToken);
        return new CliHost(host, azurite.ConnectionString, values["BitsStorage:UploadContainer"]!, values["BitsStorage:SessionTable"]!);
    }

    public Uri Url(string path) => new(UploadBase, path);

    public async Task<byte[]> ReadPublishedAsync(string name) =>
        (await Uploads.GetBlobClient(name).DownloadContentAsync(TestContext.Current.CancellationToken)).Value.Content.ToArray();

    public async Task<int> SessionRowCountAsync()
    {
        var count = 0;
        await foreach (var _ in Sessions.QueryAsync<TableEntity>(e => e.RowKey == "session", cancellationToken: TestContext.Current.CancellationToken))
        {
            count++;
        }

        return count;
    }

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
