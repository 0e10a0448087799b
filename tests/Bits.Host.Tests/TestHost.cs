using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Bits.Testing;
using Microsoft.AspNetCore.Builder;

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

    /// <summary>Blobs holding staged data: the staging container's (upload-reply sessions), plus destinations that
    /// have only uncommitted blocks (the load tool's count, <see cref="Bits.Load.StorageNames.StagedBlobCountAsync"/>).</summary>
    public Task<int> StagedBlobCountAsync() =>
        new Bits.Load.StorageNames(ConnectionString, UploadContainer, StagingContainer, SessionTable).StagedBlobCountAsync(TestContext.Current.CancellationToken);

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

/// <summary>The real Kestrel host (<see cref="BitsHostApp"/>) on a free loopback port (started by <see cref="Bits.Load.InProcessHost"/>).</summary>
public sealed class TestHost : IAsyncDisposable
{
    private readonly Bits.Load.InProcessHost _host;

    private TestHost(Bits.Load.InProcessHost host)
    {
        _host = host;
        UploadBase = new Uri(host.Root, "uploads/");
    }

    public Uri Root => _host.Root;

    public Uri UploadBase { get; }

    public IServiceProvider Services => _host.Services;

    public static async Task<TestHost> StartAsync(StorageNames storage, IDictionary<string, string?>? settings = null, Action<WebApplicationBuilder>? configure = null)
    {
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

        return new TestHost(await Bits.Load.InProcessHost.StartAsync(values, configure, TestContext.Current.CancellationToken));
    }

    public Uri Url(string path) => new(UploadBase, path);

    public ValueTask DisposeAsync() => _host.DisposeAsync();
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
