using System.Globalization;

namespace Bits.Client;

/// <summary>One parsed response packet ("Ack") of the BITS upload protocol.</summary>
public sealed class BitsAck
{
    /// <summary>Builds an Ack from a status code and its response headers (names are compared case-insensitively).</summary>
    public BitsAck(int statusCode, IEnumerable<KeyValuePair<string, string>> headers, string? reasonPhrase = null)
    {
        ArgumentNullException.ThrowIfNull(headers);
        StatusCode = statusCode;
        ReasonPhrase = reasonPhrase;
        var map = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, value) in headers)
        {
            map[name] = map.TryGetValue(name, out var existing) ? existing + ", " + value : value;
        }

        Headers = map;
        string? Get(string name) => map.TryGetValue(name, out var value) ? value.Trim() : null;
        PacketType = Get(BitsWire.PacketTypeHeader);
        SessionId = Get(BitsWire.SessionIdHeader);
        Protocol = Get(BitsWire.ProtocolHeader);
        ReplyUrl = Get(BitsWire.ReplyUrlHeader);
        HostId = Get(BitsWire.HostIdHeader);
        RawErrorCode = Get(BitsWire.ErrorCodeHeader) ?? Get(BitsWire.ErrorCodeAltHeader);
        ErrorCode = TryParseHResult(RawErrorCode, out var code) ? code : null;
        ErrorContext = TryParseErrorContext(Get(BitsWire.ErrorContextHeader), out var context) ? context : null;
        var received = Get(BitsWire.ReceivedContentRangeHeader);
        ReceivedContentRange = received is not null
            && long.TryParse(received, NumberStyles.None, CultureInfo.InvariantCulture, out var offset)
            ? offset
            : null;
    }

    public int StatusCode { get; }

    /// <summary>The HTTP reason phrase, when the response had one.</summary>
    public string? ReasonPhrase { get; }

    /// <summary><c>BITS-Packet-Type</c>; "Ack" on every genuine BITS response.</summary>
    public string? PacketType { get; }

    /// <summary><c>BITS-Session-Id</c>.</summary>
    public string? SessionId { get; }

    /// <summary><c>BITS-Protocol</c> (Create-Session Acks).</summary>
    public string? Protocol { get; }

    /// <summary><c>BITS-Received-Content-Range</c>: the server's next expected offset; null when absent or not a plain decimal.</summary>
    public long? ReceivedContentRange { get; }

    /// <summary><c>BITS-Error-Code</c> (or MC-BUP's <c>BITS-Error</c>) parsed as an HRESULT; null when absent or unparsable.</summary>
    public uint? ErrorCode { get; }

    /// <summary>The raw <c>BITS-Error-Code</c> value as received.</summary>
    public string? RawErrorCode { get; }

    /// <summary><c>BITS-Error-Context</c> (5 = the BITS server, 7 = the server application).</summary>
    public int? ErrorContext { get; }

    /// <summary><c>BITS-Reply-URL</c> (final fragment of an upload-reply session).</summary>
    public string? ReplyUrl { get; }

    /// <summary><c>BITS-Host-Id</c> (server farms; this client does not act on it).</summary>
    public string? HostId { get; }

    /// <summary>All response and content headers; multiple values are joined with ", ".</summary>
    public IReadOnlyDictionary<string, string> Headers { get; }

    public bool IsSuccess => StatusCode is 200 or 201;

    /// <summary>
    /// True when the Windows client would retry this answer later (network-level trouble is not an Ack): 3xx except
    /// 300-305 and 307, 408, 409, 5xx except 501 and 505, never BG_E_SESSION_NOT_FOUND or BG_E_TOO_LARGE.
    /// </summary>
    public bool IsTransientFailure => BitsUploadClient.IsTransient(this);

    /// <summary>True when <c>BITS-Packet-Type</c> is "Ack" (case-insensitive).</summary>
    public bool IsAckPacket => string.Equals(PacketType?.Trim(), BitsWire.Ack, StringComparison.OrdinalIgnoreCase);

    /// <summary>The error the Windows client would report for this response: the server's code, else BG_E_HTTP_ERROR_nnn.</summary>
    public uint EffectiveErrorCode => ErrorCode is { } code and not 0 ? code : BitsErrorCodes.HttpError(StatusCode);

    /// <summary>Reads status and headers from an HTTP response (the body is ignored; Acks never carry one).</summary>
    public static BitsAck FromResponse(HttpResponseMessage response)
    {
        ArgumentNullException.ThrowIfNull(response);
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var (name, values) in response.Headers.NonValidated)
        {
            headers.Add(new(name, string.Join(", ", values)));
        }

        foreach (var (name, values) in response.Content.Headers.NonValidated)
        {
            headers.Add(new(name, string.Join(", ", values)));
        }

        return new BitsAck((int)response.StatusCode, headers, response.ReasonPhrase);
    }

    /// <summary>
    /// Parses an HRESULT as servers write it: "0x8020001F" (the documented form), bare hex "8020001F",
    /// decimal "2149580831" or a negative 32-bit decimal "-2145386465". Eight digits without a prefix are read as hex.
    /// </summary>
    public static bool TryParseHResult(string? text, out uint value)
    {
        value = 0;
        var s = text?.Trim();
        if (string.IsNullOrEmpty(s))
        {
            return false;
        }

        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            return uint.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
        }

        if (s[0] == '-')
        {
            if (int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var signed))
            {
                value = unchecked((uint)signed);
                return true;
            }

            return false;
        }

        var allDigits = s.All(char.IsAsciiDigit);
        if (allDigits && s.Length != 8)
        {
            return uint.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value);
        }

        return uint.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>Parses <c>BITS-Error-Context</c>: "0x5", "0x00000007" or plain decimal "5".</summary>
    public static bool TryParseErrorContext(string? text, out int value)
    {
        value = 0;
        var s = text?.Trim();
        if (string.IsNullOrEmpty(s))
        {
            return false;
        }

        if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            return int.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
        }

        return int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value)
            || int.TryParse(s, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }

    /// <summary>A one-line description for logs and exception messages.</summary>
    public override string ToString()
    {
        var text = string.Create(CultureInfo.InvariantCulture, $"HTTP {StatusCode}");
        if (!string.IsNullOrEmpty(ReasonPhrase))
        {
            text += " " + ReasonPhrase;
        }

        if (ErrorCode is { } code)
        {
            text += string.Create(CultureInfo.InvariantCulture, $", BITS-Error-Code {BitsErrorCodes.Format(code)}");
            if (BitsErrorCodes.Name(code) is { } name)
            {
                text += " " + name;
            }
        }

        if (ErrorContext is { } context)
        {
            text += string.Create(CultureInfo.InvariantCulture, $", context 0x{context:X}");
        }

        if (ReceivedContentRange is { } received)
        {
            text += string.Create(CultureInfo.InvariantCulture, $", received {received}");
        }

        return text;
    }
}
