namespace Bits.Client;

/// <summary>Header names, packet types and constants of the BITS upload protocol, as the client writes them.</summary>
internal static class BitsWire
{
    public const string Method = "BITS_POST";
    public const string ProtocolGuid = "{7df0354d-249b-430f-820d-3d2a9bef4931}";
    public const string UserAgent = "BitsFunctions.Client/1.0";

    public const string PacketTypeHeader = "BITS-Packet-Type";
    public const string SessionIdHeader = "BITS-Session-Id";
    public const string SupportedProtocolsHeader = "BITS-Supported-Protocols";
    public const string ProtocolHeader = "BITS-Protocol";
    public const string ReceivedContentRangeHeader = "BITS-Received-Content-Range";
    public const string ErrorCodeHeader = "BITS-Error-Code";
    public const string ErrorCodeAltHeader = "BITS-Error";
    public const string ErrorContextHeader = "BITS-Error-Context";
    public const string ReplyUrlHeader = "BITS-Reply-URL";
    public const string HostIdHeader = "BITS-Host-Id";
    public const string ContentNameHeader = "Content-Name";

    public const string Ping = "Ping";
    public const string CreateSession = "Create-Session";
    public const string Fragment = "Fragment";
    public const string CloseSession = "Close-Session";
    public const string CancelSession = "Cancel-Session";
    public const string Ack = "Ack";

    public static readonly HttpMethod HttpMethod = new(Method);
}
