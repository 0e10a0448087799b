namespace Bits.Client;

/// <summary>An upload failed for good; <see cref="Exception.Message"/> says why in words.</summary>
public sealed class BitsUploadException : Exception
{
    public BitsUploadException()
    {
    }

    public BitsUploadException(string message)
        : base(message)
    {
    }

    public BitsUploadException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }

    public BitsUploadException(string message, int? statusCode, uint? errorCode, int? errorContext, Exception? innerException = null)
        : base(message, innerException)
    {
        StatusCode = statusCode;
        ErrorCode = errorCode;
        ErrorContext = errorContext;
    }

    /// <summary>HTTP status of the failing response; null for network errors and local failures.</summary>
    public int? StatusCode { get; }

    /// <summary>The server's <c>BITS-Error-Code</c>, else BG_E_HTTP_ERROR_nnn for the status, else the client's own code.</summary>
    public uint? ErrorCode { get; }

    /// <summary><c>BITS-Error-Context</c> of the failing response (5 = BITS server, 7 = server application).</summary>
    public int? ErrorContext { get; }

    /// <summary>The symbolic name of <see cref="ErrorCode"/> (e.g. "E_ACCESSDENIED").</summary>
    public string? ErrorName => ErrorCode is { } code ? BitsErrorCodes.Name(code) : null;

    /// <summary>The packet that failed ("Ping", "Create-Session", "Fragment", ...).</summary>
    public string? PacketType { get; init; }

    /// <summary>The session in use when the upload failed; pass it to <see cref="BitsUploadClient.ResumeAsync(Uri, string, Stream, string?, IProgress{long}?, CancellationToken)"/>.</summary>
    public string? SessionId { get; init; }

    /// <summary>The server's last acknowledged offset in <see cref="SessionId"/>.</summary>
    public long? BytesAcknowledged { get; init; }

    /// <summary>
    /// True when the upload gave up after <see cref="BitsClientOptions.MaxTransientRetries"/> consecutive transient
    /// failures (network errors, 5xx, 408, 409, ...): trying again later may succeed. False when the server refused for
    /// good (4xx, BG_E_TOO_LARGE, an invalid response, ...) or the local source changed.
    /// </summary>
    public bool RetriesExhausted { get; init; }

    /// <summary>The failing response, when there was one.</summary>
    public BitsAck? Ack { get; init; }
}
