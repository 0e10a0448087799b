namespace Bits.Protocol;

/// <summary>The Ping packet: changes nothing, but like IIS it says 501 where uploads are disabled.</summary>
internal static class BitsPingPacket
{
    public static BitsResponse Handle(BitsParsedRequest request) =>
        request.AreaDisabled() is { } disabled ? BitsResponse.Failure(disabled) : BitsResponse.Ok();
}
