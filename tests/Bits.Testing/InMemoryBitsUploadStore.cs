using Bits.Protocol;

namespace Bits.Testing;

/// <summary>
/// A thread-safe in-memory <see cref="IBitsUploadStore"/> for fast unit tests of the protocol core. It models the
/// storage the Azure store relies on (docs/architecture.md, "Storage design"): every Fragment is a block staged on the
/// destination blob (or on the session's own blob with <see cref="BitsSession.PrivateStaging"/>), named by session and
/// byte range; a session record holds the received length with a version; a commit publishes one session's chain of
/// blocks atomically and deletes every uncommitted block on that blob, including other sessions' (discard-on-commit),
/// whose records it marks discarded. It passes the same contract suite as the Azure store, and implements
/// <see cref="IBitsExpiryStore"/>: a session's last activity is its creation or its last stored Fragment (by
/// <see cref="TimeProvider"/>), a tombstone expires <c>tombstoneLifetime</c> after it was written. It implements
/// <see cref="IBitsEventStore"/>: the pending event is kept on the record, moved to a Closed tombstone, and listed for the
/// janitor until cleared.
/// </summary>
/// <param name="time">Clock for last activity and tombstone expiry; <see cref="TimeProvider.System"/> when null.</param>
/// <param name="tombstoneLifetime">How long tombstones last (<see cref="BitsServerOptions.TombstoneLifetime"/>); 14 days when null.</param>
public sealed class InMemoryBitsUploadStore(TimeProvider? time = null, TimeSpan? tombstoneLifetime = null) : IBitsUploadStore, IBitsExpiryStore, IBitsEventStore
{
    private const string Layout = "blocks";

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _sessions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Blob> _blobs = new(StringComparer.Ordinal);
    private readonly HashSet<string> _overwritten = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _eventsDue = new(StringComparer.Ordinal);
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly TimeSpan _tombstoneLifetime = tombstoneLifetime ?? new BitsServerOptions().TombstoneLifetime;
    private long _version;

    /// <summary>Published files by destination name.</summary>
    public IReadOnlyDictionary<string, byte[]> Published
    {
        get
        {
            lock (_gate)
            {
                return _blobs.Where(b => b.Value.Committed is not null && !b.Key.StartsWith(PrivatePrefix, StringComparison.Ordinal))
                    .ToDictionary(b => b.Key, b => b.Value.Committed!, StringComparer.Ordinal);
            }
        }
    }

    /// <summary>Number of sessions that still hold staged data (uncommitted blocks, or a blob of their own).</summary>
    public int StagedSessionCount
    {
        get
        {
            lock (_gate)
            {
                return _blobs.SelectMany(b => b.Value.Uncommitted.Values.Select(block => block.SessionId))
                    .Concat(_blobs.Where(b => b.Key.StartsWith(PrivatePrefix, StringComparison.Ordinal)).Select(b => b.Key))
                    .Distinct(StringComparer.Ordinal).Count();
            }
        }
    }

    /// <summary>Blobs a listing with uncommitted blobs included would show: published ones and uncommitted-only ones.</summary>
    public IReadOnlyList<string> ListedBlobs
    {
        get
        {
            lock (_gate)
            {
                return _blobs.Keys.Order(StringComparer.Ordinal).ToList();
            }
        }
    }

    /// <summary>Stage (Put Block) calls so far, including those whose record write then failed.</summary>
    public int BlocksStaged { get; private set; }

    private static string PrivatePrefix => "private:";

    /// <summary>The bytes a session has recorded as received, read from its staged blocks (empty when it holds none).</summary>
    public byte[] StagedBytes(string sessionId)
    {
        lock (_gate)
        {
            if (!_sessions.TryGetValue(sessionId, out var entry) || entry.IsTombstone || !_blobs.TryGetValue(BlobKey(entry.Session), out var blob))
            {
                return [];
            }

            var chain = Chain(blob, sessionId, entry.Session.ReceivedLength);
            return chain is null ? [] : chain.SelectMany(b => b.Data).ToArray();
        }
    }

    /// <summary>Uncommitted blocks the session still has anywhere, plus its own blob if it exists.</summary>
    public int StagedItems(BitsSession session)
    {
        lock (_gate)
        {
            return _blobs.Values.Sum(b => b.Uncommitted.Values.Count(block => block.SessionId == session.Id))
                + (_blobs.ContainsKey(PrivatePrefix + session.Id) ? 1 : 0);
        }
    }

    /// <summary>Whether the live session record (not a tombstone) exists.</summary>
    public bool HasLiveRecord(string sessionId)
    {
        lock (_gate)
        {
            return _sessions.TryGetValue(sessionId, out var entry) && !entry.IsTombstone;
        }
    }

    /// <summary>Adds a file as if another upload had published it.</summary>
    public void Seed(string destination, byte[] content, string? container = null)
    {
        lock (_gate)
        {
            var blob = BlobFor(Key(container, destination));
            blob.Committed = content;
            blob.CommittedBy = null;
            blob.ETag++;
            blob.Uncommitted.Clear();
        }
    }

    /// <summary>Key of <see cref="Published"/>: the name in the default container, else <c>container:name</c>.</summary>
    public static string Key(string? container, string destination) => container is null ? destination : container + ":" + destination;

    public Task CreateSessionAsync(BitsSession session, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var stored = session with { Version = NextVersion(), StoreState = Layout, ReceivedLength = 0, LastActivity = session.CreatedAt };
            if (!_sessions.TryAdd(session.Id, new Entry(stored)))
            {
                throw new InvalidOperationException($"Session {session.Id} already exists.");
            }
        }

        return Task.CompletedTask;
    }

    public Task<BitsSession?> GetSessionAsync(string sessionId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            // Like the Azure store: a tombstone past its lifetime is not answered any more, swept or not.
            return Task.FromResult(_sessions.TryGetValue(sessionId, out var entry) && !(entry.ExpiresAt <= _time.GetUtcNow()) ? entry.Session : null);
        }
    }

    public Task<BitsSession?> TrySetTotalLengthAsync(BitsSession session, long totalLength, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_sessions.TryGetValue(session.Id, out var entry) || entry.IsTombstone || entry.Session.Version != session.Version
                || entry.Session.State != BitsSessionState.Open || entry.Session.TotalLength is not null)
            {
                return Task.FromResult<BitsSession?>(null);
            }

            var updated = entry.Session with { TotalLength = totalLength, ContentName = entry.Session.ContentName ?? session.ContentName, Version = NextVersion() };
            _sessions[session.Id] = entry with { Session = updated };
            return Task.FromResult<BitsSession?>(updated);
        }
    }

    public Task<BitsSession?> StageAsync(BitsSession session, long offset, ReadOnlyMemory<byte> data, bool alreadyStaged, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (session.StoreState != Layout)
            {
                throw new BitsSessionGoneException($"Session {session.Id} was staged by an earlier version.");
            }

            if (!alreadyStaged && !data.IsEmpty)
            {
                // Put Block succeeds whatever the session record says (also after another session's commit).
                BlocksStaged++;
                BlobFor(BlobKey(session)).Uncommitted[BlockId(session.Id, offset, data.Length)] = new Block(session.Id, offset, data.ToArray());
            }

            // The record write, conditional on the version the caller knows (a missing live record is a 404 in Azure).
            if (!_sessions.TryGetValue(session.Id, out var entry) || entry.IsTombstone)
            {
                // Ended meanwhile: a block staged after its clean-up must not stay listed.
                CleanUp(session);
                return Task.FromResult<BitsSession?>(null);
            }

            if (entry.Session.Version != session.Version)
            {
                return Task.FromResult<BitsSession?>(null);
            }

            var updated = entry.Session with { ReceivedLength = offset + data.Length, Version = NextVersion(), LastActivity = _time.GetUtcNow() };
            _sessions[session.Id] = entry with { Session = updated };
            return Task.FromResult<BitsSession?>(updated);
        }
    }

    public Task<bool> DestinationExistsAsync(string? container, string destination, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_blobs.TryGetValue(Key(container, destination), out var blob) && blob.Committed is not null);
        }
    }

    public Task<PublishResult> PublishAsync(BitsSession session, bool allowOverwrite, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (session.StoreState != Layout)
            {
                throw new BitsSessionGoneException($"Session {session.Id} was staged by an earlier version.");
            }

            if (!_sessions.ContainsKey(session.Id))
            {
                throw new InvalidOperationException($"Session {session.Id} does not exist.");
            }

            var key = Key(session.Container, session.Destination);
            var destination = BlobFor(key);
            if (destination.CommittedBy == session.Id || _overwritten.Contains(session.Id))
            {
                Finish(session);
                return Task.FromResult(PublishResult.Published);
            }

            var source = _blobs.GetValueOrDefault(BlobKey(session));
            var chain = source is null ? null : Chain(source, session.Id, session.TotalLength ?? 0);
            if (chain is null)
            {
                EndSession(session, BitsSessionState.Discarded);
                return Task.FromResult(PublishResult.Discarded);
            }

            var exists = destination.Committed is not null;
            if (exists && !allowOverwrite)
            {
                DropIfEmpty(key);
                return Task.FromResult(PublishResult.DestinationExists);
            }

            if (destination.CommittedBy is { } previous)
            {
                _overwritten.Add(previous);
            }

            // The commit: atomic, and every uncommitted block on the blob is gone with it, whoever staged it.
            destination.Committed = chain.SelectMany(b => b.Data).ToArray();
            destination.CommittedBy = session.Id;
            destination.ETag++;
            destination.Uncommitted.Clear();
            foreach (var (id, other) in _sessions.ToList())
            {
                if (id != session.Id && !other.IsTombstone && !other.Session.PrivateStaging && other.Session.State == BitsSessionState.Open
                    && Key(other.Session.Container, other.Session.Destination) == key)
                {
                    _sessions[id] = other with { Session = other.Session with { State = BitsSessionState.Discarded, Version = NextVersion() } };
                }
            }

            Finish(session);
            return Task.FromResult(PublishResult.Published);
        }
    }

    public Task DiscardAsync(BitsSession session, BitsSessionState finalState, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_sessions.TryGetValue(session.Id, out var entry) && !entry.IsTombstone)
            {
                EndSession(entry.Session, finalState);
            }
        }

        return Task.CompletedTask;
    }

    public Task<BitsSession?> MarkEventPendingAsync(BitsSession session, BitsPendingEvent pending, DateTimeOffset dueAt, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _eventsDue[session.Id] = dueAt;
            if (!_sessions.TryGetValue(session.Id, out var entry) || entry.IsTombstone)
            {
                return Task.FromResult<BitsSession?>(null);
            }

            var marked = entry.Session with { PendingEvent = pending, Version = NextVersion() };
            _sessions[session.Id] = entry with { Session = marked };
            return Task.FromResult<BitsSession?>(marked);
        }
    }

    public Task<bool> IsPublishedByAsync(BitsSession session, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_blobs.TryGetValue(Key(session.Container, session.Destination), out var blob) && blob.CommittedBy == session.Id);
        }
    }

    public Task ClearPendingEventAsync(BitsSession session, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _eventsDue.Remove(session.Id);
            if (_sessions.TryGetValue(session.Id, out var entry) && entry.IsTombstone == (session.State == BitsSessionState.Closed))
            {
                _sessions[session.Id] = entry with { Session = entry.Session with { PendingEvent = null } };
            }
        }

        return Task.CompletedTask;
    }

    public Task PostponePendingEventAsync(BitsSession session, DateTimeOffset dueAt, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            _eventsDue[session.Id] = dueAt;
        }

        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<BitsSession>> DuePendingEventsAsync(DateTimeOffset now, int maxItems, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var due = new List<BitsSession>();
            foreach (var (id, _) in _eventsDue.Where(e => e.Value <= now).ToList())
            {
                if (!_sessions.TryGetValue(id, out var entry) || entry.ExpiresAt <= now || entry.Session.PendingEvent is null)
                {
                    _eventsDue.Remove(id);
                }
                else if (due.Count < maxItems)
                {
                    due.Add(entry.Session);
                }
            }

            return Task.FromResult<IReadOnlyList<BitsSession>>(due);
        }
    }

    public Task<int> CountOpenSessionsAsync(string user, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_sessions.Values.Count(e => !e.IsTombstone && string.Equals(e.Session.User, user, StringComparison.Ordinal)));
        }
    }

    /// <summary>Removes idle open sessions (with their staged data) and expired tombstones; nothing is rescheduled here.</summary>
    public Task<BitsSweepResult> SweepAsync(Func<BitsSession, TimeSpan> idleTimeout, DateTimeOffset now, int maxItems, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            int sessions = 0, tombstones = 0;
            foreach (var (id, entry) in _sessions.ToList())
            {
                if (sessions + tombstones >= maxItems)
                {
                    break;
                }

                if (!entry.IsTombstone && (entry.Session.LastActivity ?? entry.Session.CreatedAt) + idleTimeout(entry.Session) <= now)
                {
                    _sessions.Remove(id);
                    CleanUp(entry.Session);
                    sessions++;
                }
                else if (entry.IsTombstone && entry.ExpiresAt <= now)
                {
                    _sessions.Remove(id);
                    tombstones++;
                }
            }

            return Task.FromResult(new BitsSweepResult(sessions, tombstones, 0));
        }
    }

    private void Finish(BitsSession session)
    {
        if (_sessions.TryGetValue(session.Id, out var entry) && !entry.IsTombstone)
        {
            _sessions[session.Id] = Tombstone(entry.Session, BitsSessionState.Closed);
        }

        CleanUp(session);
    }

    private void EndSession(BitsSession session, BitsSessionState state)
    {
        if (_sessions.TryGetValue(session.Id, out var entry) && !entry.IsTombstone)
        {
            _sessions[session.Id] = Tombstone(entry.Session, state);
        }

        CleanUp(session);
    }

    /// <summary>
    /// Like the Azure store: the session's own blob goes; an uncommitted-only destination goes when no open session but
    /// this one staged on it; blocks on a published blob stay (invisible to listings) until a commit or the expiry.
    /// </summary>
    private void CleanUp(BitsSession session)
    {
        if (session.PrivateStaging)
        {
            _blobs.Remove(PrivatePrefix + session.Id);
            return;
        }

        var key = Key(session.Container, session.Destination);
        if (_blobs.TryGetValue(key, out var blob) && blob.Committed is null
            && blob.Uncommitted.Values.All(b => b.SessionId == session.Id || !(_sessions.TryGetValue(b.SessionId, out var owner) && !owner.IsTombstone)))
        {
            _blobs.Remove(key);
        }
    }

    private void DropIfEmpty(string key)
    {
        if (_blobs.TryGetValue(key, out var blob) && blob.Committed is null && blob.Uncommitted.Count == 0)
        {
            _blobs.Remove(key);
        }
    }

    private Blob BlobFor(string key)
    {
        if (!_blobs.TryGetValue(key, out var blob))
        {
            _blobs[key] = blob = new Blob();
        }

        return blob;
    }

    private static string BlobKey(BitsSession session) =>
        session.PrivateStaging ? PrivatePrefix + session.Id : Key(session.Container, session.Destination);

    private static string BlockId(string sessionId, long offset, long length) => $"{sessionId}/{offset}/{length}";

    /// <summary>The session's blocks covering [0, total) end to end (fewest first); null when there is a hole.</summary>
    private static List<Block>? Chain(Blob blob, string sessionId, long total)
    {
        var starting = blob.Uncommitted.Values.Where(b => b.SessionId == sessionId).ToLookup(b => b.Offset);
        var parent = new Dictionary<long, Block>();
        var queue = new Queue<long>([0]);
        while (queue.Count > 0 && !parent.ContainsKey(total))
        {
            var at = queue.Dequeue();
            foreach (var block in starting[at])
            {
                var end = block.Offset + block.Data.Length;
                if (end <= total && parent.TryAdd(end, block))
                {
                    queue.Enqueue(end);
                }
            }
        }

        if (total != 0 && !parent.ContainsKey(total))
        {
            return null;
        }

        var chain = new List<Block>();
        for (var at = total; at != 0; at = parent[at].Offset)
        {
            chain.Add(parent[at]);
        }

        chain.Reverse();
        return chain;
    }

    /// <summary>A Closed tombstone keeps the record's pending completion event; a discarded or cancelled one owes none.</summary>
    private Entry Tombstone(BitsSession session, BitsSessionState state) =>
        new(session with { State = state, Version = NextVersion(), PendingEvent = state == BitsSessionState.Closed ? session.PendingEvent : null })
        {
            ExpiresAt = _time.GetUtcNow() + _tombstoneLifetime,
        };

    private string NextVersion() => (++_version).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private sealed record Block(string SessionId, long Offset, byte[] Data);

    private sealed class Blob
    {
        public byte[]? Committed { get; set; }

        public string? CommittedBy { get; set; }

        public long ETag { get; set; }

        public Dictionary<string, Block> Uncommitted { get; } = new(StringComparer.Ordinal);
    }

    private sealed record Entry(BitsSession Session)
    {
        /// <summary>When the tombstone expires (null for live sessions).</summary>
        public DateTimeOffset? ExpiresAt { get; init; }

        public bool IsTombstone => ExpiresAt is not null;
    }
}
