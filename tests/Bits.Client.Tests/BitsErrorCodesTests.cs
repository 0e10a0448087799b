namespace Bits.Client.Tests;

public class BitsErrorCodesTests
{
    [Theory]
    [InlineData(0x8020001Fu, "BG_E_SESSION_NOT_FOUND", "does not know the upload session")]
    [InlineData(0x80200020u, "BG_E_TOO_LARGE", "larger than the server accepts")]
    [InlineData(0x80070057u, "E_INVALIDARG", "rejected the request as invalid")]
    [InlineData(0x80070005u, "E_ACCESSDENIED", "Access is denied")]
    [InlineData(0x80004005u, "E_FAIL", "unspecified error")]
    [InlineData(0x8020001Bu, "BG_E_INVALID_SERVER_RESPONSE", "not a valid BITS Ack")]
    [InlineData(0x80200022u, "BG_E_CLIENT_SERVER_PROTOCOL_MISMATCH", "no BITS upload protocol")]
    [InlineData(0x80070070u, "ERROR_DISK_FULL", "out of storage space")]
    public void Describe_MainCodes_HaveNameHexAndSentence(uint code, string name, string words)
    {
        Assert.Equal(name, BitsErrorCodes.Name(code));
        var text = BitsErrorCodes.Describe(code);
        Assert.StartsWith(name + " (0x" + code.ToString("X8", System.Globalization.CultureInfo.InvariantCulture) + "): ", text, StringComparison.Ordinal);
        Assert.Contains(words, text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0x801901F4u, "BG_E_HTTP_ERROR_500", "HTTP 500 Internal Server Error")]
    [InlineData(0x80190193u, "BG_E_HTTP_ERROR_403", "HTTP 403 Forbidden")]
    [InlineData(0x801901A0u, "BG_E_HTTP_ERROR_416", "HTTP 416 Range Not Satisfiable")]
    [InlineData(0x801901F7u, "BG_E_HTTP_ERROR_503", "HTTP 503 Service Unavailable")]
    [InlineData(0x801901C3u, "BG_E_HTTP_ERROR_451", "HTTP 451.")]
    public void Describe_HttpErrors(uint code, string name, string words)
    {
        Assert.Equal(name, BitsErrorCodes.Name(code));
        Assert.Contains(words, BitsErrorCodes.Describe(code), StringComparison.Ordinal);
    }

    [Fact]
    public void HttpError_AddsStatusToBase()
    {
        Assert.Equal(0x801901F4u, BitsErrorCodes.HttpError(500));
        Assert.Equal(0x80190190u, BitsErrorCodes.HttpError(400));
        Assert.True(BitsErrorCodes.TryGetHttpStatus(0x801901F5u, out var status));
        Assert.Equal(501, status);
        Assert.False(BitsErrorCodes.TryGetHttpStatus(0x80190000u, out _));
    }

    [Fact]
    public void Describe_UnknownCodes_StillSaySomething()
    {
        Assert.Null(BitsErrorCodes.Name(0x87654321));
        Assert.Equal("0x87654321: an unknown error code.", BitsErrorCodes.Describe(0x87654321));
        Assert.Equal("0x80070020: Windows error 32 reported by the server.", BitsErrorCodes.Describe(0x80070020));
        Assert.Equal("S_OK (0x00000000): No error.", BitsErrorCodes.Describe(0));
    }
}
