using Bits.Client.Tests.Infrastructure;
using static Bits.Client.Tests.Infrastructure.TestRig;

namespace Bits.Client.Tests;

public class SessionRestartTests
{
    [Fact]
    public async Task UploadAsync_SessionNotFound_RestartsWithNewSessionFromZero()
    {
        var rig = new TestRig();
        var expired = false;
        rig.Server.Intercept = (request, _) =>
        {
            if (!expired && request.ContentRange == "bytes 32768-49151/60000")
            {
                expired = true;
                rig.Server.ExpireSession(request.SessionId!);
            }

            return null;
        };
        var data = RandomBytes(60_000);

        var result = await rig.UploadAsync(data);

        Assert.Equal(data, rig.Server.SinglePublished);
        Assert.Equal(1, result.SessionRestarts);
        Assert.Equal(
            ["Ping", "Create-Session", "Fragment", "Fragment", "Fragment", "Create-Session", "Fragment", "Fragment", "Fragment", "Fragment", "Close-Session"],
            rig.Handler.Requests.Select(r => r.PacketType));
        var sessions = rig.Handler.Packets("Fragment").Select(f => f.SessionId).Distinct().ToList();
        Assert.Equal(2, sessions.Count);
        Assert.Equal(sessions[1], result.SessionId);
        Assert.Equal("bytes 0-16383/60000", rig.Handler.Packets("Fragment").ElementAt(3).ContentRange);
        Assert.Empty(rig.Handler.Packets("Cancel-Session"));
    }

    [Fact]
    public async Task UploadAsync_SessionNotFoundTooOften_Throws()
    {
        var rig = new TestRig(o => o.MaxSessionRestarts = 2);
        rig.Server.Intercept = (request, _) => request.PacketType == "Fragment" ? Acks.Error(500, "0x8020001F") : null;

        var ex = await Assert.ThrowsAsync<BitsUploadException>(() => rig.UploadAsync(RandomBytes(100)));

        Assert.Equal("BG_E_SESSION_NOT_FOUND", ex.ErrorName);
        Assert.Equal(3, rig.Handler.Packets("Create-Session").Count());
        Assert.Equal(3, rig.Handler.Packets("Fragment").Count());
    }

    [Fact]
    public async Task UploadAsync_SessionNotFoundOnClose_AfterAllBytes_Throws()
    {
        var rig = new TestRig();
        rig.Server.Intercept = (request, _) => request.PacketType == "Close-Session" ? Acks.Error(500, "0x8020001F") : null;

        var ex = await Assert.ThrowsAsync<BitsUploadException>(() => rig.UploadAsync(RandomBytes(100)));

        Assert.Equal("BG_E_SESSION_NOT_FOUND", ex.ErrorName);
        Assert.Equal("Close-Session", ex.PacketType);
        Assert.Equal(100, ex.BytesAcknowledged);
        Assert.Single(rig.Handler.Packets("Close-Session"));
        Assert.Single(rig.Handler.Packets("Create-Session"));
    }

    [Fact]
    public async Task UploadAsync_SessionNotFoundWithoutContextOnAnyStatus_StillRestarts()
    {
        var rig = new TestRig();
        var first = true;
        rig.Server.Intercept = (request, _) =>
        {
            if (first && request.PacketType == "Fragment")
            {
                first = false;
                return Acks.Ack(500, ("BITS-Error-Code", "8020001F"));
            }

            return null;
        };
        var data = RandomBytes(100);

        var result = await rig.UploadAsync(data);

        Assert.Equal(data, rig.Server.SinglePublished);
        Assert.Equal(1, result.SessionRestarts);
        Assert.Equal(0, result.TransientRetries);
    }
}
