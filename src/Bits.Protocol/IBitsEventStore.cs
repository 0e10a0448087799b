namespace Bits.Protocol;

/// <summary>
/// A completion event a session owes: recorded on its row before the publish commit, carried to its tombstone, and
/// cleared once the queue accepted the message, so a crash at any step leaves the mark (at-least-once delivery).
/// </summary>
/// <param name="Queue">The queue the event goes to (the area's <c>CompletionQueue</c> when the mark was written).</param>
/// <param name="CompletedAt">When Close-Session began the publish: the event's <c>completedAt</c>, the same in every copy.</param>
public sealed record BitsPendingEvent(string Queue, DateTimeOffset CompletedAt);

/// <summary>
/// Optional store capability: completion events that survive a crash or a queue failure. A store without it fails
/// start-up when an area has a completion queue (<see cref="BitsStoreFeatures"/>); a handler built by hand over such a
/// store sends events once, best effort. The store keeps the mark (<see cref="BitsSession.PendingEvent"/>) on the
/// session row and its tombstone, and a list of marked sessions due for a look, so the janitor reads only those.
/// </summary>
public interface IBitsEventStore
{
    /// <summary>
    /// Records <paramref name="pending"/> on the open session's row and lists the session for the janitor at
    /// <paramref name="dueAt"/>. Returns the session carrying the mark; null when the row is gone (ended meanwhile).
    /// </summary>
    Task<BitsSession?> MarkEventPendingAsync(BitsSession session, BitsPendingEvent pending, DateTimeOffset dueAt, CancellationToken cancellationToken);

    /// <summary>True when the destination's committed file carries this session's id (<c>bitssessionid</c>): it published it and nobody replaced it.</summary>
    Task<bool> IsPublishedByAsync(BitsSession session, CancellationToken cancellationToken);

    /// <summary>Clears the mark (on the session row, or on the tombstone of a closed session) and its janitor listing. Idempotent.</summary>
    Task ClearPendingEventAsync(BitsSession session, CancellationToken cancellationToken);

    /// <summary>Lists the marked session again at <paramref name="dueAt"/> (a later look by the janitor).</summary>
    Task PostponePendingEventAsync(BitsSession session, DateTimeOffset dueAt, CancellationToken cancellationToken);

    /// <summary>
    /// Up to <paramref name="maxItems"/> sessions and tombstones still carrying a mark whose listing is due as of
    /// <paramref name="now"/>. Listings whose session carries no mark any more are removed on the way.
    /// </summary>
    Task<IReadOnlyList<BitsSession>> DuePendingEventsAsync(DateTimeOffset now, int maxItems, CancellationToken cancellationToken);
}
