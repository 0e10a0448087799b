using System.Net;
using Bits.Client.Tests.Infrastructure;

namespace Bits.Client.Tests;

public class BitsAckTests
{
    [Theory]
    [InlineData("0x8020001F", 0x8020001Fu)]
    [InlineData("0X8020001f", 0x8020001Fu)]
    [InlineData("8020001F", 0x8020001Fu)]
    [InlineData("80070005", 0x80070005u)]
    [InlineData("2149580831", 0x8020001Fu)]
    [InlineData("-2145386465", 0x8020001Fu)]
    [InlineData(" 0x0 ", 0u)]
    [InlineData("0", 0u)]
    [InlineData("5", 5u)]
    public void TryParseHResult_AcceptsHexDecimalAndSigned(string text, uint expected)
    {
        Assert.True(BitsAck.TryParseHResult(text, out var value));
        Assert.Equal(expected, value);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("0x")]
    [InlineData("E_FAIL")]
    [InlineData("0x1FFFFFFFF")]
    public void TryParseHResult_RejectsGarbage(string? text)
        => Assert.False(BitsAck.TryParseHResult(text, out _));

    [Theory]
    [InlineData("0x5", 5)]
    [InlineData("0x00000007", 7)]
    [InlineData("5", 5)]
    [InlineData("0X7", 7)]
    public void TryParseErrorContext(string text, int expected)
    {
        Assert.True(BitsAck.TryParseErrorContext(text, out var value));
        Assert.Equal(expected, value);
    }

    [Fact]
    public void FromResponse_ReadsAllBitsHeaders_CaseInsensitively()
    {
        using var response = Acks.Ack(
            416,
            ("bits-received-content-range", "4892"),
            ("BITS-SESSION-ID", "{A0FF5911-4144-45B3-BF27-27AFC8EC8A67}"),
            ("BITS-Protocol", Acks.ProtocolGuid),
            ("BITS-Error-Code", "0x0"),
            ("BITS-Error-Context", "0x5"),
            ("BITS-Reply-URL", "https://x/reply"),
            ("BITS-Host-Id", "node7"));

        var ack = BitsAck.FromResponse(response);

        Assert.Equal(416, ack.StatusCode);
        Assert.Equal("Ack", ack.PacketType);
        Assert.True(ack.IsAckPacket);
        Assert.False(ack.IsSuccess);
        Assert.Equal(4892, ack.ReceivedContentRange);
        Assert.Equal("{A0FF5911-4144-45B3-BF27-27AFC8EC8A67}", ack.SessionId);
        Assert.Equal(Acks.ProtocolGuid, ack.Protocol);
        Assert.Equal(0u, ack.ErrorCode);
        Assert.Equal(5, ack.ErrorContext);
        Assert.Equal("https://x/reply", ack.ReplyUrl);
        Assert.Equal("node7", ack.HostId);
        Assert.Equal("4892", ack.Headers["Bits-Received-Content-Range"]);
        Assert.Equal("0", ack.Headers["content-length"]);
        Assert.Equal(BitsErrorCodes.HttpError(416), ack.EffectiveErrorCode);
    }

    [Fact]
    public void Ack_AcceptsMcBupBitsErrorHeaderName()
    {
        var ack = new BitsAck(500, [KeyValuePair.Create("BITS-Error", "0x80200020")]);

        Assert.Equal(BitsErrorCodes.BG_E_TOO_LARGE, ack.ErrorCode);
        Assert.Equal(BitsErrorCodes.BG_E_TOO_LARGE, ack.EffectiveErrorCode);
    }

    [Theory]
    [InlineData(200, true)]
    [InlineData(201, true)]
    [InlineData(204, false)]
    [InlineData(416, false)]
    public void IsSuccess_Only200And201(int status, bool success)
        => Assert.Equal(success, new BitsAck(status, []).IsSuccess);

    [Theory]
    [InlineData("bytes 5")]
    [InlineData("-1")]
    [InlineData("")]
    public void ReceivedContentRange_NotPlainDecimal_IsNull(string value)
        => Assert.Null(new BitsAck(200, [KeyValuePair.Create("BITS-Received-Content-Range", value)]).ReceivedContentRange);

    [Fact]
    public void ToString_DescribesStatusAndError()
    {
        var ack = new BitsAck((int)HttpStatusCode.Forbidden, [KeyValuePair.Create("BITS-Error-Code", "0x80070005"), KeyValuePair.Create("BITS-Error-Context", "0x5")], "Forbidden");

        Assert.Equal("HTTP 403 Forbidden, BITS-Error-Code 0x80070005 E_ACCESSDENIED, context 0x5", ack.ToString());
    }
}
