using System.Globalization;

namespace Bits.Protocol;

/// <summary>
/// An Ack: status code plus headers. Acks never carry a body; the host writes <c>Content-Length: 0</c>.
/// </summary>
public sealed class BitsResponse
{
    private readonly List<KeyValuePair<string, string>> _headers = [];

    private BitsResponse(int statusCode, BitsError? error, bool isAck = true)
    {
        StatusCode = statusCode;
        Error = error;
        if (isAck)
        {
            _headers.Add(new(BitsHeaders.PacketType, BitsHeaders.AckPacketType));
        }

        if (error is not null)
        {
            var code = BitsHResults.Format(error.HResult);
            _headers.Add(new(BitsHeaders.ErrorCode, code));
            _headers.Add(new(BitsHeaders.Error, code));
            _headers.Add(new(BitsHeaders.ErrorContext, BitsHResults.Format(error.Context)));
        }
    }

    public int StatusCode { get; }

    /// <summary>A body to send (reply downloads only; Acks never have one).</summary>
    public Stream? Body { get; private init; }

    /// <summary>Bytes of <see cref="Body"/> to send; the host writes it as Content-Length.</summary>
    public long ContentLength { get; private init; }

    /// <summary>The error this Ack reports, or null for a success (200) or a resync (416).</summary>
    public BitsError? Error { get; }

    public IReadOnlyList<KeyValuePair<string, string>> Headers => _headers;

    public static BitsResponse Ok() => new(200, null);

    /// <summary>416: the client resyncs from <c>BITS-Received-Content-Range</c>; no error headers (as Windows).</summary>
    public static BitsResponse RangeNotSatisfiable(long received) =>
        new BitsResponse(416, null).WithReceived(received);

    public static BitsResponse Failure(BitsError error) => new(error.StatusCode, error);

    /// <summary>A plain HTTP answer to a reply download (200, 206, 404, 416): no Ack headers.</summary>
    public static BitsResponse Download(int statusCode, Stream? body, long contentLength) =>
        new(statusCode, null, isAck: false) { Body = body, ContentLength = contentLength };

    public BitsResponse With(string name, string value)
    {
        _headers.Add(new(name, value));
        return this;
    }

    public BitsResponse WithSession(string? sessionId) =>
        string.IsNullOrEmpty(sessionId) ? this : With(BitsHeaders.SessionId, sessionId);

    public BitsResponse WithReceived(long received) =>
        With(BitsHeaders.ReceivedContentRange, received.ToString(CultureInfo.InvariantCulture));

    public string? GetHeader(string name)
    {
        foreach (var pair in _headers)
        {
            if (pair.Key.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return pair.Value;
            }
        }

        return null;
    }
}
