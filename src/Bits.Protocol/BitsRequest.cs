namespace Bits.Protocol;

/// <summary>
/// One BITS request, taken off the wire by a host adapter. Immutable apart from the body stream.
/// </summary>
public sealed class BitsRequest
{
    /// <summary>The HTTP method (after any method override the host honours).</summary>
    public required string Method { get; init; }

    /// <summary>The URL path under the upload route, still percent-encoded; may include a query string.</summary>
    public required string RawPath { get; init; }

    public string? PacketType { get; init; }

    public string? SessionId { get; init; }

    public string? ContentRange { get; init; }

    public string? ContentName { get; init; }

    public string? SupportedProtocols { get; init; }

    public string? ContentEncoding { get; init; }

    /// <summary>The declared request body length; null when the request has no Content-Length.</summary>
    public long? ContentLength { get; init; }

    /// <summary>Name of the first request header whose value is longer than <see cref="BitsHeaders.MaxHeaderValueLength"/>.</summary>
    public string? OversizedHeader { get; init; }

    /// <summary>The authenticated user, if the host authenticated the request.</summary>
    public string? User { get; init; }

    /// <summary>
    /// Who owns the sessions this request creates and may continue: the authentication scheme plus an immutable id
    /// (<c>basic:&lt;user&gt;</c>, <c>bearer:&lt;tid&gt;/&lt;oid&gt;</c>); null for <see cref="User"/> itself.
    /// </summary>
    public string? Owner { get; init; }

    public Stream Body { get; init; } = Stream.Null;

    /// <summary>
    /// The absolute URL of the upload as the client reaches it, for <c>BITS-Reply-URL</c> only (which goes back to this
    /// client): <c>Bits:PublicBaseUrl</c> plus the raw path and query when set, else the request's own scheme and host.
    /// </summary>
    public Uri? Url { get; init; }

    /// <summary>
    /// The absolute URL of the upload for everything sent beyond the client (notification URLs,
    /// <c>BITS-Original-Request-URL</c>): <c>Bits:PublicBaseUrl</c> plus the raw path and query when set, else the
    /// address the connection arrived on. Never built from request headers such as <c>Host</c> (issue 12, point 3).
    /// </summary>
    public Uri? BackEndUrl { get; init; }

    /// <summary>The raw query string including its leading '?', or empty.</summary>
    public string Query { get; init; } = string.Empty;

    /// <summary>The <c>Range</c> header of a reply download.</summary>
    public string? Range { get; init; }
}
