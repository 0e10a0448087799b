using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Bits.Testing;

namespace Bits.Reliability.Tests;

/// <summary>The head of one HTTP/1.1 request as the proxy saw it.</summary>
public sealed class RequestHead
{
    internal RequestHead(byte[] raw)
    {
        Raw = raw;
        var text = Encoding.Latin1.GetString(raw);
        var lines = text.Split("\r\n");
        FirstLine = lines[0];
        var parts = FirstLine.Split(' ');
        Method = parts[0];
        Target = parts.Length > 1 ? parts[1] : string.Empty;
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1).Where(l => l.Length > 0))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                var name = line[..colon].Trim();
                var value = line[(colon + 1)..].Trim();
                headers[name] = headers.TryGetValue(name, out var existing) ? existing + ", " + value : value;
            }
        }

        Headers = headers;
    }

    public byte[] Raw { get; }

    /// <summary>E.g. <c>PUT /devstoreaccount1/st-1/0123/000000?comp=appendblock HTTP/1.1</c>.</summary>
    public string FirstLine { get; }

    public string Method { get; }

    /// <summary>The request target (path and query, still percent-encoded).</summary>
    public string Target { get; }

    public IReadOnlyDictionary<string, string> Headers { get; }

    public string Path => Target.Split('?')[0];

    public string Query => Target.Contains('?', StringComparison.Ordinal) ? Target[(Target.IndexOf('?', StringComparison.Ordinal) + 1)..] : string.Empty;

    public long? ContentLength =>
        Headers.TryGetValue("Content-Length", out var value) && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var length) ? length : null;

    public bool IsChunked => Headers.TryGetValue("Transfer-Encoding", out var value) && value.Contains("chunked", StringComparison.OrdinalIgnoreCase);

    public bool ExpectsContinue => Headers.TryGetValue("Expect", out var value) && value.Contains("100-continue", StringComparison.OrdinalIgnoreCase);

    /// <summary>True for <c>comp=&lt;value&gt;</c> in the query (e.g. appendblock, blocklist, block).</summary>
    public bool HasComp(string value) => Query.Split('&').Contains("comp=" + value, StringComparer.OrdinalIgnoreCase);

    /// <summary>True when the path is under <c>/devstoreaccount1/&lt;container or table&gt;</c>.</summary>
    public bool IsUnder(string containerOrTable) =>
        Path.StartsWith($"/{AzuriteProcess.AccountName}/{containerOrTable}", StringComparison.Ordinal);

    public override string ToString() => FirstLine;
}

/// <summary>What a <see cref="FaultRule"/> does to the requests it applies to.</summary>
public enum FaultKind
{
    /// <summary>Forward normally (a rule with hooks only).</summary>
    None,

    /// <summary>Wait <see cref="FaultRule.Delay"/>, then forward.</summary>
    Delay,

    /// <summary>Forward the head and <see cref="FaultRule.ResetAfterBodyBytes"/> bytes of the body, then reset both connections.</summary>
    ResetMidRequest,

    /// <summary>Answer <see cref="FaultRule.Status"/> with a storage error body; storage never sees the request.</summary>
    Respond,

    /// <summary>Forward the whole request, read storage's whole response, then reset the client connection: the write happened, the answer is lost.</summary>
    DropResponse,

    /// <summary>
    /// Read the whole request, hold it for <see cref="FaultRule.Delay"/> (and until <see cref="FaultRule.HoldUntil"/>
    /// completes), then deliver it to storage even if its sender
    /// gave up meanwhile (a request stuck in the network that arrives after the sender's timeout and retry); storage's
    /// answer goes to <see cref="FaultRule.AfterResponse"/> and the client connection is reset.
    /// </summary>
    LateDelivery,
}

/// <summary>
/// A fault for the requests whose head matches <see cref="Match"/>: the first <see cref="Skip"/> matching requests
/// pass, the next <see cref="Times"/> get the fault, later ones pass again (or, with <see cref="Applies"/>, the
/// matching requests whose 1-based ordinal it accepts). <see cref="Enabled"/> switches the rule off.
/// </summary>
public sealed class FaultRule
{
    private int _matched;
    private int _applied;

    public required Func<RequestHead, bool> Match { get; init; }

    public FaultKind Kind { get; init; }

    public int Skip { get; init; }

    public int Times { get; init; } = 1;

    /// <summary>Which matching requests (by 1-based ordinal) get the fault; overrides <see cref="Skip"/>/<see cref="Times"/>.</summary>
    public Func<int, bool>? Applies { get; init; }

    public TimeSpan Delay { get; init; }

    /// <summary>For <see cref="FaultKind.LateDelivery"/>: after <see cref="Delay"/>, also wait for this task before delivering.</summary>
    public Task? HoldUntil { get; init; }

    public long ResetAfterBodyBytes { get; init; }

    public int Status { get; init; } = 503;

    public string ErrorCode { get; init; } = "ServerBusy";

    /// <summary>Awaited before the request is forwarded (the request waits, e.g. while the test kills its sender).</summary>
    public Func<RequestHead, Task>? BeforeForward { get; init; }

    /// <summary>Awaited after storage's whole final response arrived and before it is delivered (or dropped).</summary>
    public Func<RequestHead, ResponseHead, Task>? AfterResponse { get; init; }

    public bool Enabled { get; set; } = true;

    /// <summary>Requests that matched while the rule was enabled.</summary>
    public int Matched => Volatile.Read(ref _matched);

    /// <summary>Requests the fault was applied to.</summary>
    public int Applied => Volatile.Read(ref _applied);

    internal bool TryApply(RequestHead head)
    {
        if (!Enabled || !Match(head))
        {
            return false;
        }

        var n = Interlocked.Increment(ref _matched);
        if (Applies is { } applies ? !applies(n) : n <= Skip || n - Skip > Times)
        {
            return false;
        }

        Interlocked.Increment(ref _applied);
        return true;
    }
}

/// <summary>The status line and headers of a response from storage.</summary>
public sealed class ResponseHead
{
    internal ResponseHead(byte[] raw)
    {
        Raw = raw;
        var lines = Encoding.Latin1.GetString(raw).Split("\r\n");
        var parts = lines[0].Split(' ', 3);
        Status = parts.Length > 1 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var status) ? status : 0;
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1).Where(l => l.Length > 0))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
        }

        Headers = headers;
    }

    public byte[] Raw { get; }

    public int Status { get; }

    public IReadOnlyDictionary<string, string> Headers { get; }

    public long? ContentLength =>
        Headers.TryGetValue("Content-Length", out var value) && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var length) ? length : null;

    public bool IsChunked => Headers.TryGetValue("Transfer-Encoding", out var value) && value.Contains("chunked", StringComparison.OrdinalIgnoreCase);

    public bool Closes => Headers.TryGetValue("Connection", out var value) && value.Contains("close", StringComparison.OrdinalIgnoreCase);
}

/// <summary>
/// A loopback TCP proxy in front of one Azurite service (blob or table) that understands just enough HTTP/1.1
/// (request and response heads, Content-Length and chunked bodies, 100-continue, keep-alive) to inject faults per
/// request: delays, resets in the middle of a request body, synthetic storage errors, and responses lost after the
/// write happened. Every request head it sees is recorded in <see cref="Requests"/>.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly int _upstreamPort;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<Socket, byte> _sockets = new();
    private readonly ConcurrentQueue<RequestHead> _requests = new();
    private readonly List<FaultRule> _rules = [];
    private readonly Task _accepting;

    private FaultProxy(int upstreamPort)
    {
        _upstreamPort = upstreamPort;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptAsync();
    }

    public int Port { get; }

    /// <summary>The storage service URI through this proxy (Azurite's path-style account URI).</summary>
    public Uri ServiceUri => new(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{Port}/{AzuriteProcess.AccountName}"));

    /// <summary>Every request head seen so far, in arrival order.</summary>
    public IReadOnlyCollection<RequestHead> Requests => _requests;

    public static FaultProxy Start(int upstreamPort) => new(upstreamPort);

    public FaultRule Add(FaultRule rule)
    {
        lock (_rules)
        {
            _rules.Add(rule);
        }

        return rule;
    }

    public int Count(Func<RequestHead, bool> predicate) => _requests.Count(predicate);

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener.Stop();
        foreach (var socket in _sockets.Keys)
        {
            Abort(socket);
        }

        await _accepting.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stopping.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stopping.Token);
            }
            catch (Exception) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }

            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private FaultRule? RuleFor(RequestHead head)
    {
        lock (_rules)
        {
            return _rules.FirstOrDefault(rule => rule.TryApply(head));
        }
    }

    /// <summary>One client connection, one upstream connection, requests in sequence (HTTP/1.1 keep-alive, no pipelining).</summary>
    private async Task ServeAsync(Socket clientSocket)
    {
        var token = _stopping.Token;
        var graceful = false;
        Socket? upstreamSocket = null;
        _sockets.TryAdd(clientSocket, 0);
        try
        {
            clientSocket.NoDelay = true;
            await using var clientStream = new NetworkStream(clientSocket, ownsSocket: false);
            var client = new BufferedReader(clientStream);
            NetworkStream? upstreamStream = null;
            BufferedReader? upstream = null;
            while (!token.IsCancellationRequested)
            {
                var headBytes = await client.ReadHeadAsync(token);
                if (headBytes is null)
                {
                    graceful = true;
                    return;
                }

                var head = new RequestHead(headBytes);
                _requests.Enqueue(head);
                var rule = RuleFor(head);
                if (rule?.BeforeForward is { } before)
                {
                    await before(head);
                }

                switch (rule?.Kind)
                {
                    case FaultKind.Delay:
                        await Task.Delay(rule.Delay, token);
                        break;
                    case FaultKind.Respond:
                        if (!head.ExpectsContinue)
                        {
                            await CopyBodyAsync(client, null, head.ContentLength, head.IsChunked, token);
                        }

                        await clientStream.WriteAsync(ErrorResponse(head, rule.Status, rule.ErrorCode), token);
                        graceful = true;
                        return;
                }

                if (rule?.Kind == FaultKind.LateDelivery)
                {
                    using var held = new MemoryStream();
                    if (head.ExpectsContinue)
                    {
                        await clientStream.WriteAsync("HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray(), token);
                    }

                    await CopyBodyAsync(client, held, head.ContentLength, head.IsChunked, token);
                    await Task.Delay(rule.Delay, token);
                    if (rule.HoldUntil is { } hold)
                    {
                        await hold.WaitAsync(token);
                    }

                    using var late = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    await late.ConnectAsync(IPAddress.Loopback, _upstreamPort, token);
                    await using var lateStream = new NetworkStream(late, ownsSocket: false);
                    await lateStream.WriteAsync(headBytes, token);
                    await lateStream.WriteAsync(held.ToArray(), token);
                    var (lateResponse, _) = await ForwardResponseAsync(head, new BufferedReader(lateStream), Stream.Null, buffered: true, token);
                    if (lateResponse is not null && rule.AfterResponse is { } afterLate)
                    {
                        await afterLate(head, lateResponse);
                    }

                    return; // finally: reset the client connection (its sender timed out long ago)
                }

                if (upstreamSocket is null)
                {
                    upstreamSocket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    _sockets.TryAdd(upstreamSocket, 0);
                    await upstreamSocket.ConnectAsync(IPAddress.Loopback, _upstreamPort, token);
                    upstreamStream = new NetworkStream(upstreamSocket, ownsSocket: false);
                    upstream = new BufferedReader(upstreamStream);
                }

                await upstreamStream!.WriteAsync(headBytes, token);
                if (rule?.Kind == FaultKind.ResetMidRequest)
                {
                    if (head.ExpectsContinue && rule.ResetAfterBodyBytes > 0)
                    {
                        // The client sends nothing before 100 Continue: pass storage's interim answer on first.
                        var interim = await upstream!.ReadHeadAsync(token);
                        if (interim is not null)
                        {
                            await clientStream.WriteAsync(interim, token);
                        }
                    }

                    await CopyBodyAsync(client, upstreamStream, Math.Min(rule.ResetAfterBodyBytes, head.ContentLength ?? long.MaxValue), chunked: false, token);
                    return; // finally: reset both connections
                }

                // The body goes up while the response comes down (a 100-continue client waits for the interim answer).
                var body = CopyBodyAsync(client, upstreamStream, head.ContentLength, head.IsChunked, token);
                var buffered = rule is not null && (rule.Kind == FaultKind.DropResponse || rule.AfterResponse is not null);
                var (response, content) = await ForwardResponseAsync(head, upstream!, clientStream, buffered, token);
                await body;
                if (response is null)
                {
                    return;
                }

                if (rule?.AfterResponse is { } after)
                {
                    await after(head, response);
                }

                if (rule?.Kind == FaultKind.DropResponse)
                {
                    return; // finally: reset the client connection; storage did the work
                }

                if (buffered)
                {
                    await clientStream.WriteAsync(response.Raw, token);
                    await clientStream.WriteAsync(content!, token);
                }

                if (response.Closes || (head.Headers.TryGetValue("Connection", out var connection) && connection.Contains("close", StringComparison.OrdinalIgnoreCase)))
                {
                    graceful = true;
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // One side went away (or the proxy stops): end this connection pair.
        }
        finally
        {
            if (graceful)
            {
                await CloseGracefullyAsync(clientSocket);
            }
            else
            {
                Abort(clientSocket);
            }

            if (upstreamSocket is not null)
            {
                Abort(upstreamSocket);
            }
        }
    }

    /// <summary>
    /// Forwards interim (1xx) responses at once and the final response either at once or, when
    /// <paramref name="buffered"/>, returns its body for the caller to deliver or drop.
    /// </summary>
    private static async Task<(ResponseHead? Head, byte[]? Body)> ForwardResponseAsync(RequestHead request, BufferedReader upstream, Stream client, bool buffered, CancellationToken token)
    {
        while (true)
        {
            var bytes = await upstream.ReadHeadAsync(token);
            if (bytes is null)
            {
                return (null, null);
            }

            var response = new ResponseHead(bytes);
            if (response.Status is >= 100 and < 200)
            {
                await client.WriteAsync(bytes, token);
                continue;
            }

            var noBody = request.Method == "HEAD" || response.Status is 204 or 304;
            long? length = noBody ? 0 : response.ContentLength;
            var untilClose = !noBody && length is null && !response.IsChunked;
            if (buffered)
            {
                using var body = new MemoryStream();
                await CopyBodyAsync(upstream, body, untilClose ? long.MaxValue : length, response.IsChunked, allowEof: untilClose, token);
                return (response, body.ToArray());
            }

            await client.WriteAsync(bytes, token);
            await CopyBodyAsync(upstream, client, untilClose ? long.MaxValue : length, response.IsChunked, allowEof: untilClose, token);
            return (response, null);
        }
    }

    /// <summary>Copies one message body (to nowhere when <paramref name="target"/> is null).</summary>
    private static async Task CopyBodyAsync(BufferedReader source, Stream? target, long? length, bool chunked, CancellationToken token)
        => await CopyBodyAsync(source, target, length, chunked, allowEof: false, token);

    private static async Task CopyBodyAsync(BufferedReader source, Stream? target, long? length, bool chunked, bool allowEof, CancellationToken token)
    {
        if (chunked)
        {
            while (true)
            {
                var sizeLine = await source.ReadLineAsync(token);
                await WriteLineAsync(target, sizeLine, token);
                var size = long.Parse(sizeLine.Split(';')[0].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (size == 0)
                {
                    // Trailers up to the empty line.
                    for (var line = await source.ReadLineAsync(token); ; line = await source.ReadLineAsync(token))
                    {
                        await WriteLineAsync(target, line, token);
                        if (line.Length == 0)
                        {
                            return;
                        }
                    }
                }

                await CopyExactlyAsync(source, target, size, allowEof: false, token);
                await WriteLineAsync(target, await source.ReadLineAsync(token), token);
            }
        }

        if (length is > 0 and { } count)
        {
            await CopyExactlyAsync(source, target, count, allowEof, token);
        }
    }

    private static async Task CopyExactlyAsync(BufferedReader source, Stream? target, long count, bool allowEof, CancellationToken token)
    {
        var buffer = new byte[81920];
        while (count > 0)
        {
            var read = await source.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, count)), token);
            if (read == 0)
            {
                if (allowEof)
                {
                    return;
                }

                throw new IOException("The connection closed in the middle of a body.");
            }

            if (target is not null)
            {
                await target.WriteAsync(buffer.AsMemory(0, read), token);
            }

            count -= read;
        }
    }

    private static async Task WriteLineAsync(Stream? target, string line, CancellationToken token)
    {
        if (target is not null)
        {
            await target.WriteAsync(Encoding.Latin1.GetBytes(line + "\r\n"), token);
        }
    }

    /// <summary>A storage error response: XML for blob requests, JSON for table requests (by the Accept header).</summary>
    private static byte[] ErrorResponse(RequestHead head, int status, string errorCode)
    {
        var json = head.Headers.TryGetValue("Accept", out var accept) && accept.Contains("json", StringComparison.OrdinalIgnoreCase);
        var body = json
            ? $"{{\"odata.error\":{{\"code\":\"{errorCode}\",\"message\":{{\"lang\":\"en-US\",\"value\":\"Injected by FaultProxy.\"}}}}}}"
            : $"<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{errorCode}</Code><Message>Injected by FaultProxy.</Message></Error>";
        var bytes = Encoding.UTF8.GetBytes(body);
        var text = string.Create(
            CultureInfo.InvariantCulture,
            $"HTTP/1.1 {status} Injected\r\nContent-Type: {(json ? "application/json;odata=minimalmetadata" : "application/xml")}\r\n" +
            $"x-ms-error-code: {errorCode}\r\nx-ms-request-id: {Guid.NewGuid()}\r\nContent-Length: {bytes.Length}\r\nConnection: close\r\n\r\n");
        return [.. Encoding.Latin1.GetBytes(text), .. bytes];
    }

    /// <summary>Sends FIN after everything written, waits (briefly) for the peer to close, then closes: nothing written is lost.</summary>
    private async Task CloseGracefullyAsync(Socket socket)
    {
        try
        {
            socket.Shutdown(SocketShutdown.Send);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            var sink = new byte[4096];
            while (await socket.ReceiveAsync(sink, SocketFlags.None, timeout.Token) > 0)
            {
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The peer reset or did not close in time: close anyway.
        }

        _sockets.TryRemove(socket, out _);
        socket.Dispose();
    }

    /// <summary>Closes with RST (linger 0), so the peer sees a reset rather than an orderly end.</summary>
    private void Abort(Socket socket)
    {
        _sockets.TryRemove(socket, out _);
        try
        {
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already closed.
        }
    }

    /// <summary>A read buffer over a stream: HTTP heads and lines, then raw bytes.</summary>
    private sealed class BufferedReader(Stream stream)
    {
        private byte[] _buffer = new byte[16 * 1024];
        private int _start;
        private int _end;

        /// <summary>Bytes up to and including the empty line; null when the stream ends before any byte of a head.</summary>
        public async Task<byte[]?> ReadHeadAsync(CancellationToken token)
        {
            var scanned = 0;
            while (true)
            {
                var span = _buffer.AsSpan(_start, _end - _start);
                var index = span[Math.Max(0, scanned - 3)..].IndexOf("\r\n\r\n"u8);
                if (index >= 0)
                {
                    var length = Math.Max(0, scanned - 3) + index + 4;
                    var head = span[..length].ToArray();
                    _start += length;
                    return head;
                }

                scanned = span.Length;
                if (!await FillAsync(token))
                {
                    if (_end == _start)
                    {
                        return null;
                    }

                    throw new IOException("The connection closed in the middle of a head.");
                }
            }
        }

        public async Task<string> ReadLineAsync(CancellationToken token)
        {
            var scanned = 0;
            while (true)
            {
                var span = _buffer.AsSpan(_start, _end - _start);
                var index = span[Math.Max(0, scanned - 1)..].IndexOf("\r\n"u8);
                if (index >= 0)
                {
                    var length = Math.Max(0, scanned - 1) + index;
                    var line = Encoding.Latin1.GetString(span[..length]);
                    _start += length + 2;
                    return line;
                }

                scanned = span.Length;
                if (!await FillAsync(token))
                {
                    throw new IOException("The connection closed in the middle of a line.");
                }
            }
        }

        public async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken token)
        {
            if (_end > _start)
            {
                var count = Math.Min(destination.Length, _end - _start);
                _buffer.AsMemory(_start, count).CopyTo(destination);
                _start += count;
                return count;
            }

            return await stream.ReadAsync(destination, token);
        }

        private async Task<bool> FillAsync(CancellationToken token)
        {
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            if (_end == _buffer.Length)
            {
                Array.Resize(ref _buffer, _buffer.Length * 2);
            }

            var read = await stream.ReadAsync(_buffer.AsMemory(_end), token);
            _end += read;
            return read > 0;
        }
    }
}
