using System.Buffers;
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
/// <see cref="TimeProvider"/>), a tombstone expires <c>tombstoneLifetime</c> after it was written. As an
/// <see cref="IBitsReplyStore"/> it models the <c>BITS-Copy-File-To-Destination</c> copy: ranges of
/// <see cref="CopyRangeBytes"/> staged on the destination one by one, each after <see cref="CopyRangeGate"/> lets it, so
/// a test can make a copy need several calls.
/// It implements <see cref="IBitsEventStore"/>: the pending event is kept on the record, moved to a Closed tombstone,
/// and listed for the janitor until cleared.
/// </summary>
/// <param name="time">Clock for last activity and tombstone expiry; <see cref="TimeProvider.System"/> when null.</param>
/// <param name="tombstoneLifetime">How long tombstones last (<see cref="BitsServerOptions.TombstoneLifetime"/>); 14 days when null.</param>
/// <param name="budget">
/// The block limits it enforces like storage does (a commit naming more than <see cref="BitsBlockBudget.MaxCommittedBlocks"/>
/// fails, a blob holding <see cref="BitsBlockBudget.MaxUncommittedBlocks"/> refuses another block) and the coalescing it
/// does to stay within them (segments of <see cref="BitsBlockBudget.SegmentBytes"/> moved in as one block); Azure's when null.
/// </param>
public sealed class InMemoryBitsUploadStore(TimeProvider? time = null, TimeSpan? tombstoneLifetime = null, BitsBlockBudget? budget = null) : IBitsUploadStore, IBitsExpiryStore, IBitsReplyStore, IBitsEventStore
{
    private const string Layout = "blocks";

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _sessions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Blob> _blobs = new(StringComparer.Ordinal);
    private readonly HashSet<string> _overwritten = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _eventsDue = new(StringComparer.Ordinal);
    private readonly Dictionary<(string SessionId, long Start), List<byte>> _segments = [];
    private readonly BitsBlockBudget _budget = budget ?? BitsBlockBudget.Azure;
    private readonly Dictionary<string, byte[]> _replies = new(StringComparer.Ordinal);
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

    /// <summary>Segments moved into a blob as one block so far (each a server-side copy of its bytes).</summary>
    public int SegmentsMoved { get; private set; }

    /// <summary>Drops every uncommitted block on a destination, as storage's 7-day expiry does.</summary>
    public void ExpireUncommitted(string destination, string? container = null)
    {
        lock (_gate)
        {
            if (_blobs.TryGetValue(Key(container, destination), out var blob))
            {
                blob.Uncommitted.Clear();
                DropIfEmpty(Key(container, destination));
            }
        }
    }

    /// <summary>Adds uncommitted blocks of another session to a destination, as a foreign writer would (fills its limit).</summary>
    public void StageForeignBlocks(string destination, int count, string? container = null)
    {
        lock (_gate)
        {
            var blob = BlobFor(Key(container, destination));
            var owner = BitsSessionIds.NewId();
            for (var i = 0; i < count; i++)
            {
                blob.Uncommitted[BlockId(owner, i, 1)] = new Block(owner, i, [0]);
            }
        }
    }

    /// <summary>Size of one range of a <c>BITS-Copy-File-To-Destination</c> copy (Put Block From URL in Azure).</summary>
    public int CopyRangeBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Awaited before each copy range with the call's token (its budget): a test holds or releases the copy.</summary>
    public Func<CancellationToken, Task>? CopyRangeGate { get; set; }

    /// <summary>Copy ranges staged on destinations so far.</summary>
    public int CopiedRanges { get; private set; }

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

    /// <summary>
    /// Uncommitted blocks the session still has anywhere, plus its own blob, each coalescing segment and its reply if it
    /// has them (as the Azure store's staging blobs of the session are counted).
    /// </summary>
    public int StagedItems(BitsSession session)
    {
        lock (_gate)
        {
            return _blobs.Values.Sum(b => b.Uncommitted.Values.Count(block => block.SessionId == session.Id))
                + (_blobs.ContainsKey(PrivatePrefix + session.Id) ? 1 : 0)
                + _segments.Keys.Count(k => k.SessionId == session.Id)
                + (_replies.ContainsKey(session.Id) ? 1 : 0);
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

    public Task<BitsSession?> StageAsync(BitsSession session, long offset, ReadOnlySequence<byte> data, bool alreadyStaged, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (session.StoreState != Layout)
            {
                throw new BitsSessionGoneException($"Session {session.Id} was staged by an earlier version.");
            }

            var current = _sessions.GetValueOrDefault(session.Id);
            var progress = current is { IsTombstone: false } ? current.Progress : default;
            var moved = (long?)null;
            if (!data.IsEmpty)
            {
                // Put Block (or an append to the session's segment) succeeds whatever the record says (also after
                // another session's commit).
                var staged = StageBytes(session, progress, offset, data.IsSingleSegment ? data.FirstSpan : data.ToArray(), alreadyStaged);
                if (staged is null)
                {
                    return Task.FromResult<BitsSession?>(null);
                }

                (progress, moved) = staged.Value;
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

            if (moved is { } start)
            {
                _segments.Remove((session.Id, start));
            }

            var updated = entry.Session with { ReceivedLength = offset + data.Length, Version = NextVersion(), LastActivity = _time.GetUtcNow() };
            _sessions[session.Id] = entry with { Session = updated, Progress = progress };
            return Task.FromResult<BitsSession?>(updated);
        }
    }

    /// <summary>As the Azure store: a block of its own while the budget lasts and the blob has room, else the segment.</summary>
    private (Progress Next, long? Moved)? StageBytes(BitsSession session, Progress progress, long offset, ReadOnlySpan<byte> data, bool alreadyStaged)
    {
        var total = session.TotalLength ?? offset + data.Length;
        var blob = BlobFor(BlobKey(session));
        var id = BlockId(session.Id, offset, data.Length);
        if (progress.Segment is null && !_budget.ShouldCoalesce(progress.Blocks, offset, data.Length, total))
        {
            // "Already staged" may have gone to a segment when the blob was full (the record write failed after it):
            // then it continues there.
            if (alreadyStaged && !_segments.ContainsKey((session.Id, offset)))
            {
                return (progress with { Blocks = progress.Blocks + 1 }, null);
            }

            if (!alreadyStaged && HasRoom(blob, id))
            {
                BlocksStaged++;
                blob.Uncommitted[id] = new Block(session.Id, offset, data.ToArray());
                return (progress with { Blocks = progress.Blocks + 1 }, null);
            }
        }

        var start = progress.Segment ?? offset;
        if (!_segments.TryGetValue((session.Id, start), out var segment))
        {
            if (offset != start)
            {
                return null; // moved by a racing call: read again
            }

            _segments[(session.Id, start)] = segment = [];
        }

        var position = offset - start;
        if (segment.Count < position)
        {
            throw new BitsSessionGoneException($"Session {session.Id}: its segment at {start} holds fewer bytes than recorded.");
        }

        if (segment.Count < position + data.Length)
        {
            segment.AddRange(data[(int)(segment.Count - position)..]);
        }

        var end = offset + data.Length;
        var crossed = (offset - start) / _budget.SegmentBytes < (end - start) / _budget.SegmentBytes;
        if ((crossed || end == total) && MoveSegment(session, blob, segment, start, end))
        {
            return (new Progress(progress.Blocks + 1, end), start);
        }

        return (progress with { Segment = start }, null);
    }

    private bool MoveSegment(BitsSession session, Blob blob, List<byte> segment, long start, long end)
    {
        var id = BlockId(session.Id, start, end - start);
        if (!HasRoom(blob, id))
        {
            return false;
        }

        SegmentsMoved++;
        blob.Uncommitted[id] = new Block(session.Id, start, segment.Take((int)(end - start)).ToArray());
        return true;
    }

    /// <summary>Storage's uncommitted limit: a new block id on a full blob is refused (409 BlockCountExceedsLimit); a rewrite is not.</summary>
    private bool HasRoom(Blob blob, string id) => blob.Uncommitted.ContainsKey(id) || blob.Uncommitted.Count < _budget.MaxUncommittedBlocks;

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

            if (!_sessions.TryGetValue(session.Id, out var live))
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

            // The tail a final Fragment could not move (its blob was full then) moves now, or the Close is retried.
            var total = session.TotalLength ?? 0;
            if (!live.IsTombstone && live.Progress.Segment is { } tail && tail < total && _segments.TryGetValue((session.Id, tail), out var segment)
                && !MoveSegment(session, BlobFor(BlobKey(session)), segment, tail, total))
            {
                throw new BitsStoreUnavailableException($"The blob of session {session.Id} holds the most uncommitted blocks storage allows.") { Reason = BitsErrors.BlockLimit };
            }

            // Upload-reply sessions with BITS-Copy-File-To-Destination: the blocks CopyToDestinationAsync staged.
            var chain = Chain(destination, session.Id, total);
            if (chain?.Count > _budget.MaxCommittedBlocks)
            {
                throw new BitsStoreUnavailableException($"Session {session.Id} staged {chain.Count} blocks, more than one commit may name.");
            }
            if (chain is null)
            {
                if (session.PrivateStaging && _blobs.ContainsKey(BlobKey(session)))
                {
                    // Like the Azure store: the copy is incomplete but its source is there; the next Close continues.
                    throw new BitsStoreUnavailableException($"The copy of session {session.Id} is incomplete.");
                }

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

    public async Task<bool> CopyToDestinationAsync(BitsSession session, CancellationToken budget, CancellationToken cancellationToken)
    {
        List<(long Offset, byte[] Data)> missing;
        lock (_gate)
        {
            var source = _blobs.GetValueOrDefault(BlobKey(session));
            var content = source is null ? null : Chain(source, session.Id, session.TotalLength ?? 0);
            if (content is null)
            {
                return true;
            }

            // Where the last call stopped: the destination's uncommitted blocks, named by session and range.
            var bytes = content.SelectMany(b => b.Data).ToArray();
            var staged = BlobFor(Key(session.Container, session.Destination)).Uncommitted;
            missing = bytes.Chunk(CopyRangeBytes).Select((data, i) => (Offset: (long)i * CopyRangeBytes, Data: data))
                .Where(range => !staged.ContainsKey(BlockId(session.Id, range.Offset, range.Data.Length))).ToList();
        }

        using var slice = CancellationTokenSource.CreateLinkedTokenSource(budget, cancellationToken);
        try
        {
            foreach (var (offset, data) in missing)
            {
                slice.Token.ThrowIfCancellationRequested();
                if (CopyRangeGate is { } gate)
                {
                    await gate(slice.Token);
                }

                lock (_gate)
                {
                    CopiedRanges++;
                    BlobFor(Key(session.Container, session.Destination)).Uncommitted[BlockId(session.Id, offset, data.Length)] = new Block(session.Id, offset, data);
                }
            }
        }
        catch (OperationCanceledException) when (budget.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }

        return true;
    }

    public Task<Stream> OpenUploadAsync(BitsSession session, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var chain = _blobs.TryGetValue(BlobKey(session), out var blob) ? Chain(blob, session.Id, session.TotalLength ?? 0) : null;
            return chain is null
                ? throw new BitsSessionGoneException($"Staged data of session {session.Id} does not exist.")
                : Task.FromResult<Stream>(new MemoryStream(chain.SelectMany(b => b.Data).ToArray(), writable: false));
        }
    }

    public Task<(Uri RequestData, Uri ResponseData)> CreateReferenceUrlsAsync(BitsSession session, TimeSpan lifetime, CancellationToken cancellationToken) =>
        Task.FromResult((new Uri($"http://127.0.0.1/in-memory/{Uri.EscapeDataString(session.Id)}/request"), new Uri($"http://127.0.0.1/in-memory/{Uri.EscapeDataString(session.Id)}/reply")));

    public async Task WriteReplyAsync(BitsSession session, Stream body, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        await body.CopyToAsync(buffer, cancellationToken);
        lock (_gate)
        {
            _replies[session.Id] = buffer.ToArray();
        }
    }

    public Task<BitsSession> RecordNotificationAsync(BitsSession session, BitsNotificationOutcome outcome, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_sessions.TryGetValue(session.Id, out var entry) || entry.IsTombstone)
            {
                throw new BitsSessionGoneException($"Session {session.Id} ended.");
            }

            var updated = entry.Session with { Notification = outcome, Version = NextVersion() };
            _sessions[session.Id] = entry with { Session = updated };
            return Task.FromResult(updated);
        }
    }

    public Task<BitsReplyContent> OpenReplyAsync(BitsSession session, long from, long? to, bool headOnly, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var reply = _replies.GetValueOrDefault(session.Id) ?? [];
            var first = (int)Math.Min(from, reply.Length);
            var last = (int)Math.Min(to ?? long.MaxValue, reply.Length - 1L);
            Stream? content = headOnly ? null : new MemoryStream(reply, first, Math.Max(0, last - first + 1), writable: false);
            return Task.FromResult(new BitsReplyContent(content, reply.Length, session.CreatedAt));
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
        foreach (var segment in _segments.Keys.Where(k => k.SessionId == session.Id).ToList())
        {
            _segments.Remove(segment);
        }

        if (session.PrivateStaging)
        {
            _blobs.Remove(PrivatePrefix + session.Id);
            _replies.Remove(session.Id);
            if (session.Notification is not { CopyToDestination: true })
            {
                return;
            }

            // A BITS-Copy-File-To-Destination copy may have staged blocks on the destination too: same rules below.
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

    /// <summary>The record's block count and, once coalescing, the start of the open segment (as the Azure row's).</summary>
    private readonly record struct Progress(long Blocks, long? Segment);

    private sealed record Entry(BitsSession Session)
    {
        public Progress Progress { get; init; }

        /// <summary>When the tombstone expires (null for live sessions).</summary>
        public DateTimeOffset? ExpiresAt { get; init; }

        public bool IsTombstone => ExpiresAt is not null;
    }
}
