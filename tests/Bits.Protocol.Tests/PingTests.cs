namespace Bits.Protocol.Tests;

public class PingTests
{
    [Theory]
    [InlineData("Ping")]
    [InlineData("PING")]
    [InlineData("ping")]
    public async Task Ping_AnyCase_Returns200Ack(string packetType)
    {
        var harness = new HandlerHarness();
        var ack = await harness.SendAsync(new BitsRequest { Method = "BITS_POST", RawPath = "/x.bin", PacketType = packetType, ContentLength = 0 });

        AckAssert.IsAck(ack, 200);
        Assert.Null(ack.GetHeader(BitsHeaders.ErrorCode));
        Assert.Null(ack.GetHeader(BitsHeaders.SessionId));
    }

    [Fact]
    public async Task Ping_WithoutContentLength_Returns400InvalidArg()
    {
        var ack = await new HandlerHarness().SendAsync(new BitsRequest { Method = "BITS_POST", RawPath = "/x.bin", PacketType = "Ping" });
        AckAssert.IsError(ack, 400, BitsHResults.E_INVALIDARG);
        AckAssert.Reason(ack, "request.content-length-missing");
    }

    [Fact]
    public async Task Ping_WithBody_Returns400InvalidArg()
    {
        var ack = await new HandlerHarness().SendAsync(new BitsRequest { Method = "BITS_POST", RawPath = "/x.bin", PacketType = "Ping", ContentLength = 5 });
        AckAssert.IsError(ack, 400, BitsHResults.E_INVALIDARG);
        AckAssert.Reason(ack, "request.content-length-not-zero");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Ack")]
    [InlineData("Create-Sessions")]
    [InlineData("Fragment2")]
    public async Task UnknownPacketType_Returns400InvalidArg(string? packetType)
    {
        var ack = await new HandlerHarness().SendAsync(new BitsRequest { Method = "BITS_POST", RawPath = "/x.bin", PacketType = packetType, ContentLength = 0 });
        AckAssert.IsError(ack, 400, BitsHResults.E_INVALIDARG);
        AckAssert.Reason(ack, "request.packet-type-unknown");
    }

    [Fact]
    public async Task OversizedHeader_Returns400InvalidArg()
    {
        var ack = await new HandlerHarness().SendAsync(new BitsRequest
        {
            Method = "BITS_POST", RawPath = "/x.bin", PacketType = "Ping", ContentLength = 0, OversizedHeader = "X-Big",
        });
        AckAssert.IsError(ack, 400, BitsHResults.E_INVALIDARG);
        AckAssert.Reason(ack, "request.header-too-long");
    }

    [Theory]
    [InlineData("GET")]
    [InlineData("POST")]
    [InlineData("PUT")]
    public async Task OtherMethod_Returns405Ack(string method)
    {
        var ack = await new HandlerHarness().SendAsync(new BitsRequest { Method = method, RawPath = "/x.bin", PacketType = "Ping", ContentLength = 0 });
        AckAssert.IsError(ack, 405, BitsHResults.HttpError(405));
    }
}
