using System.Globalization;
using System.Text.RegularExpressions;

namespace Bits.Client.Tests.Infrastructure;

/// <summary>
/// A tiny BITS upload server implementing the digest's next-offset rules: in-order 200, duplicate 200 with R,
/// overlap stores only the new bytes, gap 416 with R. It validates request format strictly (400 on anything odd),
/// so client bugs show up as failed uploads.
/// </summary>
public sealed partial class ModelBitsServer
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Session> _sessions = new(StringComparer.Ordinal);
    private readonly HashSet<string> _tombstones = new(StringComparer.Ordinal);
    private int _sessionCounter;

    /// <summary>Bodies larger than this are answered 413.</summary>
    public long? MaxFragmentBody { get; set; }

    /// <summary>MC-BUP literal rule: any fragment with first != R is answered 416 (no overlap acceptance).</summary>
    public bool StrictMcBup { get; set; }

    /// <summary>Sent as BITS-Reply-URL on the Ack that completes the upload.</summary>
    public string? ReplyUrl { get; set; }

    /// <summary>Return a response to override the model for this request (index = request number), or null.</summary>
    public Func<RecordedRequest, int, HttpResponseMessage?>? Intercept { get; set; }

    /// <summary>Files published by Close-Session, by session id.</summary>
    public Dictionary<string, byte[]> Published { get; } = new(StringComparer.Ordinal);

    public byte[] SinglePublished => Assert.Single(Published).Value;

    public HttpResponseMessage Respond(RecordedRequest request, int index)
        => Intercept?.Invoke(request, index) ?? Handle(request);

    /// <summary>Forgets a session as if it had expired (the next packet for it gets BG_E_SESSION_NOT_FOUND).</summary>
    public void ExpireSession(string sessionId)
    {
        lock (_gate)
        {
            _sessions.Remove(sessionId);
        }
    }

    public long ReceivedBytes(string sessionId)
    {
        lock (_gate)
        {
            return _sessions[sessionId].Data.Count;
        }
    }

    /// <summary>Creates a session directly (as if an earlier client run had created it) and stores a prefix of data.</summary>
    public string SeedSession(byte[] prefix, long total)
    {
        lock (_gate)
        {
            var id = NewSessionId();
            var session = new Session { Total = total };
            session.Data.AddRange(prefix);
            _sessions[id] = session;
            return id;
        }
    }

    public HttpResponseMessage Handle(RecordedRequest request)
    {
        lock (_gate)
        {
            if (request.Method != "BITS_POST")
            {
                return Acks.Error(405, "0x80070057");
            }

            if (request.Header("Content-Length") is not { } lengthText
                || !long.TryParse(lengthText, NumberStyles.None, CultureInfo.InvariantCulture, out var contentLength)
                || contentLength != request.Body.Length)
            {
                return Acks.Error(400, "0x80070057");
            }

            switch (request.PacketType?.ToUpperInvariant())
            {
                case "PING":
                    return contentLength == 0 ? Acks.Ack() : Acks.Error(400, "0x80070057");
                case "CREATE-SESSION":
                    return CreateSession(request);
                case "FRAGMENT":
                    return Fragment(request);
                case "CLOSE-SESSION":
                    return Close(request, publish: true);
                case "CANCEL-SESSION":
                    return Close(request, publish: false);
                default:
                    return Acks.Error(400, "0x80070057");
            }
        }
    }

    private string NewSessionId()
        => string.Create(CultureInfo.InvariantCulture, $"{{00000000-0000-0000-0000-{++_sessionCounter:D12}}}");

    private HttpResponseMessage CreateSession(RecordedRequest request)
    {
        var offered = request.Header("BITS-Supported-Protocols") ?? string.Empty;
        if (!offered.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries).Contains(Acks.ProtocolGuid, StringComparer.OrdinalIgnoreCase)
            || request.SessionId is not null || request.Body.Length != 0)
        {
            return Acks.Error(400, "0x80070057");
        }

        var id = NewSessionId();
        _sessions[id] = new Session();
        return Acks.Created(id);
    }

    private HttpResponseMessage Fragment(RecordedRequest request)
    {
        if (request.SessionId is not { } id)
        {
            return Acks.Error(400, "0x80070057");
        }

        if (!_sessions.TryGetValue(id, out var session))
        {
            return Acks.Error(500, "0x8020001F");
        }

        if (MaxFragmentBody is { } max && request.Body.Length > max)
        {
            return Acks.Ack(413);
        }

        long first, last, total;
        var range = request.ContentRange ?? string.Empty;
        if (string.Equals(range, "bytes */0", StringComparison.OrdinalIgnoreCase))
        {
            first = 0;
            last = -1;
            total = 0;
        }
        else if (RangePattern().Match(range) is { Success: true } m)
        {
            first = long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            last = long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            total = long.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture);
            if (first > last || last >= total)
            {
                return Acks.Error(400, "0x80070057");
            }
        }
        else
        {
            return Acks.Error(400, "0x80070057");
        }

        if (request.Body.Length != last - first + 1 || (session.Total is { } known && known != total))
        {
            return Acks.Error(400, "0x80070057");
        }

        session.Total = total;
        long r = session.Data.Count;
        if (first > r || (StrictMcBup && first != r))
        {
            return Received(416, r);
        }

        if (last >= r)
        {
            session.Data.AddRange(request.Body.AsSpan((int)(r - first)));
        }

        r = session.Data.Count;
        var ack = Received(200, r);
        if (r == total && ReplyUrl is not null)
        {
            ack.Headers.TryAddWithoutValidation("BITS-Reply-URL", ReplyUrl);
        }

        ack.Headers.TryAddWithoutValidation("BITS-Session-Id", id);
        return ack;
    }

    private static HttpResponseMessage Received(int status, long r) => Acks.Received(r, status);

    private HttpResponseMessage Close(RecordedRequest request, bool publish)
    {
        if (request.SessionId is not { } id || request.Body.Length != 0)
        {
            return Acks.Error(400, "0x80070057");
        }

        if (_tombstones.Contains(id))
        {
            return Acks.Ack(200, ("BITS-Session-Id", id));
        }

        if (!_sessions.Remove(id, out var session))
        {
            return Acks.Error(500, "0x8020001F");
        }

        _tombstones.Add(id);
        if (publish && session.Total == session.Data.Count)
        {
            Published[id] = [.. session.Data];
        }

        return Acks.Ack(200, ("BITS-Session-Id", id));
    }

    [GeneratedRegex(@"^bytes (\d+)-(\d+)/(\d+)$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex RangePattern();

    private sealed class Session
    {
        public List<byte> Data { get; } = [];
        public long? Total { get; set; }
    }
}
