using System.Collections.Concurrent;

namespace Bits.Protocol;

/// <summary>
/// The open sessions this instance stored Fragments for (destination, container, user, size, and the received length
/// and record version its own last write produced), kept per process for <see cref="BitsServerOptions.SessionCacheLifetime"/>
/// so that a steady-state Fragment costs its two writes (the block and the record) and no read.
/// <para>
/// Nothing a session's state depends on is decided from here. A cached session is only used for one stage at exactly
/// the cached received length, conditional on the cached record version, and only for a Fragment that does not
/// complete the upload. If anything else wrote the record since (another instance, a Close, a Cancel, another
/// session's commit marking it discarded), the version condition fails, nothing is recorded, and the packet is handled
/// from a fresh read; so is any other case (a gap, a duplicate, an overlap, the last Fragment). Close and Cancel on this
/// instance forget the entry first. The only cost of a stale entry is a block staged for nothing on a destination, which
/// the next commit or storage's 7-day expiry removes (and which a Fragment after the session ended cleans up at once).
/// </para>
/// </summary>
public sealed class BitsSessionCache
{
    /// <summary>Most sessions remembered at once; beyond that new sessions are not cached until entries expire.</summary>
    public const int Capacity = 4096;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

    public BitsSessionCache(TimeSpan lifetime, TimeProvider time)
    {
        Lifetime = lifetime;
        _time = time;
    }

    /// <summary>How long an entry is used after it was read from storage; zero turns the cache off.</summary>
    public TimeSpan Lifetime { get; }

    /// <summary>Sessions remembered now (including expired entries not yet dropped). Takes the dictionary's locks: for
    /// the rare path only (remembering a session once per lifetime).</summary>
    public int Count => _entries.Count;

    /// <summary>The remembered session with this (normalised) id, if it has not expired.</summary>
    public bool TryGet(string sessionId, out BitsSession session)
    {
        if (_entries.TryGetValue(sessionId, out var entry))
        {
            if (entry.Expires > _time.GetUtcNow())
            {
                session = entry.Session;
                return true;
            }

            Remove(sessionId, entry);
        }

        session = null!;
        return false;
    }

    /// <summary>Remembers a session just read from storage, when it is open and its file size is known.</summary>
    public void Remember(BitsSession session)
    {
        if (Lifetime <= TimeSpan.Zero || session.State != BitsSessionState.Open || session.TotalLength is null)
        {
            return;
        }

        var now = _time.GetUtcNow();
        if (Count >= Capacity && !_entries.ContainsKey(session.Id))
        {
            DropExpired(now);
            if (Count >= Capacity)
            {
                return;
            }
        }

        _entries[session.Id] = new Entry(session, now + Lifetime);
    }

    /// <summary>
    /// Replaces a remembered session by the version this instance just wrote (its received length and version after a
    /// stored Fragment), keeping the entry's expiry: a hit never extends an entry. A session not remembered (or whose
    /// entry expired) is remembered afresh.
    /// </summary>
    public void Update(BitsSession session)
    {
        if (_entries.TryGetValue(session.Id, out var entry) && entry.Expires > _time.GetUtcNow())
        {
            _entries.TryUpdate(session.Id, entry with { Session = session }, entry);
            return;
        }

        Remember(session);
    }

    /// <summary>Forgets a session (Close, Cancel, or an append that did not go as the cache expected).</summary>
    public void Forget(string sessionId) => _entries.TryRemove(sessionId, out _);

    private void DropExpired(DateTimeOffset now)
    {
        foreach (var (id, entry) in _entries)
        {
            if (entry.Expires <= now)
            {
                Remove(id, entry);
            }
        }
    }

    private void Remove(string id, Entry entry) => _entries.TryRemove(new KeyValuePair<string, Entry>(id, entry));

    private sealed record Entry(BitsSession Session, DateTimeOffset Expires);
}
