using System.Globalization;
using System.Net.Sockets;
using System.Text;
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

namespace Bits.Host.Tests;

/// <summary>Names of one test's storage resources, shared by every host of that test.</summary>
public sealed record StorageNames(string ConnectionString, string UploadContainer, string StagingContainer, string SessionTable)
{
    public static StorageNames Unique(AzuriteFixture azurite)
    {
        var suffix = Guid.NewGuid().ToString("N")[..12];
        return new StorageNames(azurite.ConnectionString, "up-" + suffix, "st-" + suffix, "sessions" + suffix);
    }

    public BlobContainerClient Uploads => new BlobServiceClient(ConnectionString).GetBlobContainerClient(UploadContainer);

    public BlobContainerClient Staging => new BlobServiceClient(ConnectionString).GetBlobContainerClient(StagingContainer);

    public TableClient Sessions => new TableServiceClient(ConnectionString).GetTableClient(SessionTable);

    public async Task<byte[]> ReadPublishedAsync(string name) =>
        (await Uploads.GetBlobClient(name).DownloadContentAsync(TestContext.Current.CancellationToken)).Value.Content.ToArray();

    public async Task<int> StagedBlobCountAsync()
    {
        var count = 0;
        await foreach (var _ in Staging.GetBlobsAsync(cancellationToken: TestContext.Current.CancellationToken))
        {
            count++;
        }

        return count;
    }

    public async Task<int> SessionRowCountAsync()
    {
        var count = 0;
        await foreach (var _ in Sessions.QueryAsync<TableEntity>(e => e.RowKey == "session", cancellationToken: TestContext.Current.CancellationToken))
        {
            count++;
        }

        return count;
    }
}

/// <summary>The real Kestrel host (<see cref="BitsHostApp"/>) on a free loopback port.</summary>
public sealed class TestHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestHost(WebApplication app, Uri root)
    {
        _app = app;
        Root = root;
        UploadBase = new Uri(root, "uploads/");
    }

    public Uri Root { get; }

    public Uri UploadBase { get; }

    public IServiceProvider Services => _app.Services;

    public static async Task<TestHost> StartAsync(StorageNames storage, IDictionary<string, string?>? settings = null, Action<WebApplicationBuilder>? configure = null)
    {
        var app = BitsHostApp.Build([], builder =>
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            var values = new Dictionary<string, string?>
            {
                ["BitsStorage:ConnectionString"] = storage.ConnectionString,
                ["BitsStorage:UploadContainer"] = storage.UploadContainer,
                ["BitsStorage:StagingContainer"] = storage.StagingContainer,
                ["BitsStorage:SessionTable"] = storage.SessionTable,
            };
            foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
            {
                values[key] = value;
            }

            builder.Configuration.AddInMemoryCollection(values);
            configure?.Invoke(builder);
        });
        await app.StartAsync(TestContext.Current.CancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new TestHost(app, new Uri(address.TrimEnd('/') + "/"));
    }

    public Uri Url(string path) => new(UploadBase, path);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}

/// <summary>Sends a request exactly as written (no URL normalisation) and returns status and headers.</summary>
public static class RawHttp
{
    public static async Task<(int Status, Dictionary<string, string> Headers)> SendAsync(Uri root, string requestTarget, string method, IEnumerable<(string Name, string Value)> headers, byte[]? body = null)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(root.Host, root.Port, TestContext.Current.CancellationToken);
        await using var stream = tcp.GetStream();
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{method} {requestTarget} HTTP/1.1\r\nHost: {root.Authority}\r\nConnection: close\r\n");
        foreach (var (name, value) in headers)
        {
            text.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
        }

        text.Append("\r\n");
        await stream.WriteAsync(Encoding.Latin1.GetBytes(text.ToString()), TestContext.Current.CancellationToken);
        if (body is not null)
        {
            await stream.WriteAsync(body, TestContext.Current.CancellationToken);
        }

        using var reader = new StreamReader(stream, Encoding.Latin1);
        var statusLine = await reader.ReadLineAsync(TestContext.Current.CancellationToken) ?? throw new IOException("no response");
        var status = int.Parse(statusLine.Split(' ')[1], CultureInfo.InvariantCulture);
        var responseHeaders = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (var line = await reader.ReadLineAsync(TestContext.Current.CancellationToken); !string.IsNullOrEmpty(line); line = await reader.ReadLineAsync(TestContext.Current.CancellationToken))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            responseHeaders[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }

        return (status, responseHeaders);
    }
}
