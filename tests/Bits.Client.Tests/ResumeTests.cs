using Bits.Client.Tests.Infrastructure;
using static Bits.Client.Tests.Infrastructure.TestRig;

namespace Bits.Client.Tests;

public class ResumeTests
{
    [Fact]
    public async Task ResumeAsync_PartialSession_PingsProbesAndContinuesFromServerOffset()
    {
        var rig = new TestRig();
        var data = RandomBytes(60_000);
        var session = rig.Server.SeedSession(data[..25_000], data.Length);

        var result = await rig.Client.ResumeAsync(Url, session, new MemoryStream(data), ct: Ct);

        Assert.Equal(data, rig.Server.Published[session]);
        Assert.Equal(session, result.SessionId);
        Assert.Equal(0, result.SessionRestarts);
        Assert.Equal(["Ping", "Fragment", "Fragment", "Fragment", "Fragment", "Close-Session"], rig.Handler.Requests.Select(r => r.PacketType));
        Assert.Empty(rig.Handler.Packets("Create-Session"));
        Assert.Equal(
            ["bytes 0-1023/60000", "bytes 25000-41383/60000", "bytes 41384-57767/60000", "bytes 57768-59999/60000"],
            rig.Handler.Packets("Fragment").Select(f => f.ContentRange));
        Assert.All(rig.Handler.Packets("Fragment"), f => Assert.Equal(session, f.SessionId));
    }

    [Fact]
    public async Task ResumeAsync_CompletedSession_JustCloses()
    {
        var rig = new TestRig();
        rig.Server.ReplyUrl = "https://bits.example.test/replies/r1";
        var data = RandomBytes(3000);
        var session = rig.Server.SeedSession(data, data.Length);

        var result = await rig.Client.ResumeAsync(Url, session, new MemoryStream(data), ct: Ct);

        Assert.Equal(data, rig.Server.Published[session]);
        Assert.Single(rig.Handler.Packets("Fragment"));
        Assert.Equal("https://bits.example.test/replies/r1", result.ReplyUrl);
    }

    [Fact]
    public async Task ResumeAsync_UnknownSession_StartsOverWithNewSession()
    {
        var rig = new TestRig();
        var data = RandomBytes(20_000);

        var result = await rig.Client.ResumeAsync(Url, "{gone}", new MemoryStream(data), ct: Ct);

        Assert.Equal(data, rig.Server.SinglePublished);
        Assert.NotEqual("{gone}", result.SessionId);
        Assert.Equal(1, result.SessionRestarts);
        Assert.Equal(["Ping", "Fragment", "Create-Session", "Fragment", "Fragment", "Close-Session"], rig.Handler.Requests.Select(r => r.PacketType));
    }

    [Fact]
    public async Task UploadAsync_FailureThenResume_CompletesTheSameSession()
    {
        var rig = new TestRig(o => o.MaxTransientRetries = 1);
        var data = RandomBytes(50_000);
        rig.Server.Intercept = (request, _) => request.ContentRange?.StartsWith("bytes 32768-", StringComparison.Ordinal) == true ? Acks.Ack(503) : null;

        var ex = await Assert.ThrowsAsync<BitsUploadException>(() => rig.UploadAsync(data));
        Assert.Equal(32_768, ex.BytesAcknowledged);
        Assert.Empty(rig.Handler.Packets("Cancel-Session"));

        rig.Server.Intercept = null;
        var result = await rig.Client.ResumeAsync(Url, ex.SessionId!, new MemoryStream(data), ct: Ct);

        Assert.Equal(ex.SessionId, result.SessionId);
        Assert.Equal(data, rig.Server.Published[ex.SessionId!]);
    }
}
