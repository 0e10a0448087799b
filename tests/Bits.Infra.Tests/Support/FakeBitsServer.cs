using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Bits.Infra.Tests.Support;

internal enum FakeBitsBehavior
{
    /// <summary>Answers like the BITS server per the protocol digest (§2).</summary>
    Conformant,

    /// <summary>A front end that does not know BITS_POST: 405, no BITS headers.</summary>
    RejectsVerb,

    /// <summary>Create-Session fails with 500 + E_ACCESSDENIED, context 0x5.</summary>
    CreateSessionFails,

    /// <summary>Fragments are acknowledged with a wrong BITS-Received-Content-Range.</summary>
    MiscountsFragments,
}

internal sealed record RecordedRequest(string Method, string Target, string Version, IReadOnlyDictionary<string, string> Headers, byte[] Body)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;
}

/// <summary>A minimal HTTP/1.1 server on loopback that speaks just enough BITS for infra/smoke.sh. One request per
/// connection (it answers with Connection: close), so it needs no keep-alive or chunked handling.</summary>
internal sealed class FakeBitsServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly FakeBitsBehavior _behavior;
    private readonly Task _acceptLoop;
    private long _received;

    public FakeBitsServer(FakeBitsBehavior behavior)
    {
        _behavior = behavior;
        _listener.Start();
        _acceptLoop = AcceptLoopAsync();
    }

    public string SessionId { get; } = "{" + Guid.NewGuid().ToString().ToUpperInvariant() + "}";

    public ConcurrentQueue<RecordedRequest> Requests { get; } = new();

    public string BaseUrl => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/uploads/";

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _acceptLoop;
        }
        catch (OperationCanceledException)
        {
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }

        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            using var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            try
            {
                await HandleAsync(client.GetStream(), _stop.Token);
            }
            catch (IOException)
            {
                // The client went away mid-request; the script reports that itself. Keep serving.
            }
        }
    }

    private async Task HandleAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var buffer = new List<byte>();
        var chunk = new byte[8192];
        int headerEnd;
        while ((headerEnd = IndexOfHeaderEnd(buffer)) < 0)
        {
            var read = await stream.ReadAsync(chunk, cancellationToken);
            if (read == 0)
            {
                return;
            }

            buffer.AddRange(chunk.AsSpan(0, read));
        }

        var head = Encoding.ASCII.GetString([.. buffer.Take(headerEnd)]).Split("\r\n");
        var requestLine = head[0].Split(' ');
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in head.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }

        var length = headers.TryGetValue("Content-Length", out var cl) ? int.Parse(cl, CultureInfo.InvariantCulture) : 0;
        var body = buffer.Skip(headerEnd + 4).ToList();
        while (body.Count < length)
        {
            var read = await stream.ReadAsync(chunk, cancellationToken);
            if (read == 0)
            {
                break;
            }

            body.AddRange(chunk.AsSpan(0, read));
        }

        var request = new RecordedRequest(requestLine[0], requestLine[1], requestLine[2], headers, [.. body]);
        Requests.Enqueue(request);
        var (status, responseHeaders) = Respond(request);

        var response = new StringBuilder();
        response.Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {status} {(status == 200 ? "OK" : "Error")}\r\n");
        foreach (var (name, value) in responseHeaders)
        {
            response.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
        }

        response.Append("Content-Length: 0\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(response.ToString()), cancellationToken);
    }

    private (int Status, List<(string, string)> Headers) Respond(RecordedRequest request)
    {
        if (_behavior == FakeBitsBehavior.RejectsVerb || request.Method != "BITS_POST")
        {
            return (405, [("Allow", "GET, POST")]);
        }

        var ack = new List<(string, string)> { ("BITS-Packet-Type", "Ack") };
        switch (request.Header("BITS-Packet-Type")?.ToUpperInvariant())
        {
            case "PING":
                return (200, ack);
            case "CREATE-SESSION" when _behavior == FakeBitsBehavior.CreateSessionFails:
                return (500, [("BITS-Packet-Type", "Ack"), ("BITS-Error-Code", "0x80070005"), ("BITS-Error-Context", "0x5")]);
            case "CREATE-SESSION":
                ack.Add(("BITS-Protocol", "{7df0354d-249b-430f-820d-3d2a9bef4931}"));
                ack.Add(("BITS-Session-Id", SessionId));
                ack.Add(("Accept-Encoding", "identity"));
                return (200, ack);
            case "FRAGMENT":
                _received += request.Body.Length;
                ack.Add(("BITS-Session-Id", SessionId));
                ack.Add(("BITS-Received-Content-Range", (_behavior == FakeBitsBehavior.MiscountsFragments ? _received - 1 : _received).ToString(CultureInfo.InvariantCulture)));
                return (200, ack);
            case "CLOSE-SESSION":
            case "CANCEL-SESSION":
                ack.Add(("BITS-Session-Id", SessionId));
                return (200, ack);
            default:
                return (400, [("BITS-Packet-Type", "Ack"), ("BITS-Error-Code", "0x80070057"), ("BITS-Error-Context", "0x5")]);
        }
    }

    private static int IndexOfHeaderEnd(List<byte> buffer)
    {
        for (var i = 0; i + 3 < buffer.Count; i++)
        {
            if (buffer[i] == '\r' && buffer[i + 1] == '\n' && buffer[i + 2] == '\r' && buffer[i + 3] == '\n')
            {
                return i;
            }
        }

        return -1;
    }
}
