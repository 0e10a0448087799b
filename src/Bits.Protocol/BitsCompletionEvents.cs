using Microsoft.Extensions.Logging;

namespace Bits.Protocol;

/// <summary>What became of one pending completion event the janitor or a repeated Close looked at.</summary>
internal enum PendingEventOutcome
{
    /// <summary>The queue accepted the event; the mark is cleared.</summary>
    Sent,

    /// <summary>The queue failed; the mark stays for a later look.</summary>
    Failed,

    /// <summary>The session is still open and the destination is not its file: the commit has not happened (yet).</summary>
    NotPublished,

    /// <summary>A closed session whose file is gone or another session's now: not sent, the mark is cleared.</summary>
    Dropped,
}

/// <summary>
/// Completion events, at least once (docs/architecture.md, "Completion events"). Close-Session marks the pending event
/// on the session row before the commit (<see cref="MarkAsync"/>), the store carries the mark to the tombstone, and
/// <see cref="SendAsync"/> clears it once the queue accepted the message. A repeated Close and the janitor deliver what a
/// crash or a queue failure left marked, only while the destination still carries the session's id. With a store
/// without <see cref="IBitsEventStore"/> an event is sent once, best effort.
/// </summary>
internal sealed partial class BitsCompletionEvents(IBitsUploadStore store, IBitsCompletionSink? sink, TimeProvider time, ILogger logger)
{
    /// <summary>How long after the mark the janitor first looks (Close normally clears it within seconds).</summary>
    internal static readonly TimeSpan JanitorDelay = TimeSpan.FromMinutes(5);

    private IBitsEventStore? Marks => store as IBitsEventStore;

    /// <summary>Before the commit: records the event the publish will owe; the session unchanged when the area sends none.</summary>
    public async Task<BitsSession> MarkAsync(BitsSession session, BitsArea area, CancellationToken cancellationToken)
    {
        if (sink is null || string.IsNullOrEmpty(area.CompletionQueue) || Marks is not { } marks)
        {
            return session;
        }

        // A repeated Close keeps the first mark (its completedAt and its janitor listing key).
        var pending = session.PendingEvent ?? new BitsPendingEvent(area.CompletionQueue, time.GetUtcNow());
        var marked = await marks.MarkEventPendingAsync(session, pending, pending.CompletedAt + JanitorDelay, cancellationToken);

        // Null: the row ended meanwhile (a racing Close of the same session published and owns the event).
        return marked ?? session;
    }

    /// <summary>After the commit: sends the session's event and clears its mark; false (logged, mark kept) when the queue failed.</summary>
    public async Task<bool> SendAsync(BitsSession session, BitsArea area, CancellationToken cancellationToken)
    {
        var pending = session.PendingEvent;
        var queue = pending?.Queue ?? area.CompletionQueue;
        if (sink is null || string.IsNullOrEmpty(queue))
        {
            return true;
        }

        var completion = new BitsCompletionEvent(
            session.Id, session.Area ?? area.Name, session.Container, session.Destination, session.TotalLength ?? 0, session.User, session.ContentName,
            session.CreatedAt, pending?.CompletedAt ?? time.GetUtcNow());
        try
        {
            await sink.PublishAsync(queue, completion, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            if (pending is null)
            {
                Log.CompletionEventLost(logger, session.Id, queue, ex);
            }
            else
            {
                Log.CompletionEventPending(logger, session.Id, queue, ex);
            }

            return false;
        }

        if (pending is not null && Marks is { } marks)
        {
            await marks.ClearPendingEventAsync(session, cancellationToken);
        }

        return true;
    }

    /// <summary>
    /// A marked session found by a repeated Close or the janitor: sent when the destination carries its id (an open one is
    /// closed first, as its Close would have); otherwise a
    /// closed session's mark is dropped (the file the event would name is gone or another session's, whose own event
    /// describes it) and an open session's is left for its Close (the commit has not happened).
    /// </summary>
    public async Task<PendingEventOutcome> DeliverAsync(BitsSession session, BitsArea area, CancellationToken cancellationToken)
    {
        if (session.PendingEvent is not { } pending || Marks is not { } marks)
        {
            return PendingEventOutcome.Dropped;
        }

        if (!await marks.IsPublishedByAsync(session, cancellationToken))
        {
            if (session.State != BitsSessionState.Closed)
            {
                return PendingEventOutcome.NotPublished;
            }

            Log.CompletionEventDropped(logger, session.Id, pending.Queue);
            await marks.ClearPendingEventAsync(session, cancellationToken);
            return PendingEventOutcome.Dropped;
        }

        if (session.State != BitsSessionState.Closed)
        {
            // A Close that died between the commit and the tombstone: finish it first (the store sees its own publish and
            // only writes the tombstone, which carries the mark), so a later Close finds it closed and sends nothing again.
            if (await store.PublishAsync(session, area.AllowOverwrites, cancellationToken) != PublishResult.Published)
            {
                return PendingEventOutcome.NotPublished;
            }

            session = session with { State = BitsSessionState.Closed };
        }

        return await SendAsync(session, area, cancellationToken) ? PendingEventOutcome.Sent : PendingEventOutcome.Failed;
    }

    /// <summary>
    /// The janitor's part: delivers the due marked sessions, up to <paramref name="maxItems"/>; what could not be sent yet
    /// is listed again after as long as it has been pending (at least <see cref="JanitorDelay"/>), so a run always ends and
    /// a long outage costs a few looks, not one per run.
    /// </summary>
    public async Task<(int Sent, int Handled)> DeliverDueAsync(BitsAreaCatalog areas, DateTimeOffset now, int maxItems, CancellationToken cancellationToken)
    {
        if (Marks is not { } marks || sink is null)
        {
            return (0, 0);
        }

        var sent = 0;
        var due = await marks.DuePendingEventsAsync(now, maxItems, cancellationToken);
        foreach (var session in due)
        {
            var area = areas.Find(session.Area ?? BitsAreaCatalog.DefaultAreaName) ?? areas.Find(BitsAreaCatalog.DefaultAreaName)!;
            switch (await DeliverAsync(session, area, cancellationToken))
            {
                case PendingEventOutcome.Sent:
                    sent++;
                    break;
                case PendingEventOutcome.Failed or PendingEventOutcome.NotPublished:
                    var waited = now - session.PendingEvent!.CompletedAt;
                    await marks.PostponePendingEventAsync(session, now + (waited > JanitorDelay ? waited : JanitorDelay), cancellationToken);
                    break;
            }
        }

        return (sent, due.Count);
    }

    private static partial class Log
    {
        [LoggerMessage(BitsEventIds.Protocol.CompletionEventLost, LogLevel.Error, "Completion event for session {SessionId} could not be sent to queue {Queue}", EventName = "CompletionEventLost")]
        public static partial void CompletionEventLost(ILogger logger, string sessionId, string queue, Exception exception);

        [LoggerMessage(BitsEventIds.Protocol.CompletionEventPending, LogLevel.Warning, "Completion event for session {SessionId} could not be sent to queue {Queue}; it stays pending (a repeated Close or the janitor sends it)", EventName = "CompletionEventPending")]
        public static partial void CompletionEventPending(ILogger logger, string sessionId, string queue, Exception exception);

        [LoggerMessage(BitsEventIds.Protocol.CompletionEventDropped, LogLevel.Warning, "Pending completion event for session {SessionId} (queue {Queue}) not sent: its file is gone or another session's now", EventName = "CompletionEventDropped")]
        public static partial void CompletionEventDropped(ILogger logger, string sessionId, string queue);
    }
}
