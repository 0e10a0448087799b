using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Bits.Testing;
using Microsoft.AspNetCore.Builder;

[assembly: AssemblyFixture(typeof(AzuriteFixture))]

namespace Bits.Host.Tests;

/// <summary>The real Kestrel host (<see cref="BitsHostApp"/>) on a free loopback port (started by <see cref="InProcessHost"/>), with its default janitor.</summary>
public sealed class TestHost : IAsyncDisposable
{
    private readonly InProcessHost _host;

    private TestHost(InProcessHost host)
    {
        _host = host;
        UploadBase = new Uri(host.Root, "uploads/");
    }

    public Uri Root => _host.Root;

    public Uri UploadBase { get; }

    public IServiceProvider Services => _host.Services;

    public static async Task<TestHost> StartAsync(StorageNames storage, IDictionary<string, string?>? settings = null, Action<WebApplicationBuilder>? configure = null) =>
        new(await InProcessHost.StartAsync(storage.Settings(settings), configure, TestContext.Current.CancellationToken));

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
