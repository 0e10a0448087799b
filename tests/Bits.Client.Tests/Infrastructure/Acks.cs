using System.Net;

namespace Bits.Client.Tests.Infrastructure;

/// <summary>Builds BITS responses.</summary>
public static class Acks
{
    public const string ProtocolGuid = "{7df0354d-249b-430f-820d-3d2a9bef4931}";

    public static HttpResponseMessage Ack(int status = 200, params (string Name, string Value)[] headers)
        => Response(status, packetType: "Ack", headers);

    public static HttpResponseMessage Response(int status, string? packetType, params (string Name, string Value)[] headers)
    {
        var response = new HttpResponseMessage((HttpStatusCode)status) { Content = new ByteArrayContent([]) };
        response.Content.Headers.ContentLength = 0;
        if (packetType is not null)
        {
            response.Headers.TryAddWithoutValidation("BITS-Packet-Type", packetType);
        }

        foreach (var (name, value) in headers)
        {
            response.Headers.TryAddWithoutValidation(name, value);
        }

        return response;
    }

    public static HttpResponseMessage Created(string sessionId = "{11111111-2222-3333-4444-555555555555}")
        => Ack(200, ("BITS-Protocol", ProtocolGuid), ("BITS-Session-Id", sessionId), ("Accept-Encoding", "identity"));

    public static HttpResponseMessage Received(long offset, int status = 200)
        => Ack(status, ("BITS-Received-Content-Range", offset.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    public static HttpResponseMessage Error(int status, string errorCode, string context = "0x5")
        => Ack(status, ("BITS-Error-Code", errorCode), ("BITS-Error-Context", context));
}
