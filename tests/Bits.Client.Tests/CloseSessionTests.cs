using Bits.Client.Tests.Infrastructure;
using static Bits.Client.Tests.Infrastructure.TestRig;

namespace Bits.Client.Tests;

public class CloseSessionTests
{
    [Fact]
    public async Task UploadAsync_Close500EFail_IsRetried()
    {
        var rig = new TestRig();
        var failures = 0;
        rig.Server.Intercept = (request, _) => request.PacketType == "Close-Session" && failures++ < 2 ? Acks.Error(500, "0x80004005") : null;
        var data = RandomBytes(100);

        var result = await rig.UploadAsync(data);

        Assert.Equal(data, rig.Server.SinglePublished);
        Assert.Equal(3, rig.Handler.Packets("Close-Session").Count());
        Assert.Equal(2, result.TransientRetries);
    }

    [Fact]
    public async Task UploadAsync_CloseAckLost_RetryAnsweredFromTombstone()
    {
        var rig = new TestRig();
        var lost = false;
        rig.Server.Intercept = (request, _) =>
        {
            if (!lost && request.PacketType == "Close-Session")
            {
                lost = true;
                rig.Server.Handle(request); // the server closed the session, but the Ack never arrived
                throw new HttpRequestException("connection reset");
            }

            return null;
        };
        var data = RandomBytes(100);

        var result = await rig.UploadAsync(data);

        Assert.Equal(data, rig.Server.SinglePublished);
        Assert.Equal(2, rig.Handler.Packets("Close-Session").Count());
        Assert.Equal(0, result.SessionRestarts);
    }

    [Fact]
    public async Task UploadAsync_Close400_IsFatal()
    {
        var rig = new TestRig();
        rig.Server.Intercept = (request, _) => request.PacketType == "Close-Session" ? Acks.Error(400, "0x80070057") : null;

        var ex = await Assert.ThrowsAsync<BitsUploadException>(() => rig.UploadAsync(RandomBytes(100)));

        Assert.Equal("E_INVALIDARG", ex.ErrorName);
        Assert.Equal("Close-Session", ex.PacketType);
        Assert.Single(rig.Handler.Packets("Close-Session"));
    }

    [Fact]
    public async Task UploadAsync_ReplyUrlOnFinalAck_IsKeptAndNotFetched()
    {
        var rig = new TestRig();
        rig.Server.ReplyUrl = "https://bits.example.test/replies/abc";
        var data = RandomBytes(40_000);

        var result = await rig.UploadAsync(data);

        Assert.Equal("https://bits.example.test/replies/abc", result.ReplyUrl);
        Assert.All(rig.Handler.Requests, r => Assert.Equal("BITS_POST", r.Method));
        Assert.Equal("Close-Session", rig.Handler.Requests[^1].PacketType);
    }
}
