namespace Bits.Protocol;

/// <summary>Header names, packet types and the protocol GUID of the BITS upload protocol ([MC-BUP]).</summary>
public static class BitsHeaders
{
    public const string PacketType = "BITS-Packet-Type";
    public const string SessionId = "BITS-Session-Id";
    public const string SupportedProtocols = "BITS-Supported-Protocols";
    public const string Protocol = "BITS-Protocol";
    public const string ReceivedContentRange = "BITS-Received-Content-Range";
    /// <summary>The error HRESULT as the Win32 pages and IIS name it; sent on every error Ack (rule 6a.12).</summary>
    public const string ErrorCode = "BITS-Error-Code";

    /// <summary>The same HRESULT under the name [MC-BUP] section 2.2.1.2 uses; sent beside <see cref="ErrorCode"/> (rule 6a.12).</summary>
    public const string Error = "BITS-Error";
    public const string ErrorContext = "BITS-Error-Context";
    public const string HostId = "BITS-Host-Id";
    public const string ReplyUrl = "BITS-Reply-URL";
    public const string ContentRange = "Content-Range";
    public const string ContentName = "Content-Name";
    public const string ContentEncoding = "Content-Encoding";
    public const string ContentLength = "Content-Length";
    public const string AcceptEncoding = "Accept-Encoding";

    /// <summary>The extension method every BITS upload packet uses.</summary>
    public const string Method = "BITS_POST";

    /// <summary>The only protocol ever defined: "BITS 1.5 Upload Protocol".</summary>
    public const string UploadProtocolGuid = "{7df0354d-249b-430f-820d-3d2a9bef4931}";

    /// <summary>The value of <see cref="PacketType"/> on every response.</summary>
    public const string AckPacketType = "Ack";

    /// <summary>Query parameter that turns a GET/HEAD on an upload URL into a reply download.</summary>
    public const string ReplyQueryParameter = "bits-reply";

    /// <summary>Header values longer than this are refused (the Windows server caps them at 4 KB).</summary>
    public const int MaxHeaderValueLength = 4096;
}

/// <summary>The request packet types; parsed case-insensitively from <see cref="BitsHeaders.PacketType"/>.</summary>
public enum BitsPacketType
{
    Ping = 1,
    CreateSession = 2,
    Fragment = 3,
    CloseSession = 4,
    CancelSession = 5,
}

public static class BitsPacketTypes
{
    public static bool TryParse(string? value, out BitsPacketType type)
    {
        type = default;
        if (value is null)
        {
            return false;
        }

        var trimmed = value.Trim();
        if (trimmed.Equals("Ping", StringComparison.OrdinalIgnoreCase))
        {
            type = BitsPacketType.Ping;
        }
        else if (trimmed.Equals("Create-Session", StringComparison.OrdinalIgnoreCase))
        {
            type = BitsPacketType.CreateSession;
        }
        else if (trimmed.Equals("Fragment", StringComparison.OrdinalIgnoreCase))
        {
            type = BitsPacketType.Fragment;
        }
        else if (trimmed.Equals("Close-Session", StringComparison.OrdinalIgnoreCase))
        {
            type = BitsPacketType.CloseSession;
        }
        else if (trimmed.Equals("Cancel-Session", StringComparison.OrdinalIgnoreCase))
        {
            type = BitsPacketType.CancelSession;
        }
        else
        {
            return false;
        }

        return true;
    }

    public static string ToWireName(this BitsPacketType type) => type switch
    {
        BitsPacketType.Ping => "Ping",
        BitsPacketType.CreateSession => "Create-Session",
        BitsPacketType.Fragment => "Fragment",
        BitsPacketType.CloseSession => "Close-Session",
        BitsPacketType.CancelSession => "Cancel-Session",
        _ => "Unknown",
    };
}
