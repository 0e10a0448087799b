using Bits.Testing;

namespace Bits.Protocol.Tests;

public class SessionLimitTests
{
    [Fact]
    public async Task CreateSession_AboveTheUsersLimit_Returns409UntilASessionEnds()
    {
        var harness = new HandlerHarness(new BitsServerOptions { MaxSessionsPerUser = 2 });
        var first = await harness.CreateSessionAsync("/a.bin", user: "alice");
        await harness.CreateSessionAsync("/b.bin", user: "alice");

        var third = await harness.SendAsync(BitsRequests.CreateSession("/c.bin", user: "alice"));
        var otherUser = await harness.SendAsync(BitsRequests.CreateSession("/d.bin", user: "bob"));
        var anonymous = await harness.SendAsync(BitsRequests.CreateSession("/e.bin"));
        await harness.SendAsync(BitsRequests.Cancel("/a.bin", first, user: "alice"));
        var afterCancel = await harness.SendAsync(BitsRequests.CreateSession("/c.bin", user: "alice"));

        AckAssert.IsError(third, 409, BitsHResults.HttpError(409));
        AckAssert.IsAck(otherUser, 200);
        AckAssert.IsAck(anonymous, 200);
        AckAssert.IsAck(afterCancel, 200);
    }

    [Fact]
    public async Task CreateSession_LimitZero_IsUnlimited()
    {
        var harness = new HandlerHarness(new BitsServerOptions { MaxSessionsPerUser = 0 });
        for (var i = 0; i < 60; i++)
        {
            await harness.CreateSessionAsync($"/f{i}.bin", user: "alice");
        }
    }
}
