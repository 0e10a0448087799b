using Bits.Protocol;

namespace Bits.Testing;

/// <summary>The pending completion event on the session row and its tombstone (<see cref="IBitsEventStore"/>).</summary>
public abstract partial class BitsUploadStoreContract
{
    private IBitsEventStore Events => Assert.IsAssignableFrom<IBitsEventStore>(Store);

    /// <summary>A mark with a whole-second time (table storage keeps less precision than <see cref="DateTimeOffset"/>).</summary>
    private static BitsPendingEvent NewPendingEvent()
    {
        var now = DateTimeOffset.UtcNow;
        return new BitsPendingEvent("completions", now.AddTicks(-(now.Ticks % TimeSpan.TicksPerSecond)));
    }

    [Fact]
    public async Task PendingEvent_MarkedBeforeThePublish_IsCarriedToTheClosedTombstone_UntilCleared()
    {
        var data = SeededStream.Bytes(3000, 30);
        var pending = NewPendingEvent();
        var session = await StageAllAsync(await NewSessionAsync(total: data.Length), data, 1000);

        var marked = await Events.MarkEventPendingAsync(session, pending, pending.CompletedAt, Ct);

        Assert.Equal(pending, marked!.PendingEvent);
        Assert.Equal(pending, (await Store.GetSessionAsync(session.Id, Ct))!.PendingEvent);
        Assert.Equal(PublishResult.Published, await Store.PublishAsync(marked, allowOverwrite: false, Ct));
        var tombstone = (await Store.GetSessionAsync(session.Id, Ct))!;
        Assert.Equal(BitsSessionState.Closed, tombstone.State);
        Assert.Equal(pending, tombstone.PendingEvent);
        Assert.Contains(await DueAsync(pending.CompletedAt.AddMinutes(1)), s => s.Id == session.Id && s.State == BitsSessionState.Closed);

        await Events.ClearPendingEventAsync(tombstone, Ct);

        Assert.Null((await Store.GetSessionAsync(session.Id, Ct))!.PendingEvent);
        Assert.DoesNotContain(await DueAsync(pending.CompletedAt.AddMinutes(1)), s => s.Id == session.Id);
        Assert.Equal(data, await ReadPublishedAsync(session.Destination));
    }

    [Fact]
    public async Task PendingEvent_OnALiveRow_IsListedOnlyOnceDue_PostponedWaits_ClearedIsGone()
    {
        var pending = NewPendingEvent();
        var session = (await Events.MarkEventPendingAsync(await NewSessionAsync(total: 10), pending, pending.CompletedAt.AddMinutes(5), Ct))!;

        Assert.DoesNotContain(await DueAsync(pending.CompletedAt.AddMinutes(4)), s => s.Id == session.Id);
        var due = Assert.Single(await DueAsync(pending.CompletedAt.AddMinutes(6)), s => s.Id == session.Id);
        Assert.Equal(BitsSessionState.Open, due.State);
        Assert.Equal(pending, due.PendingEvent);

        await Events.PostponePendingEventAsync(due, pending.CompletedAt.AddMinutes(20), Ct);
        Assert.DoesNotContain(await DueAsync(pending.CompletedAt.AddMinutes(19)), s => s.Id == session.Id);
        Assert.Contains(await DueAsync(pending.CompletedAt.AddMinutes(21)), s => s.Id == session.Id);

        await Events.ClearPendingEventAsync(due, Ct);
        Assert.Null((await Store.GetSessionAsync(session.Id, Ct))!.PendingEvent);
        Assert.DoesNotContain(await DueAsync(pending.CompletedAt.AddMinutes(21)), s => s.Id == session.Id);
    }

    [Fact]
    public async Task PendingEvent_OfASessionDiscardedInsteadOfPublished_IsNotCarriedNorListed()
    {
        var destination = NewDestination();
        var existing = SeededStream.Bytes(100, 31);
        Assert.Equal(PublishResult.Published, await Store.PublishAsync(await StageAllAsync(await NewSessionAsync(destination, existing.Length), existing, 100), false, Ct));
        var data = SeededStream.Bytes(200, 32);
        var pending = NewPendingEvent();
        var session = await StageAllAsync(await NewSessionAsync(destination, data.Length), data, 100);
        var marked = (await Events.MarkEventPendingAsync(session, pending, pending.CompletedAt, Ct))!;

        Assert.Equal(PublishResult.DestinationExists, await Store.PublishAsync(marked, allowOverwrite: false, Ct));
        await Store.DiscardAsync(marked, BitsSessionState.Discarded, Ct);

        var tombstone = (await Store.GetSessionAsync(session.Id, Ct))!;
        Assert.Equal(BitsSessionState.Discarded, tombstone.State);
        Assert.Null(tombstone.PendingEvent);
        Assert.DoesNotContain(await DueAsync(pending.CompletedAt.AddMinutes(1)), s => s.Id == session.Id);
        Assert.False(await Events.IsPublishedByAsync(marked, Ct));
    }

    [Fact]
    public async Task IsPublishedBy_OnlyWhileTheDestinationCarriesTheSessionsId()
    {
        var destination = NewDestination();
        var first = SeededStream.Bytes(2000, 33);
        var a = await StageAllAsync(await NewSessionAsync(destination, first.Length), first, 1000);
        Assert.False(await Events.IsPublishedByAsync(a, Ct));

        Assert.Equal(PublishResult.Published, await Store.PublishAsync(a, allowOverwrite: true, Ct));
        Assert.True(await Events.IsPublishedByAsync(a, Ct));

        var b = await StageAllAsync(await NewSessionAsync(destination, 500), SeededStream.Bytes(500, 34), 500);
        Assert.Equal(PublishResult.Published, await Store.PublishAsync(b, allowOverwrite: true, Ct));
        Assert.False(await Events.IsPublishedByAsync(a, Ct));
        Assert.True(await Events.IsPublishedByAsync(b, Ct));
    }

    [Fact]
    public async Task MarkEventPending_OfASessionThatEnded_ReturnsNull_AndLeavesTheTombstoneUnmarked()
    {
        var session = await NewSessionAsync(total: 10);
        await Store.DiscardAsync(session, BitsSessionState.Cancelled, Ct);

        Assert.Null(await Events.MarkEventPendingAsync(session, NewPendingEvent(), DateTimeOffset.UtcNow, Ct));
        Assert.Null((await Store.GetSessionAsync(session.Id, Ct))!.PendingEvent);
    }

    private async Task<IReadOnlyList<BitsSession>> DueAsync(DateTimeOffset now) => await Events.DuePendingEventsAsync(now, 1000, Ct);
}
