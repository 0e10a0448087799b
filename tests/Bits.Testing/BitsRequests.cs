using System.Globalization;
using Bits.Protocol;

namespace Bits.Testing;

/// <summary>Builders for well-formed BITS requests, as the Windows client sends them.</summary>
public static class BitsRequests
{
    public static BitsRequest Ping(string path = "/file.bin") => new()
    {
        Method = BitsHeaders.Method,
        RawPath = path,
        PacketType = "Ping",
        ContentLength = 0,
    };

    public static BitsRequest CreateSession(string path, string? protocols = BitsHeaders.UploadProtocolGuid, string? user = null) => new()
    {
        Method = BitsHeaders.Method,
        RawPath = path,
        PacketType = "Create-Session",
        SupportedProtocols = protocols,
        ContentLength = 0,
        User = user,
    };

    /// <param name="url">The upload URL as the client used it (<see cref="BitsRequest.Url"/> and <see cref="BitsRequest.BackEndUrl"/>; upload-reply needs it).</param>
    public static BitsRequest Fragment(string path, string sessionId, byte[] file, long first, int length, string? user = null, Uri? url = null) => new()
    {
        Url = url,
        BackEndUrl = url,
        Method = BitsHeaders.Method,
        RawPath = path,
        PacketType = "Fragment",
        SessionId = sessionId,
        ContentRange = file.Length == 0
            ? "bytes */0"
            : string.Create(CultureInfo.InvariantCulture, $"bytes {first}-{first + length - 1}/{file.Length}"),
        ContentLength = length,
        ContentName = "file.bin",
        Body = new MemoryStream(file, (int)first, length, writable: false),
        User = user,
    };

    public static BitsRequest Close(string path, string sessionId, string? user = null) => Session("Close-Session", path, sessionId, user);

    public static BitsRequest Cancel(string path, string sessionId, string? user = null) => Session("Cancel-Session", path, sessionId, user);

    private static BitsRequest Session(string type, string path, string sessionId, string? user) => new()
    {
        Method = BitsHeaders.Method,
        RawPath = path,
        PacketType = type,
        SessionId = sessionId,
        ContentLength = 0,
        User = user,
    };
}
