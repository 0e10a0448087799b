using System.Collections.Concurrent;

namespace Bits.Protocol;

/// <summary>
/// The immutable facts of open sessions whose file size is known (destination, container, user, size, staging layout),
/// kept per process for <see cref="BitsServerOptions.SessionCacheLifetime"/> so that a steady-state Fragment costs one
/// storage write and no read.
/// <para>
/// Nothing a session's state depends on is decided from here. A cached session is only used for one conditional
/// append at exactly the client's offset, and only for a Fragment that does not complete the upload; any other
/// outcome (a gap, a duplicate, an overlap, staging gone) forgets the entry and the packet is handled from a fresh read.
/// A published session's staging is complete or deleted, so no such append can succeed on it; Close and Cancel on this
/// instance forget the entry first. What the cache can change is confined to a session discarded (cancelled, closed
/// early, expired) on another instance, between its tombstone and the delete of its staging (milliseconds; after a
/// crash there, at most the entry's lifetime): a Fragment at the exact next offset is then answered 200 and its bytes
/// go with the discarded staging.
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
