using Bits.Client.Tests.Infrastructure;
using static Bits.Client.Tests.Infrastructure.TestRig;

namespace Bits.Client.Tests;

public class RequestHeadersTests
{
    private static void AssertCommon(RecordedRequest request, string packetType)
    {
        Assert.Equal("BITS_POST", request.Method);
        Assert.Equal(new Version(1, 1), request.Version);
        Assert.Equal(packetType, request.PacketType);
        Assert.Equal("BitsFunctions.Client/1.0", request.Header("User-Agent"));
        Assert.Equal("*/*", request.Header("Accept"));
        Assert.NotNull(request.Header("Content-Length"));
        Assert.Equal(request.Body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), request.Header("Content-Length"));
    }

    [Fact]
    public async Task PingAsync_SendsPingWithContentLengthZero()
    {
        var rig = new TestRig();
        var ack = await rig.Client.PingAsync(Url, Ct);

        Assert.True(ack.IsSuccess);
        Assert.Equal("Ack", ack.PacketType);
        var request = Assert.Single(rig.Handler.Requests);
        AssertCommon(request, "Ping");
        Assert.Equal("0", request.Header("Content-Length"));
        Assert.Null(request.SessionId);
        Assert.Null(request.Header("BITS-Supported-Protocols"));
        Assert.Empty(request.Body);
    }

    [Fact]
    public async Task CreateSessionAsync_OffersProtocolGuidAndContentName()
    {
        var rig = new TestRig();
        var ack = await rig.Client.CreateSessionAsync(Url, "report.bin", Ct);

        Assert.True(ack.IsSuccess);
        Assert.NotNull(ack.SessionId);
        Assert.Equal(Acks.ProtocolGuid, ack.Protocol);
        var request = Assert.Single(rig.Handler.Requests);
        AssertCommon(request, "Create-Session");
        Assert.Equal("0", request.Header("Content-Length"));
        Assert.Equal("{7df0354d-249b-430f-820d-3d2a9bef4931}", request.Header("BITS-Supported-Protocols"));
        Assert.Equal("report.bin", request.Header("Content-Name"));
        Assert.Null(request.SessionId);
    }

    [Fact]
    public async Task SendFragmentAsync_SendsInclusiveContentRangeAndBody()
    {
        var rig = new TestRig();
        var session = (await rig.Client.CreateSessionAsync(Url, ct: Ct)).SessionId!;
        var data = RandomBytes(4892);

        var ack = await rig.Client.SendFragmentAsync(Url, session, data.AsMemory(0, 128), 0, 4892, "report.bin", Ct);

        Assert.Equal(200, ack.StatusCode);
        Assert.Equal(128, ack.ReceivedContentRange);
        var request = rig.Handler.Requests[^1];
        AssertCommon(request, "Fragment");
        Assert.Equal(session, request.SessionId);
        Assert.Equal("bytes 0-127/4892", request.ContentRange);
        Assert.Equal("128", request.Header("Content-Length"));
        Assert.Equal("report.bin", request.Header("Content-Name"));
        Assert.Equal(data[..128], request.Body);
    }

    [Fact]
    public async Task SendFragmentAsync_VerbatimContentRange_IsSentUnchanged()
    {
        var rig = new TestRig();
        var session = (await rig.Client.CreateSessionAsync(Url, ct: Ct)).SessionId!;

        var ack = await rig.Client.SendFragmentAsync(Url, session, new byte[] { 1, 2 }, "Bytes 0-1/2", ct: Ct);

        Assert.Equal(200, ack.StatusCode);
        Assert.Equal("Bytes 0-1/2", rig.Handler.Requests[^1].ContentRange);
    }

    [Theory]
    [InlineData("Close-Session")]
    [InlineData("Cancel-Session")]
    public async Task CloseAndCancel_SendSessionIdAndContentLengthZero(string packetType)
    {
        var rig = new TestRig();
        var session = (await rig.Client.CreateSessionAsync(Url, ct: Ct)).SessionId!;

        var ack = packetType == "Close-Session"
            ? await rig.Client.CloseSessionAsync(Url, session, Ct)
            : await rig.Client.CancelSessionAsync(Url, session, Ct);

        Assert.True(ack.IsSuccess);
        var request = rig.Handler.Requests[^1];
        AssertCommon(request, packetType);
        Assert.Equal(session, request.SessionId);
        Assert.Equal("0", request.Header("Content-Length"));
        Assert.Null(request.ContentRange);
    }

    [Fact]
    public async Task SinglePacketMethods_ReturnErrorAcksWithoutThrowing()
    {
        var rig = new TestRig();

        var ack = await rig.Client.SendFragmentAsync(Url, "{unknown}", new byte[] { 1 }, 0, 1, ct: Ct);

        Assert.Equal(500, ack.StatusCode);
        Assert.Equal(BitsErrorCodes.BG_E_SESSION_NOT_FOUND, ack.ErrorCode);
        Assert.Equal(5, ack.ErrorContext);
        Assert.False(ack.IsSuccess);
    }

    [Fact]
    public async Task UploadAsync_SendsPacketsInWindowsOrder()
    {
        var rig = new TestRig();
        await rig.UploadAsync(RandomBytes(40 * 1024), "report.bin");

        var types = rig.Handler.Requests.Select(r => r.PacketType).ToList();
        Assert.Equal(["Ping", "Create-Session", "Fragment", "Fragment", "Fragment", "Close-Session"], types);
        foreach (var request in rig.Handler.Requests)
        {
            AssertCommon(request, request.PacketType!);
        }

        var fragments = rig.Handler.Packets("Fragment").ToList();
        Assert.Equal(["bytes 0-16383/40960", "bytes 16384-32767/40960", "bytes 32768-40959/40960"], fragments.Select(f => f.ContentRange));
        Assert.All(fragments, f => Assert.Equal("report.bin", f.Header("Content-Name")));
        Assert.Single(rig.Handler.Requests.Select(r => r.SessionId).Where(s => s is not null).Distinct());
    }

    [Fact]
    public async Task UploadAsync_NonAsciiContentName_IsPercentEncoded()
    {
        var rig = new TestRig();
        await rig.UploadAsync(RandomBytes(10), "résumé ü.pdf");

        Assert.Equal("r%C3%A9sum%C3%A9 %C3%BC.pdf", rig.Handler.Packets("Create-Session").Single().Header("Content-Name"));
    }
}
