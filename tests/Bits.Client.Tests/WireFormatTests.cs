using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Bits.Client.Tests;

/// <summary>Checks the bytes on the wire through a real SocketsHttpHandler against a raw loopback socket server.</summary>
public class WireFormatTests
{
    [Fact]
    public async Task UploadAsync_OnTheWire_UsesBitsPostHttp11AndExplicitContentLength()
    {
        var ct = TestContext.Current.CancellationToken;
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var heads = new List<string>();
        var bodies = new List<byte[]>();
        var serverTask = ServeAsync(listener, heads, bodies, ct);

        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false });
        var options = new BitsClientOptions { RetryDelay = TimeSpan.Zero, MinFragmentBytes = 10, InitialFragmentBytes = 3000 };
        options.CustomHeaders["x-functions-key"] = "k";
        var client = new BitsUploadClient(http, options);
        var data = new byte[5000];
        new Random(1).NextBytes(data);

        var result = await client.UploadAsync(new Uri($"http://127.0.0.1:{port}/upload/a%20b.bin?code=xyz"), new MemoryStream(data), "a b.bin", ct: ct);
        http.Dispose(); // closes the keep-alive connection so the server loop ends
        listener.Stop();
        await serverTask;

        Assert.Equal(5000, result.Bytes);
        Assert.Equal(5, heads.Count);
        Assert.All(heads, h =>
        {
            Assert.StartsWith("BITS_POST /upload/a%20b.bin?code=xyz HTTP/1.1\r\n", h, StringComparison.Ordinal);
            Assert.Contains("\r\nx-functions-key: k\r\n", h, StringComparison.Ordinal);
            Assert.Contains("\r\nUser-Agent: BitsFunctions.Client/1.0\r\n", h, StringComparison.Ordinal);
            Assert.DoesNotContain("Transfer-Encoding", h, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("Expect:", h, StringComparison.OrdinalIgnoreCase);
        });
        Assert.Contains("\r\nBITS-Packet-Type: Ping\r\n", heads[0], StringComparison.Ordinal);
        Assert.Contains("\r\nContent-Length: 0\r\n", heads[0], StringComparison.Ordinal);
        Assert.Contains("\r\nBITS-Supported-Protocols: {7df0354d-249b-430f-820d-3d2a9bef4931}\r\n", heads[1], StringComparison.Ordinal);
        Assert.Contains("\r\nContent-Length: 0\r\n", heads[1], StringComparison.Ordinal);
        Assert.Contains("\r\nContent-Name: a b.bin\r\n", heads[1], StringComparison.Ordinal);
        Assert.Contains("\r\nContent-Range: bytes 0-2999/5000\r\n", heads[2], StringComparison.Ordinal);
        Assert.Contains("\r\nContent-Length: 3000\r\n", heads[2], StringComparison.Ordinal);
        Assert.Contains("\r\nBITS-Session-Id: {A0FF5911-4144-45B3-BF27-27AFC8EC8A67}\r\n", heads[2], StringComparison.Ordinal);
        Assert.Contains("\r\nContent-Range: bytes 3000-4999/5000\r\n", heads[3], StringComparison.Ordinal);
        Assert.Contains("\r\nBITS-Packet-Type: Close-Session\r\n", heads[4], StringComparison.Ordinal);
        Assert.Contains("\r\nContent-Length: 0\r\n", heads[4], StringComparison.Ordinal);
        Assert.Equal(data, bodies[2].Concat(bodies[3]).ToArray());
    }

    [Fact]
    public async Task ZeroLengthUpload_OnTheWire_SendsStarRangeAndContentLengthZero()
    {
        var ct = TestContext.Current.CancellationToken;
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var heads = new List<string>();
        var serverTask = ServeAsync(listener, heads, [], ct);

        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false });
        var client = new BitsUploadClient(http, new BitsClientOptions { RetryDelay = TimeSpan.Zero });

        await client.UploadAsync(new Uri($"http://127.0.0.1:{port}/upload/empty.bin"), new MemoryStream(), ct: ct);
        http.Dispose(); // closes the keep-alive connection so the server loop ends
        listener.Stop();
        await serverTask;

        Assert.Contains("\r\nBITS-Packet-Type: Fragment\r\n", heads[2], StringComparison.Ordinal);
        Assert.Contains("\r\nContent-Range: bytes */0\r\n", heads[2], StringComparison.Ordinal);
        Assert.Contains("\r\nContent-Length: 0\r\n", heads[2], StringComparison.Ordinal);
    }

    /// <summary>Serves keep-alive connections until the listener stops; answers like IIS did in the MC-BUP capture.</summary>
    private static async Task ServeAsync(TcpListener listener, List<string> heads, List<byte[]> bodies, CancellationToken ct)
    {
        while (true)
        {
            TcpClient tcp;
            try
            {
                tcp = await listener.AcceptTcpClientAsync(ct);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            using (tcp)
            {
                var stream = tcp.GetStream();
                while (await ReadHeadAsync(stream, ct) is { } head)
                {
                    heads.Add(head);
                    var length = 0;
                    string? packet = null;
                    string? range = null;
                    foreach (var line in head.Split("\r\n"))
                    {
                        if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                        {
                            length = int.Parse(line["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
                        }
                        else if (line.StartsWith("BITS-Packet-Type:", StringComparison.OrdinalIgnoreCase))
                        {
                            packet = line["BITS-Packet-Type:".Length..].Trim();
                        }
                        else if (line.StartsWith("Content-Range:", StringComparison.OrdinalIgnoreCase))
                        {
                            range = line["Content-Range:".Length..].Trim();
                        }
                    }

                    var body = new byte[length];
                    await stream.ReadExactlyAsync(body, ct);
                    bodies.Add(body);

                    var extra = packet switch
                    {
                        "Create-Session" => "BITS-Protocol: {7df0354d-249b-430f-820d-3d2a9bef4931}\r\nBITS-Session-Id: {A0FF5911-4144-45B3-BF27-27AFC8EC8A67}\r\n",
                        "Fragment" => $"BITS-Received-Content-Range: {EndOf(range)}\r\n",
                        _ => string.Empty,
                    };
                    var response = $"HTTP/1.1 200 OK\r\nBITS-Packet-Type: Ack\r\n{extra}Content-Length: 0\r\n\r\n";
                    await stream.WriteAsync(Encoding.ASCII.GetBytes(response), ct);
                }
            }
        }
    }

    private static long EndOf(string? range)
    {
        if (range is null || range.EndsWith("*/0", StringComparison.Ordinal))
        {
            return 0;
        }

        var dash = range.IndexOf('-', StringComparison.Ordinal);
        var slash = range.IndexOf('/', StringComparison.Ordinal);
        return long.Parse(range[(dash + 1)..slash], System.Globalization.CultureInfo.InvariantCulture) + 1;
    }

    private static async Task<string?> ReadHeadAsync(NetworkStream stream, CancellationToken ct)
    {
        var bytes = new List<byte>();
        var one = new byte[1];
        while (true)
        {
            var read = await stream.ReadAsync(one, ct);
            if (read == 0)
            {
                return null;
            }

            bytes.Add(one[0]);
            if (bytes.Count >= 4 && bytes[^4] == '\r' && bytes[^3] == '\n' && bytes[^2] == '\r' && bytes[^1] == '\n')
            {
                return Encoding.ASCII.GetString([.. bytes]);
            }
        }
    }
}
