using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Bits.Client;

/// <summary>
/// A BITS upload client that behaves like the Windows BITS client for upload jobs: Ping, Create-Session, fragments
/// that resync to the server's <c>BITS-Received-Content-Range</c>, 413 shrinking, transient retries, restart on
/// BG_E_SESSION_NOT_FOUND, Close-Session. The single-packet methods send exactly one request and return the Ack
/// whatever its status (no retries, no validation) so tests can probe a server.
/// </summary>
public sealed partial class BitsUploadClient
{
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(30);

    private readonly HttpClient _http;
    private readonly BitsClientOptions _options;
    private readonly ILogger _logger;

    public BitsUploadClient(HttpClient httpClient, BitsClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        _http = httpClient;
        _options = options ?? new BitsClientOptions();
        _logger = _options.Logger ?? NullLogger.Instance;
    }

    public BitsClientOptions Options => _options;

    /// <summary>Sends one Ping packet.</summary>
    public Task<BitsAck> PingAsync(Uri url, CancellationToken ct = default)
        => SendOnceAsync(CreateRequest(url, BitsWire.Ping, sessionId: null, contentName: null), ct);

    /// <summary>Sends one Create-Session packet offering the BITS 1.5 upload protocol.</summary>
    public Task<BitsAck> CreateSessionAsync(Uri url, string? contentName = null, CancellationToken ct = default)
        => SendOnceAsync(CreateSessionRequest(url, contentName), ct);

    /// <summary>
    /// Sends one Fragment carrying <paramref name="data"/> as bytes [first, first + data.Length) of a file of
    /// <paramref name="totalLength"/> bytes. Empty data with a total of 0 is sent as <c>Content-Range: bytes */0</c>.
    /// </summary>
    public Task<BitsAck> SendFragmentAsync(Uri url, string sessionId, ReadOnlyMemory<byte> data, long first, long totalLength, string? contentName = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(sessionId);
        if (data.IsEmpty)
        {
            if (totalLength != 0)
            {
                throw new ArgumentException("An empty fragment can only describe a zero-length file.", nameof(data));
            }
        }
        else
        {
            ArgumentOutOfRangeException.ThrowIfNegative(first);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(first + data.Length, totalLength, nameof(totalLength));
        }

        return SendOnceAsync(CreateFragmentRequest(url, sessionId, data, first, totalLength, contentName), ct);
    }

    /// <summary>Sends one Fragment with a verbatim <c>Content-Range</c> value (for probing a server with odd ranges).</summary>
    public Task<BitsAck> SendFragmentAsync(Uri url, string sessionId, ReadOnlyMemory<byte> data, string contentRange, string? contentName = null, CancellationToken ct = default)
    {
        var content = new ReadOnlyMemoryContent(data);
        content.Headers.ContentLength = data.Length;
        content.Headers.TryAddWithoutValidation("Content-Range", contentRange);
        return SendOnceAsync(CreateRequest(url, BitsWire.Fragment, sessionId, contentName, content), ct);
    }

    /// <summary>Sends one Close-Session packet.</summary>
    public Task<BitsAck> CloseSessionAsync(Uri url, string sessionId, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(sessionId);
        return SendOnceAsync(CreateRequest(url, BitsWire.CloseSession, sessionId, contentName: null), ct);
    }

    /// <summary>Sends one Cancel-Session packet.</summary>
    public Task<BitsAck> CancelSessionAsync(Uri url, string sessionId, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(sessionId);
        return SendOnceAsync(CreateRequest(url, BitsWire.CancelSession, sessionId, contentName: null), ct);
    }

    /// <summary>
    /// Uploads the whole <paramref name="source"/> (seekable; re-read from any offset) like a Windows upload job and
    /// closes the session. On failure or cancellation no Cancel-Session is sent, so the session can be resumed;
    /// <see cref="BitsUploadException.SessionId"/> names it. <paramref name="progress"/> receives acknowledged offsets.
    /// </summary>
    public Task<BitsUploadResult> UploadAsync(Uri url, Stream source, string? contentName = null, IProgress<long>? progress = null, CancellationToken ct = default)
        => RunAsync(url, resumeSessionId: null, source, contentName, progress, ct);

    /// <summary>
    /// Continues an existing session: Ping, then a small fragment from offset 0 whose Ack tells the server's offset
    /// (a duplicate or overlap, answered 200/416 with <c>BITS-Received-Content-Range</c>), then the rest as
    /// <see cref="UploadAsync"/>. A session the server no longer knows is started over as a new session.
    /// </summary>
    public Task<BitsUploadResult> ResumeAsync(Uri url, string sessionId, Stream source, string? contentName = null, IProgress<long>? progress = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(sessionId);
        return RunAsync(url, sessionId, source, contentName, progress, ct);
    }

    private async Task<BitsUploadResult> RunAsync(Uri url, string? resumeSessionId, Stream source, string? contentName, IProgress<long>? progress, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(url);
        ArgumentNullException.ThrowIfNull(source);
        if (!source.CanSeek || !source.CanRead)
        {
            throw new ArgumentException("The source must be readable and seekable (it is re-read from any offset).", nameof(source));
        }

        ValidateOptions(_options);
        var run = new UploadRun(this, url, source, contentName, progress, ct);
        return await run.ExecuteAsync(resumeSessionId);
    }

    private static void ValidateOptions(BitsClientOptions o)
    {
        if (o.MinFragmentBytes < 1 || o.MaxFragmentBytes < o.MinFragmentBytes || o.MaxFragmentBytes > Array.MaxLength)
        {
            throw new ArgumentException("Fragment sizes must satisfy 1 <= MinFragmentBytes <= MaxFragmentBytes <= Array.MaxLength.");
        }

        if (o.MaxTransientRetries < 0 || o.MaxSessionRestarts < 0 || o.MaxFragmentsWithoutProgress < 0)
        {
            throw new ArgumentException("Retry and restart limits must not be negative.");
        }
    }

    private async Task<BitsAck> SendOnceAsync(HttpRequestMessage request, CancellationToken ct)
    {
        using (request)
        {
            using var response = await _http.SendAsync(request, ct);
            return BitsAck.FromResponse(response);
        }
    }

    private HttpRequestMessage CreateSessionRequest(Uri url, string? contentName)
    {
        var request = CreateRequest(url, BitsWire.CreateSession, sessionId: null, contentName);
        request.Headers.TryAddWithoutValidation(BitsWire.SupportedProtocolsHeader, BitsWire.ProtocolGuid);
        return request;
    }

    private HttpRequestMessage CreateFragmentRequest(Uri url, string sessionId, ReadOnlyMemory<byte> data, long first, long total, string? contentName)
    {
        var content = new ReadOnlyMemoryContent(data);
        content.Headers.ContentLength = data.Length;
        content.Headers.ContentRange = data.IsEmpty
            ? new ContentRangeHeaderValue(total)
            : new ContentRangeHeaderValue(first, first + data.Length - 1, total);
        return CreateRequest(url, BitsWire.Fragment, sessionId, contentName, content);
    }

    private HttpRequestMessage CreateRequest(Uri url, string packetType, string? sessionId, string? contentName, HttpContent? content = null)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (content is null)
        {
            // An explicit Content-Length: 0 on every non-fragment packet (BITS servers answer 400/411 without it).
            content = new ByteArrayContent([]);
            content.Headers.ContentLength = 0;
        }

        var request = new HttpRequestMessage(BitsWire.HttpMethod, url)
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        var headers = request.Headers;
        headers.TryAddWithoutValidation("Accept", "*/*");
        headers.TryAddWithoutValidation(BitsWire.PacketTypeHeader, packetType);
        if (sessionId is not null)
        {
            headers.TryAddWithoutValidation(BitsWire.SessionIdHeader, sessionId);
        }

        if (!string.IsNullOrEmpty(contentName))
        {
            headers.TryAddWithoutValidation(BitsWire.ContentNameHeader, ToHeaderValue(contentName));
        }

        if (!_options.CustomHeaders.Keys.Any(k => string.Equals(k, "User-Agent", StringComparison.OrdinalIgnoreCase)))
        {
            headers.TryAddWithoutValidation("User-Agent", BitsWire.UserAgent);
        }

        foreach (var (name, value) in _options.CustomHeaders)
        {
            if (string.Equals(name, "Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                continue; // always computed from the body
            }

            if (headers.NonValidated.Contains(name))
            {
                headers.Remove(name);
            }

            if (!headers.TryAddWithoutValidation(name, value))
            {
                content.Headers.Remove(name);
                content.Headers.TryAddWithoutValidation(name, value);
            }
        }

        return request;
    }

    /// <summary>Header values must be printable ASCII: other characters (e.g. in file names) are percent-encoded as UTF-8.</summary>
    internal static string ToHeaderValue(string value)
    {
        if (value.All(c => c is >= ' ' and < (char)0x7F))
        {
            return value;
        }

        var builder = new StringBuilder(value.Length + 16);
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in value.EnumerateRunes())
        {
            if (rune.Value is >= 0x20 and < 0x7F)
            {
                builder.Append((char)rune.Value);
                continue;
            }

            var count = rune.EncodeToUtf8(utf8);
            for (var i = 0; i < count; i++)
            {
                builder.Append('%').Append(utf8[i].ToString("X2", CultureInfo.InvariantCulture));
            }
        }

        return builder.ToString();
    }

    internal static bool IsTransient(BitsAck ack)
    {
        if (ack.ErrorCode is BitsErrorCodes.BG_E_SESSION_NOT_FOUND or BitsErrorCodes.BG_E_TOO_LARGE)
        {
            return false;
        }

        var status = ack.StatusCode;
        return status switch
        {
            >= 300 and < 400 => status is not ((>= 300 and <= 305) or 307),
            408 or 409 => true,
            >= 500 and < 600 => status is not (501 or 505),
            _ => false,
        };
    }

    internal static bool IsTransient(Exception exception)
        => exception is HttpRequestException or IOException or OperationCanceledException or TimeoutException;

    internal static TimeSpan RetryDelayFor(TimeSpan baseDelay, int consecutiveFailures)
    {
        if (baseDelay <= TimeSpan.Zero)
        {
            return TimeSpan.Zero;
        }

        var cap = baseDelay > MaxRetryDelay ? baseDelay : MaxRetryDelay;
        var factor = Math.Pow(2, Math.Clamp(consecutiveFailures - 1, 0, 20));
        var ms = Math.Min(baseDelay.TotalMilliseconds * factor, cap.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(ms);
    }

    private enum TransferOutcome
    {
        Completed,
        SessionNotFound,
    }

    /// <summary>The state of one UploadAsync/ResumeAsync call.</summary>
    private sealed class UploadRun(BitsUploadClient client, Uri url, Stream source, string? contentName, IProgress<long>? progress, CancellationToken ct)
    {
        private readonly BitsClientOptions _options = client._options;
        private readonly long _total = source.Length;
        private byte[] _buffer = [];
        private string? _sessionId;
        private long _offset;
        private long _fragmentSize;
        private int _fragmentsSent;
        private int _retransmits;
        private int _restarts;
        private int _transientRetries;
        private string? _replyUrl;

        public async Task<BitsUploadResult> ExecuteAsync(string? resumeSessionId)
        {
            _fragmentSize = Math.Clamp(_options.InitialFragmentBytes, _options.MinFragmentBytes, _options.MaxFragmentBytes);
            _sessionId = resumeSessionId;

            var ping = await SendAsync(BitsWire.Ping, () => client.CreateRequest(url, BitsWire.Ping, null, null));
            if (!ping.IsSuccess)
            {
                throw Fatal(BitsWire.Ping, "Ping was refused", ping);
            }

            var probe = resumeSessionId is not null;
            if (!probe)
            {
                await CreateSessionAsync();
            }

            while (await TransferAsync(probe) == TransferOutcome.SessionNotFound)
            {
                _restarts++;
                if (_restarts > _options.MaxSessionRestarts)
                {
                    throw new BitsUploadException(
                        string.Create(CultureInfo.InvariantCulture, $"The server lost the upload session {_restarts} times (BG_E_SESSION_NOT_FOUND); giving up after {_options.MaxSessionRestarts} restarts."),
                        500,
                        BitsErrorCodes.BG_E_SESSION_NOT_FOUND,
                        null)
                    { PacketType = BitsWire.Fragment, SessionId = _sessionId, BytesAcknowledged = _offset };
                }

                Log.SessionRestart(client._logger, _sessionId, _restarts);
                probe = false;
                await CreateSessionAsync();
            }

            if (_options.BeforeClose is { } beforeClose)
            {
                await beforeClose(new BitsBeforeCloseContext(url, _sessionId!, _total, _replyUrl), ct);
            }

            var close = await SendAsync(BitsWire.CloseSession, () => client.CreateRequest(url, BitsWire.CloseSession, _sessionId, null));
            if (!close.IsSuccess)
            {
                var what = close.ErrorCode == BitsErrorCodes.BG_E_SESSION_NOT_FOUND
                    ? "Close-Session failed after all bytes were acknowledged: the server no longer knows the session, so the upload may not have been published"
                    : "Close-Session was rejected";
                throw Fatal(BitsWire.CloseSession, what, close);
            }

            Log.Completed(client._logger, _sessionId!, _total, _fragmentsSent, _retransmits);
            return new BitsUploadResult
            {
                SessionId = _sessionId!,
                Bytes = _total,
                FragmentsSent = _fragmentsSent,
                Retransmits = _retransmits,
                SessionRestarts = _restarts,
                TransientRetries = _transientRetries,
                FinalFragmentBytes = _fragmentSize,
                ReplyUrl = _replyUrl,
            };
        }

        private async Task CreateSessionAsync()
        {
            _sessionId = null;
            _offset = 0;
            _replyUrl = null;
            var ack = await SendAsync(BitsWire.CreateSession, () => client.CreateSessionRequest(url, contentName));
            if (!ack.IsSuccess)
            {
                throw Fatal(BitsWire.CreateSession, "Create-Session was rejected", ack);
            }

            if (string.IsNullOrWhiteSpace(ack.SessionId))
            {
                throw Invalid(BitsWire.CreateSession, "the Create-Session Ack carries no BITS-Session-Id", ack);
            }

            if (string.IsNullOrWhiteSpace(ack.Protocol))
            {
                throw Invalid(BitsWire.CreateSession, "the Create-Session Ack carries no BITS-Protocol", ack);
            }

            if (!IsUploadProtocol(ack.Protocol))
            {
                throw new BitsUploadException(
                    $"The server chose protocol '{ack.Protocol}', which this client does not offer (only {BitsWire.ProtocolGuid}). {BitsErrorCodes.Describe(BitsErrorCodes.BG_E_CLIENT_SERVER_PROTOCOL_MISMATCH)}",
                    ack.StatusCode,
                    BitsErrorCodes.BG_E_CLIENT_SERVER_PROTOCOL_MISMATCH,
                    null)
                { PacketType = BitsWire.CreateSession, Ack = ack };
            }

            _sessionId = ack.SessionId;
            Log.SessionCreated(client._logger, _sessionId, url);
            if (_options.SessionCreated is { } sessionCreated)
            {
                await sessionCreated(_sessionId, ct);
            }
        }

        private static bool IsUploadProtocol(string protocol)
            => Guid.TryParse(protocol.Trim(), out var chosen) && Guid.TryParse(BitsWire.ProtocolGuid, out var ours)
                ? chosen == ours
                : string.Equals(protocol.Trim(), BitsWire.ProtocolGuid, StringComparison.OrdinalIgnoreCase);

        private async Task<TransferOutcome> TransferAsync(bool probe)
        {
            var sessionId = _sessionId!;
            if (_total == 0)
            {
                var ack = await SendAsync(BitsWire.Fragment, () => client.CreateFragmentRequest(url, sessionId, ReadOnlyMemory<byte>.Empty, 0, 0, contentName));
                if (ack.ErrorCode == BitsErrorCodes.BG_E_SESSION_NOT_FOUND)
                {
                    return TransferOutcome.SessionNotFound;
                }

                if (ack.StatusCode is not (200 or 201 or 416))
                {
                    throw Fatal(BitsWire.Fragment, "The empty fragment (Content-Range: bytes */0) was rejected", ack);
                }

                var next = RequireOffset(ack);
                _fragmentsSent++;
                _replyUrl = ack.ReplyUrl;
                progress?.Report(next);
                return TransferOutcome.Completed;
            }

            var index = 0;
            var stalled = 0;
            var highest = _offset;
            while (_offset < _total)
            {
                var suggested = probe ? _options.MinFragmentBytes : _fragmentSize;
                var plan = _options.FragmentPlanner?.Invoke(new FragmentRequest(_offset, _total, suggested, index))
                    ?? new FragmentPlan(_offset, Math.Min(suggested, _total - _offset));
                var first = Math.Clamp(plan.First, 0, _total - 1);
                var length = Math.Clamp(plan.Length, 1, Math.Min(_total - first, Array.MaxLength));
                var data = await ReadSourceAsync(first, length);

                var ack = await SendAsync(BitsWire.Fragment, () => client.CreateFragmentRequest(url, sessionId, data, first, _total, contentName));
                if (ack.ErrorCode == BitsErrorCodes.BG_E_SESSION_NOT_FOUND)
                {
                    return TransferOutcome.SessionNotFound;
                }

                if (ack.StatusCode == 413)
                {
                    if (length <= _options.MinFragmentBytes)
                    {
                        throw Fatal(BitsWire.Fragment, string.Create(CultureInfo.InvariantCulture, $"The server refused a fragment of {length} bytes as too large (413), and fragments may not shrink below {_options.MinFragmentBytes} bytes"), ack);
                    }

                    _fragmentSize = Math.Max(_options.MinFragmentBytes, length / 2);
                    Log.FragmentShrunk(client._logger, _fragmentSize);
                    continue;
                }

                if (ack.StatusCode is not (200 or 201 or 416))
                {
                    throw Fatal(BitsWire.Fragment, string.Create(CultureInfo.InvariantCulture, $"Fragment bytes {first}-{first + length - 1}/{_total} was rejected"), ack);
                }

                var received = RequireOffset(ack);
                _fragmentsSent++;
                index++;
                probe = false;
                if (received != first + length)
                {
                    _retransmits++;
                    Log.Resync(client._logger, first, first + length, received, ack.StatusCode);
                }

                if (received > highest)
                {
                    highest = received;
                    stalled = 0;
                }
                else if (++stalled > _options.MaxFragmentsWithoutProgress)
                {
                    throw new BitsUploadException(
                        string.Create(CultureInfo.InvariantCulture, $"The server acknowledged {stalled} fragments in a row without accepting bytes beyond offset {highest}. {BitsErrorCodes.Describe(BitsErrorCodes.BG_E_NO_PROGRESS)}"),
                        ack.StatusCode,
                        BitsErrorCodes.BG_E_NO_PROGRESS,
                        null)
                    { PacketType = BitsWire.Fragment, SessionId = _sessionId, BytesAcknowledged = received, Ack = ack };
                }

                _offset = received;
                if (received == _total)
                {
                    _replyUrl = ack.ReplyUrl;
                }

                progress?.Report(received);
            }

            return TransferOutcome.Completed;
        }

        private long RequireOffset(BitsAck ack)
        {
            if (ack.ReceivedContentRange is not { } received)
            {
                throw Invalid(BitsWire.Fragment, "the Fragment Ack carries no valid BITS-Received-Content-Range", ack);
            }

            if (received < 0 || received > _total)
            {
                throw Invalid(BitsWire.Fragment, string.Create(CultureInfo.InvariantCulture, $"BITS-Received-Content-Range {received} lies outside the file of {_total} bytes"), ack);
            }

            return received;
        }

        private async Task<ReadOnlyMemory<byte>> ReadSourceAsync(long first, long length)
        {
            if (source.Length != _total)
            {
                throw LocalFileChanged(null);
            }

            if (_buffer.Length < length)
            {
                _buffer = new byte[length];
            }

            var memory = _buffer.AsMemory(0, (int)length);
            source.Seek(first, SeekOrigin.Begin);
            try
            {
                await source.ReadExactlyAsync(memory, ct);
            }
            catch (EndOfStreamException ex)
            {
                throw LocalFileChanged(ex);
            }

            return memory;
        }

        private BitsUploadException LocalFileChanged(Exception? inner) => new(
            string.Create(CultureInfo.InvariantCulture, $"The source is no longer {_total} bytes long. {BitsErrorCodes.Describe(BitsErrorCodes.BG_E_LOCAL_FILE_CHANGED)}"),
            null,
            BitsErrorCodes.BG_E_LOCAL_FILE_CHANGED,
            null,
            inner)
        { SessionId = _sessionId, BytesAcknowledged = _offset };

        /// <summary>Sends one packet, retrying transient failures; returns the first non-transient Ack.</summary>
        private async Task<BitsAck> SendAsync(string packetType, Func<HttpRequestMessage> createRequest)
        {
            var failures = 0;
            while (true)
            {
                BitsAck? ack = null;
                Exception? error = null;
                try
                {
                    using var request = createRequest();
                    using var response = await client._http.SendAsync(request, ct);
                    ack = BitsAck.FromResponse(response);
                }
                catch (Exception ex) when (!ct.IsCancellationRequested && IsTransient(ex))
                {
                    error = ex;
                }

                if (ack is not null)
                {
                    Log.Ack(client._logger, packetType, ack.StatusCode, ack.RawErrorCode, ack.ReceivedContentRange);
                    if (!IsTransient(ack))
                    {
                        if (ack.StatusCode is 200 or 201 or 416 && !ack.IsAckPacket)
                        {
                            throw Invalid(packetType, "the response has no 'BITS-Packet-Type: Ack' header", ack);
                        }

                        return ack;
                    }
                }

                failures++;
                var reason = ack?.ToString() ?? $"{error!.GetType().Name}: {error.Message}";
                if (failures > _options.MaxTransientRetries)
                {
                    var message = $"{packetType} failed {failures} times in a row with transient errors; the last was {reason}.";
                    if (ack is not null)
                    {
                        throw new BitsUploadException(message + " " + BitsErrorCodes.Describe(ack.EffectiveErrorCode), ack.StatusCode, ack.EffectiveErrorCode, ack.ErrorContext)
                        { PacketType = packetType, SessionId = _sessionId, BytesAcknowledged = _offset, Ack = ack, RetriesExhausted = true };
                    }

                    throw new BitsUploadException(message, null, null, null, error)
                    { PacketType = packetType, SessionId = _sessionId, BytesAcknowledged = _offset, RetriesExhausted = true };
                }

                _transientRetries++;
                var delay = RetryDelayFor(_options.RetryDelay, failures);
                Log.Retry(client._logger, packetType, failures, reason, delay);
                if (delay > TimeSpan.Zero)
                {
                    await Task.Delay(delay, ct);
                }
            }
        }

        private BitsUploadException Fatal(string packetType, string what, BitsAck ack)
        {
            var code = ack.EffectiveErrorCode;
            return new BitsUploadException($"{what}: the server answered {ack}. {BitsErrorCodes.Describe(code)}", ack.StatusCode, code, ack.ErrorContext)
            { PacketType = packetType, SessionId = _sessionId, BytesAcknowledged = _offset, Ack = ack };
        }

        private BitsUploadException Invalid(string packetType, string what, BitsAck ack)
            => new($"Invalid server response to {packetType}: {what} ({ack}). {BitsErrorCodes.Describe(BitsErrorCodes.BG_E_INVALID_SERVER_RESPONSE)}", ack.StatusCode, BitsErrorCodes.BG_E_INVALID_SERVER_RESPONSE, ack.ErrorContext)
            { PacketType = packetType, SessionId = _sessionId, BytesAcknowledged = _offset, Ack = ack };
    }

    private static partial class Log
    {
        [LoggerMessage(BitsClientEventIds.BitsAck, LogLevel.Debug, "{PacketType} answered HTTP {StatusCode}, error {ErrorCode}, received {Received}", EventName = "BitsAck")]
        public static partial void Ack(ILogger logger, string packetType, int statusCode, string? errorCode, long? received);

        [LoggerMessage(BitsClientEventIds.BitsRetry, LogLevel.Warning, "{PacketType} failed transiently ({Failures} in a row): {Reason}; retrying in {Delay}", EventName = "BitsRetry")]
        public static partial void Retry(ILogger logger, string packetType, int failures, string reason, TimeSpan delay);

        [LoggerMessage(BitsClientEventIds.BitsSessionCreated, LogLevel.Information, "Created upload session {SessionId} at {Url}", EventName = "BitsSessionCreated")]
        public static partial void SessionCreated(ILogger logger, string? sessionId, Uri url);

        [LoggerMessage(BitsClientEventIds.BitsSessionRestart, LogLevel.Warning, "Session {SessionId} not found by the server; starting over with a new session (restart {Restart})", EventName = "BitsSessionRestart")]
        public static partial void SessionRestart(ILogger logger, string? sessionId, int restart);

        [LoggerMessage(BitsClientEventIds.BitsFragmentShrunk, LogLevel.Information, "Server refused the fragment size (413); fragments are now {FragmentBytes} bytes", EventName = "BitsFragmentShrunk")]
        public static partial void FragmentShrunk(ILogger logger, long fragmentBytes);

        [LoggerMessage(BitsClientEventIds.BitsResync, LogLevel.Debug, "Sent bytes {First}..{End}, server resynchronised to {Received} (HTTP {StatusCode})", EventName = "BitsResync")]
        public static partial void Resync(ILogger logger, long first, long end, long received, int statusCode);

        [LoggerMessage(BitsClientEventIds.BitsCompleted, LogLevel.Information, "Upload session {SessionId} closed: {Bytes} bytes, {Fragments} fragments, {Retransmits} resyncs", EventName = "BitsCompleted")]
        public static partial void Completed(ILogger logger, string sessionId, long bytes, int fragments, int retransmits);
    }
}
