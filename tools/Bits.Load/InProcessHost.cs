using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Bits.Host;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Bits.Load;

/// <summary>Names of one run's storage resources on one storage account, shared by every host of the run.</summary>
public sealed record StorageNames(string ConnectionString, string UploadContainer, string StagingContainer, string SessionTable)
{
    public static StorageNames Unique(string connectionString, string prefix = "load")
    {
        var suffix = Guid.NewGuid().ToString("N")[..12];
        return new StorageNames(connectionString, $"{prefix}-up-{suffix}", $"{prefix}-st-{suffix}", prefix + "sessions" + suffix);
    }

    public BlobContainerClient Uploads => new BlobServiceClient(ConnectionString).GetBlobContainerClient(UploadContainer);

    public BlobContainerClient Staging => new BlobServiceClient(ConnectionString).GetBlobContainerClient(StagingContainer);

    public TableClient Sessions => new TableServiceClient(ConnectionString).GetTableClient(SessionTable);

    /// <summary>Blobs holding staged data: the staging container's (upload-reply sessions), plus destinations that
    /// have only uncommitted blocks (what a listing with uncommitted blobs shows beyond the published files).</summary>
    public async Task<int> StagedBlobCountAsync(CancellationToken cancellationToken)
    {
        var count = 0;
        await foreach (var _ in Staging.GetBlobsAsync(cancellationToken: cancellationToken))
        {
            count++;
        }

        var committed = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var blob in Uploads.GetBlobsAsync(cancellationToken: cancellationToken))
        {
            committed.Add(blob.Name);
        }

        await foreach (var blob in Uploads.GetBlobsAsync(
            new global::Azure.Storage.Blobs.Models.GetBlobsOptions { States = global::Azure.Storage.Blobs.Models.BlobStates.Uncommitted }, cancellationToken))
        {
            count += committed.Contains(blob.Name) ? 0 : 1;
        }

        return count;
    }

    /// <summary>Live session rows left in the session table (after all Closes: must be 0; tombstones are kept by design).</summary>
    public async Task<int> SessionRowCountAsync(CancellationToken cancellationToken)
    {
        var count = 0;
        await foreach (var _ in Sessions.QueryAsync<TableEntity>(e => e.RowKey == "session", select: ["RowKey"], cancellationToken: cancellationToken))
        {
            count++;
        }

        return count;
    }

    /// <summary>Deletes the run's containers and table.</summary>
    public async Task DeleteAsync(CancellationToken cancellationToken)
    {
        await Uploads.DeleteIfExistsAsync(cancellationToken: cancellationToken);
        await Staging.DeleteIfExistsAsync(cancellationToken: cancellationToken);
        await Sessions.DeleteAsync(cancellationToken);
    }
}

/// <summary>The real Kestrel host (<see cref="BitsHostApp.Build"/>) in this process on a free loopback port.</summary>
public sealed class InProcessHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private InProcessHost(WebApplication app, Uri root)
    {
        _app = app;
        Root = root;
    }

    /// <summary>E.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri Root { get; }

    public IServiceProvider Services => _app.Services;

    public static Task<InProcessHost> StartAsync(
        StorageNames storage,
        IDictionary<string, string?>? settings = null,
        Action<WebApplicationBuilder>? configure = null,
        bool logWarnings = false,
        CancellationToken cancellationToken = default)
    {
        var values = new Dictionary<string, string?>
        {
            ["BitsStorage:ConnectionString"] = storage.ConnectionString,
            ["BitsStorage:UploadContainer"] = storage.UploadContainer,
            ["BitsStorage:StagingContainer"] = storage.StagingContainer,
            ["BitsStorage:SessionTable"] = storage.SessionTable,
            ["Bits:Janitor:Enabled"] = "false",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values[key] = value;
        }

        return StartAsync(
            values,
            builder =>
            {
                if (logWarnings)
                {
                    builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
                }

                configure?.Invoke(builder);
            },
            cancellationToken);
    }

    /// <summary>
    /// Starts the host with exactly <paramref name="settings"/> as configuration, no log providers (add them in
    /// <paramref name="configure"/>), on 127.0.0.1 with a port of the OS's choosing. The one way the load test, the
    /// benchmark and the test projects start a host in their own process.
    /// </summary>
    public static async Task<InProcessHost> StartAsync(
        IReadOnlyDictionary<string, string?> settings,
        Action<WebApplicationBuilder>? configure = null,
        CancellationToken cancellationToken = default)
    {
        var app = BitsHostApp.Build([], builder =>
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            builder.Configuration.AddInMemoryCollection(settings);
            configure?.Invoke(builder);
        });
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new InProcessHost(app, new Uri(address.TrimEnd('/') + "/"));
    }

    /// <summary>The upload URL of <paramref name="path"/>, e.g. <c>http://127.0.0.1:41234/uploads/a/b.bin</c>.</summary>
    public Uri Url(string path) => new(Root, BitsHostApp.RoutePrefix.TrimStart('/') + "/" + path);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}
