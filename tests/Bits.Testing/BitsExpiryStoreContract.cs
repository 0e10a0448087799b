using Bits.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace Bits.Testing;

/// <summary>
/// The behaviour every <see cref="IBitsExpiryStore"/> must show: idle sessions and old tombstones go, with their staged
/// data, active sessions stay, and a user's open sessions are counted. The store runs on <see cref="Time"/>, with
/// <see cref="Timeout"/> as its session timeout and <see cref="TombstoneLifetime"/>. The clock starts at the real time
/// and only moves forward: the Azure store takes a session's last activity from storage's own timestamp.
/// </summary>
public abstract class BitsExpiryStoreContract : BitsStoreContract
{
    protected static readonly TimeSpan Timeout = TimeSpan.FromHours(1);
    protected static readonly TimeSpan TombstoneLifetime = TimeSpan.FromHours(2);

    protected FakeTimeProvider Time { get; } = new(DateTimeOffset.UtcNow);

    protected override DateTimeOffset Now => Time.GetUtcNow();

    private IBitsExpiryStore Expiry => Assert.IsAssignableFrom<IBitsExpiryStore>(Store);

    private Task<BitsSweepResult> SweepAsync() => Expiry.SweepAsync(_ => Timeout, Time.GetUtcNow(), maxItems: 100, Ct);

    [Fact]
    public async Task Sweep_IdleSession_GoesAfterTheTimeoutWithItsStagedData_AndNotBefore()
    {
        var session = await NewSessionAsync(total: 3000);
        session = await StageAllAsync(session, SeededStream.Bytes(3000, 70), 1000, upTo: 1000);

        Time.Advance(Timeout - TimeSpan.FromMinutes(1));
        var early = await SweepAsync();
        var stillThere = await Store.GetSessionAsync(session.Id, Ct);
        Time.Advance(TimeSpan.FromMinutes(2));
        var due = await SweepAsync();

        Assert.Equal(default, early);
        Assert.NotNull(stillThere);
        Assert.Equal(new BitsSweepResult(1, 0, 0), due);
        Assert.Null(await Store.GetSessionAsync(session.Id, Ct));
        Assert.Equal(0, await CountStagedAsync(session));
        Assert.Equal(0, await Expiry.CountOpenSessionsAsync("alice", Ct));
        Assert.Equal(default, await SweepAsync());
    }

    [Fact]
    public async Task Sweep_SessionActiveAfterItsCreation_OutlivesTheTimeoutFromCreation_ThenGoes()
    {
        // Created 50 minutes ago; a Fragment arrives now.
        var session = await NewSessionAsync(total: 3000, createdAt: Time.GetUtcNow() - TimeSpan.FromMinutes(50));
        session = await StageAllAsync(session, SeededStream.Bytes(3000, 71), 1000, upTo: 1000);

        Time.Advance(Timeout - TimeSpan.FromMinutes(49)); // an hour and a minute after the creation
        var first = await SweepAsync();
        var stillThere = await Store.GetSessionAsync(session.Id, Ct);
        Time.Advance(Timeout);
        var second = await SweepAsync();

        Assert.Equal(0, first.ExpiredSessions);
        Assert.Equal(1000, stillThere?.ReceivedLength);
        Assert.Equal(1, second.ExpiredSessions);
        Assert.Null(await Store.GetSessionAsync(session.Id, Ct));
        Assert.Equal(0, await CountStagedAsync(session));
    }

    [Fact]
    public async Task Sweep_Tombstone_StaysForItsLifetime_ThenGoes()
    {
        var session = await NewSessionAsync(total: 3000);
        await Store.DiscardAsync(session, BitsSessionState.Cancelled, Ct);

        Time.Advance(Timeout + TimeSpan.FromMinutes(1)); // past the session's own timeout, within the tombstone's lifetime
        var first = await SweepAsync();
        var kept = await Store.GetSessionAsync(session.Id, Ct);
        Time.Advance(TombstoneLifetime);
        var second = await SweepAsync();

        Assert.Equal((0, 0), (first.ExpiredSessions, first.ExpiredTombstones));
        Assert.Equal(BitsSessionState.Cancelled, kept?.State);
        Assert.Equal((0, 1), (second.ExpiredSessions, second.ExpiredTombstones));
        Assert.Null(await Store.GetSessionAsync(session.Id, Ct));
    }

    [Fact]
    public async Task CountOpenSessions_GoesUpAtCreateAndDownAtCloseAndCancel()
    {
        var user = "DOMAIN\\alice' or PartitionKey ne '"; // user text is data, never syntax
        var data = SeededStream.Bytes(500, 72);

        var closing = await NewSessionAsync(total: data.Length, user: user);
        var cancelling = await NewSessionAsync(user: user);
        await NewSessionAsync(user: "bob");
        await NewSessionAsync(user: null);
        var afterCreate = await Expiry.CountOpenSessionsAsync(user, Ct);
        closing = await StageAllAsync(closing, data, data.Length);
        Assert.Equal(PublishResult.Published, await Store.PublishAsync(closing, allowOverwrite: false, Ct));
        var afterClose = await Expiry.CountOpenSessionsAsync(user, Ct);
        await Store.DiscardAsync(cancelling, BitsSessionState.Cancelled, Ct);
        var afterCancel = await Expiry.CountOpenSessionsAsync(user, Ct);

        Assert.Equal(2, afterCreate);
        Assert.Equal(1, afterClose);
        Assert.Equal(0, afterCancel);
        Assert.Equal(1, await Expiry.CountOpenSessionsAsync("bob", Ct));
        Assert.Equal(0, await Expiry.CountOpenSessionsAsync("carol", Ct));
    }
}
