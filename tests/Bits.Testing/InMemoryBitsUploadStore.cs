using Bits.Protocol;

namespace Bits.Testing;

/// <summary>
/// A thread-safe in-memory <see cref="IBitsUploadStore"/> for fast unit tests of the protocol core.
/// It passes the same contract suite as the Azure store, and implements <see cref="IBitsExpiryStore"/>: a session's
/// last activity is its creation or its last successful append (by <see cref="TimeProvider"/>), a tombstone expires
/// <c>tombstoneLifetime</c> after it was written.
/// </summary>
/// <param name="time">Clock for last activity and tombstone expiry; <see cref="TimeProvider.System"/> when null.</param>
/// <param name="tombstoneLifetime">How long tombstones last (<see cref="BitsServerOptions.TombstoneLifetime"/>); 14 days when null.</param>
public sealed class InMemoryBitsUploadStore(TimeProvider? time = null, TimeSpan? tombstoneLifetime = null) : IBitsUploadStore, IBitsExpiryStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _sessions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, byte[]> _published = new(StringComparer.Ordinal);
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
                return new Dictionary<string, byte[]>(_published, StringComparer.Ordinal);
            }
        }
    }

    /// <summary>Number of sessions that still hold staged bytes.</summary>
    public int StagedSessionCount
    {
        get
        {
            lock (_gate)
            {
                return _sessions.Values.Count(e => e.Staged is not null);
            }
        }
    }

    /// <summary>The bytes staged for a session (empty when it holds none).</summary>
    public byte[] StagedBytes(string sessionId)
    {
        lock (_gate)
        {
            return _sessions.TryGetValue(sessionId, out var entry) && entry.Staged is { } staged ? staged.ToArray() : [];
        }
    }

    /// <summary>Adds a file as if another upload had published it.</summary>
    public void Seed(string destination, byte[] content, string? container = null)
    {
        lock (_gate)
        {
            _published[Key(container, destination)] = content;
        }
    }

    /// <summary>Key of <see cref="Published"/>: the name in the default container, else <c>container:name</c>.</summary>
    public static string Key(string? container, string destination) => container is null ? destination : container + ":" + destination;

    public Task CreateSessionAsync(BitsSession session, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_sessions.TryAdd(session.Id, new Entry(session with { Version = NextVersion() }, new MemoryStream()) { LastActivity = session.CreatedAt }))
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
            if (!_sessions.TryGetValue(session.Id, out var entry) || entry.Session.Version != session.Version
                || entry.Session.State != BitsSessionState.Open || entry.Session.TotalLength is not null)
            {
                return Task.FromResult<BitsSession?>(null);
            }

            var updated = entry.Session with { TotalLength = totalLength, Version = NextVersion() };
            _sessions[session.Id] = entry with { Session = updated };
            return Task.FromResult<BitsSession?>(updated);
        }
    }

    public Task<AppendResult> AppendAsync(BitsSession session, long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var staged = StagedOf(session);
            if (staged.Length != offset)
            {
                return Task.FromResult(new AppendResult(false, staged.Length));
            }

            staged.Position = staged.Length;
            staged.Write(data.Span);
            _sessions[session.Id] = _sessions[session.Id] with { LastActivity = _time.GetUtcNow() };
            return Task.FromResult(new AppendResult(true, staged.Length));
        }
    }

    public Task<long> GetReceivedLengthAsync(BitsSession session, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(StagedOf(session).Length);
        }
    }

    public Task<bool> DestinationExistsAsync(string? container, string destination, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_published.ContainsKey(Key(container, destination)));
        }
    }

    public Task<PublishResult> PublishAsync(BitsSession session, bool allowOverwrite, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_sessions.TryGetValue(session.Id, out var entry))
            {
                throw new InvalidOperationException($"Session {session.Id} does not exist.");
            }

            if (entry.Session.State == BitsSessionState.Closed)
            {
                return Task.FromResult(PublishResult.Published);
            }

            var key = Key(session.Container, session.Destination);
            if (!allowOverwrite && _published.ContainsKey(key))
            {
                return Task.FromResult(PublishResult.DestinationExists);
            }

            _published[key] = StagedOf(session).ToArray();
            _sessions[session.Id] = new Entry(Tombstone(entry.Session, BitsSessionState.Closed), null) { ExpiresAt = _time.GetUtcNow() + _tombstoneLifetime };
            return Task.FromResult(PublishResult.Published);
        }
    }

    public Task DiscardAsync(BitsSession session, BitsSessionState finalState, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_sessions.TryGetValue(session.Id, out var entry) && entry.Session.State == BitsSessionState.Open)
            {
                _sessions[session.Id] = new Entry(Tombstone(entry.Session, finalState), null) { ExpiresAt = _time.GetUtcNow() + _tombstoneLifetime };
            }
        }

        return Task.CompletedTask;
    }

    public Task<int> CountOpenSessionsAsync(string user, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_sessions.Values.Count(e => e.Session.State == BitsSessionState.Open && string.Equals(e.Session.User, user, StringComparison.Ordinal)));
        }
    }

    /// <summary>Removes idle open sessions (with their staged bytes) and expired tombstones; nothing is rescheduled here.</summary>
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

                if (entry.Session.State == BitsSessionState.Open && entry.LastActivity + idleTimeout(entry.Session) <= now)
                {
                    _sessions.Remove(id);
                    sessions++;
                }
                else if (entry.Session.State != BitsSessionState.Open && entry.ExpiresAt <= now)
                {
                    _sessions.Remove(id);
                    tombstones++;
                }
            }

            return Task.FromResult(new BitsSweepResult(sessions, tombstones, 0));
        }
    }

    private MemoryStream StagedOf(BitsSession session) =>
        _sessions.TryGetValue(session.Id, out var entry) && entry.Staged is { } staged
            ? staged
            : throw new BitsSessionGoneException($"Staging data of session {session.Id} does not exist.");

    private BitsSession Tombstone(BitsSession session, BitsSessionState state) =>
        session with { State = state, Version = NextVersion() };

    private string NextVersion() => (++_version).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private sealed record Entry(BitsSession Session, MemoryStream? Staged)
    {
        /// <summary>Creation or last successful append (open sessions).</summary>
        public DateTimeOffset LastActivity { get; init; }

        /// <summary>When the tombstone expires (null for open sessions).</summary>
        public DateTimeOffset? ExpiresAt { get; init; }
    }
}
