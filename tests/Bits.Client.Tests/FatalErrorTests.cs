using Bits.Client.Tests.Infrastructure;
using static Bits.Client.Tests.Infrastructure.TestRig;

namespace Bits.Client.Tests;

public class FatalErrorTests
{
    [Fact]
    public async Task UploadAsync_403_IsFatalWithAccessDenied()
    {
        var rig = new TestRig();
        rig.Server.Intercept = (request, _) => request.PacketType == "Create-Session" ? Acks.Error(403, "0x80070005") : null;

        var ex = await Assert.ThrowsAsync<BitsUploadException>(() => rig.UploadAsync(RandomBytes(100)));

        Assert.Equal(403, ex.StatusCode);
        Assert.Equal(BitsErrorCodes.E_ACCESSDENIED, ex.ErrorCode);
        Assert.Equal("E_ACCESSDENIED", ex.ErrorName);
        Assert.Equal(5, ex.ErrorContext);
        Assert.Equal("Create-Session", ex.PacketType);
        Assert.Contains("Access is denied", ex.Message, StringComparison.Ordinal);
        Assert.Contains("403", ex.Message, StringComparison.Ordinal);
        Assert.Single(rig.Handler.Packets("Create-Session"));
    }

    [Theory]
    [InlineData(400, "0x80070057", "E_INVALIDARG")]
    [InlineData(401, null, "BG_E_HTTP_ERROR_401")]
    [InlineData(404, null, "BG_E_HTTP_ERROR_404")]
    [InlineData(501, "0x80070005", "E_ACCESSDENIED")]
    [InlineData(500, "0x80200020", "BG_E_TOO_LARGE")]
    [InlineData(302, null, "BG_E_HTTP_ERROR_302")]
    public async Task UploadAsync_FatalFragmentStatus_ThrowsWithoutRetryOrCancel(int status, string? code, string name)
    {
        var rig = new TestRig();
        rig.Server.Intercept = (request, _) => request.PacketType == "Fragment"
            ? (code is null ? Acks.Response(status, packetType: null) : Acks.Error(status, code))
            : null;

        var ex = await Assert.ThrowsAsync<BitsUploadException>(() => rig.UploadAsync(RandomBytes(100)));

        Assert.Equal(status, ex.StatusCode);
        Assert.Equal(name, ex.ErrorName);
        Assert.Equal("Fragment", ex.PacketType);
        Assert.NotNull(ex.SessionId);
        Assert.Equal(0, ex.BytesAcknowledged);
        Assert.Single(rig.Handler.Packets("Fragment"));
        Assert.Empty(rig.Handler.Packets("Cancel-Session"));
        Assert.Empty(rig.Handler.Packets("Close-Session"));
    }

    [Fact]
    public async Task UploadAsync_AckWithoutPacketType_IsInvalidServerResponse()
    {
        var rig = new TestRig();
        rig.Server.Intercept = (request, _) => request.PacketType == "Ping" ? Acks.Response(200, packetType: null) : null;

        var ex = await Assert.ThrowsAsync<BitsUploadException>(() => rig.UploadAsync(RandomBytes(100)));

        Assert.Equal(BitsErrorCodes.BG_E_INVALID_SERVER_RESPONSE, ex.ErrorCode);
        Assert.Equal("BG_E_INVALID_SERVER_RESPONSE", ex.ErrorName);
        Assert.Contains("BITS-Packet-Type", ex.Message, StringComparison.Ordinal);
        Assert.Single(rig.Handler.Requests);
    }

    [Fact]
    public async Task UploadAsync_FragmentAckWithWrongPacketType_IsInvalidServerResponse()
    {
        var rig = new TestRig();
        rig.Server.Intercept = (request, _) => request.PacketType == "Fragment" ? Acks.Response(200, "Fragment", ("BITS-Received-Content-Range", "100")) : null;

        var ex = await Assert.ThrowsAsync<BitsUploadException>(() => rig.UploadAsync(RandomBytes(100)));

        Assert.Equal("BG_E_INVALID_SERVER_RESPONSE", ex.ErrorName);
    }

    [Fact]
    public async Task UploadAsync_CreateAckWithoutSessionId_IsInvalidServerResponse()
    {
        var rig = new TestRig();
        rig.Server.Intercept = (request, _) => request.PacketType == "Create-Session" ? Acks.Ack(200, ("BITS-Protocol", Acks.ProtocolGuid)) : null;

        var ex = await Assert.ThrowsAsync<BitsUploadException>(() => rig.UploadAsync(RandomBytes(100)));

        Assert.Equal("BG_E_INVALID_SERVER_RESPONSE", ex.ErrorName);
        Assert.Contains("BITS-Session-Id", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UploadAsync_CreateAckWithOtherProtocol_IsProtocolMismatch()
    {
        var rig = new TestRig();
        rig.Server.Intercept = (request, _) => request.PacketType == "Create-Session"
            ? Acks.Ack(200, ("BITS-Protocol", "{00000000-0000-0000-0000-000000000001}"), ("BITS-Session-Id", "x"))
            : null;

        var ex = await Assert.ThrowsAsync<BitsUploadException>(() => rig.UploadAsync(RandomBytes(100)));

        Assert.Equal("BG_E_CLIENT_SERVER_PROTOCOL_MISMATCH", ex.ErrorName);
    }

    [Fact]
    public async Task UploadAsync_ProtocolGuidIsComparedCaseInsensitively()
    {
        var (client, handler) = TestRig.Scripted((request, _) => request.PacketType switch
        {
            "Create-Session" => Acks.Ack(200, ("BITS-Protocol", "{7DF0354D-249B-430F-820D-3D2A9BEF4931}"), ("BITS-Session-Id", "lower-case-id")),
            "Fragment" => Acks.Received(3),
            _ => Acks.Ack(),
        });

        var result = await client.UploadAsync(Url, new MemoryStream(new byte[3]), ct: Ct);

        Assert.Equal("lower-case-id", result.SessionId);
        Assert.Equal("lower-case-id", handler.Packets("Close-Session").Single().SessionId);
    }
}
