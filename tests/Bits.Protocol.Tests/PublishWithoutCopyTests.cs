using Bits.Testing;

namespace Bits.Protocol.Tests;

/// <summary>
/// Issue 14 at the protocol level, over the in-memory store (which models staging on the destination and
/// discard-on-commit): two sessions to one name, idle sessions whose blocks may expire, empty files, sessions of the
/// earlier append-segment layout.
/// </summary>
public class PublishWithoutCopyTests
{
    private const string Path = "/up/shared.bin";

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task TwoSessionsToOneName_TheOneDiscardedByTheOthersCommit_Gets500SessionNotFound_NeverAMix(bool allowOverwrites, bool laterClosesFirst)
    {
        var harness = new HandlerHarness(new BitsServerOptions { AllowOverwrites = allowOverwrites });
        var files = new[] { SeededStream.Bytes(6000, 1), SeededStream.Bytes(6000, 2) };
        var ids = new[] { await harness.CreateSessionAsync(Path), await harness.CreateSessionAsync(Path) };
        for (var i = 0; i < 2; i++)
        {
            AckAssert.IsAck(await harness.FragmentAsync(Path, ids[i], files[i], 0, 3000), 200);
        }

        var (first, second) = laterClosesFirst ? (1, 0) : (0, 1);
        AckAssert.IsAck(await harness.FragmentAsync(Path, ids[first], files[first], 3000, 3000), 200);
        AckAssert.IsAck(await harness.SendAsync(BitsRequests.Close(Path, ids[first])), 200);

        // Its next Fragment learns it (the commit marked its record), and so does a Close that comes instead.
        AckAssert.IsError(await harness.FragmentAsync(Path, ids[second], files[second], 3000, 3000), 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
        AckAssert.IsError(await harness.SendAsync(BitsRequests.Close(Path, ids[second])), 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
        Assert.Equal(files[first], harness.Store.Published["up/shared.bin"]);
        Assert.Equal(0, harness.Store.StagedSessionCount);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CompleteSession_WhoseBlocksAnotherCommitDiscarded_CloseIs500SessionNotFound_Not400(bool allowOverwrites)
    {
        var harness = new HandlerHarness(new BitsServerOptions { AllowOverwrites = allowOverwrites });
        var files = new[] { SeededStream.Bytes(4000, 3), SeededStream.Bytes(4000, 4) };
        var ids = new[] { await harness.CreateSessionAsync(Path), await harness.CreateSessionAsync(Path) };
        for (var i = 0; i < 2; i++)
        {
            AckAssert.IsAck(await harness.FragmentAsync(Path, ids[i], files[i], 0, 4000), 200);
        }

        AckAssert.IsAck(await harness.SendAsync(BitsRequests.Close(Path, ids[1])), 200);
        var ack = await harness.SendAsync(BitsRequests.Close(Path, ids[0]));

        AckAssert.IsError(ack, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
        Assert.Equal(files[1], harness.Store.Published["up/shared.bin"]);
    }

    [Fact]
    public async Task SessionIdleForMoreThanSixDays_Fragment_Is500SessionNotFound_AndItsDataIsGone()
    {
        var harness = new HandlerHarness(new BitsServerOptions { SessionCacheLifetime = TimeSpan.Zero });
        var file = SeededStream.Bytes(4000, 5);
        var id = await harness.CreateSessionAsync(Path);
        AckAssert.IsAck(await harness.FragmentAsync(Path, id, file, 0, 2000), 200);

        harness.Time.Advance(TimeSpan.FromDays(6) + TimeSpan.FromMinutes(1));
        var ack = await harness.FragmentAsync(Path, id, file, 2000, 2000);

        AckAssert.IsError(ack, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
        Assert.Equal(0, harness.Store.StagedSessionCount);
        Assert.Empty(harness.Store.ListedBlobs);
    }

    [Fact]
    public async Task SessionIdleForMoreThanSixDays_Close_Is500SessionNotFound_AndPublishesNothing()
    {
        var harness = new HandlerHarness();
        var file = SeededStream.Bytes(4000, 6);
        var id = await harness.CreateSessionAsync(Path);
        AckAssert.IsAck(await harness.FragmentAsync(Path, id, file, 0, 4000), 200);

        harness.Time.Advance(TimeSpan.FromDays(6) + TimeSpan.FromMinutes(1));

        AckAssert.IsError(await harness.SendAsync(BitsRequests.Close(Path, id)), 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
        Assert.Empty(harness.Store.Published);
    }

    [Fact]
    public async Task SessionActiveWithinSixDays_KeepsGoing()
    {
        var harness = new HandlerHarness(new BitsServerOptions { SessionCacheLifetime = TimeSpan.Zero });
        var file = SeededStream.Bytes(4000, 7);
        var id = await harness.CreateSessionAsync(Path);
        AckAssert.IsAck(await harness.FragmentAsync(Path, id, file, 0, 2000), 200);
        harness.Time.Advance(TimeSpan.FromDays(5));
        AckAssert.IsAck(await harness.FragmentAsync(Path, id, file, 2000, 1000), 200);
        harness.Time.Advance(TimeSpan.FromDays(5));
        AckAssert.IsAck(await harness.FragmentAsync(Path, id, file, 3000, 1000), 200);

        AckAssert.IsAck(await harness.SendAsync(BitsRequests.Close(Path, id)), 200);
        Assert.Equal(file, harness.Store.Published["up/shared.bin"]);
    }

    [Fact]
    public async Task Close_OfASessionThatReceivedNoFragment_PublishesAnEmptyFile()
    {
        // Rule 6a.13 (MC-BUP <24>): in an area without notification the request entity exists from Create-Session.
        var harness = new HandlerHarness();
        var id = await harness.CreateSessionAsync(Path);

        AckAssert.IsAck(await harness.SendAsync(BitsRequests.Close(Path, id)), 200);

        Assert.Empty(harness.Store.Published["up/shared.bin"]);
        AckAssert.IsAck(await harness.SendAsync(BitsRequests.Close(Path, id)), 200);
    }

    [Fact]
    public async Task RetransmitOfAStoredFragment_IsAnsweredWithoutStagingAgain()
    {
        var harness = new HandlerHarness();
        var file = SeededStream.Bytes(6000, 8);
        var id = await harness.CreateSessionAsync(Path);
        AckAssert.IsAck(await harness.FragmentAsync(Path, id, file, 0, 3000), 200);
        var staged = harness.Store.BlocksStaged;

        AckAssert.Received(await harness.FragmentAsync(Path, id, file, 0, 3000), 3000);

        Assert.Equal(staged, harness.Store.BlocksStaged);
    }
}
