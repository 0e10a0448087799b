using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Bits.Host;
using Bits.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

[assembly: AssemblyFixture(typeof(AzuriteFixture))]

namespace Bits.Cli.Tests;

/// <summary>The real Kestrel host (<see cref="BitsHostApp"/>) on a free loopback port, on its own containers and table in Azurite.</summary>
public sealed class CliHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private CliHost(WebApplication app, Uri root, string connectionString, string uploadContainer, string sessionTable)
    {
        _app = app;
        UploadBase = new Uri(root, "uploads/");
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

        var app = BitsHostApp.Build([], builder =>
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            if (Environment.GetEnvironmentVariable("CLI_TEST_LOG") is { } log)
            {
                builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Debug);
            }

            builder.Configuration.AddInMemoryCollection(values);
        });
        await app.StartAsync(TestContext.Current.CancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new CliHost(app, new Uri(address.TrimEnd('/') + "/"), azurite.ConnectionString, values["BitsStorage:UploadContainer"]!, values["BitsStorage:SessionTable"]!);
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

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}
