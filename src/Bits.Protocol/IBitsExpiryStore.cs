namespace Bits.Protocol;

/// <summary>What one janitor run did.</summary>
/// <param name="ExpiredSessions">Idle sessions removed with their staged data and reply.</param>
/// <param name="ExpiredTombstones">Tombstones past their lifetime removed.</param>
/// <param name="Rescheduled">Due entries whose session had been active since, moved to their new due time.</param>
public readonly record struct BitsSweepResult(int ExpiredSessions, int ExpiredTombstones, int Rescheduled);

/// <summary>
/// Optional store capability: session expiry and per-user accounting. Designed so that a run costs in proportion
/// to what is due, not to the number of live sessions.
/// </summary>
public interface IBitsExpiryStore
{
    /// <summary>Open sessions created by <paramref name="user"/> (for the per-user session limit).</summary>
    Task<int> CountOpenSessionsAsync(string user, CancellationToken cancellationToken);

    /// <summary>
    /// Removes sessions idle for longer than <paramref name="idleTimeout"/>(session) as of <paramref name="now"/> (their
    /// staged data, reply and rows; a session removed this way then answers BG_E_SESSION_NOT_FOUND), and tombstones
    /// whose lifetime has passed. Staged data of tombstoned sessions left by a crash is removed too.
    /// </summary>
    Task<BitsSweepResult> SweepAsync(Func<BitsSession, TimeSpan> idleTimeout, DateTimeOffset now, int maxItems, CancellationToken cancellationToken);
}
