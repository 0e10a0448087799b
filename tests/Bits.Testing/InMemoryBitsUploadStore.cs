using Bits.Protocol;

namespace Bits.Testing;

/// <summary>
/// A thread-safe in-memory <see cref="IBitsUploadStore"/> for fast unit tests of the protocol core.
/// It passes the same contract suite as the Azure store.
/// </summary>
public sealed class InMemoryBitsUploadStore : IBitsUploadStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _sessions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, byte[]> _published = new(StringComparer.Ordinal);
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
            if (!_sessions.TryAdd(session.Id, new Entry(session with { Version = NextVersion() }, new MemoryStream())))
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
            return Task.FromResult(_sessions.TryGetValue(sessionId, out var entry) ? entry.Session : null);
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
            _sessions[session.Id] = new Entry(Tombstone(entry.Session, BitsSessionState.Closed), null);
            return Task.FromResult(PublishResult.Published);
        }
    }

    public Task DiscardAsync(BitsSession session, BitsSessionState finalState, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_sessions.TryGetValue(session.Id, out var entry) && entry.Session.State == BitsSessionState.Open)
            {
                _sessions[session.Id] = new Entry(Tombstone(entry.Session, finalState), null);
            }
        }

        return Task.CompletedTask;
    }

    private MemoryStream StagedOf(BitsSession session) =>
        _sessions.TryGetValue(session.Id, out var entry) && entry.Staged is { } staged
            ? staged
            : throw new InvalidOperationException($"Session {session.Id} has no staged data.");

    private BitsSession Tombstone(BitsSession session, BitsSessionState state) =>
        session with { State = state, Version = NextVersion() };

    private string NextVersion() => (++_version).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private sealed record Entry(BitsSession Session, MemoryStream? Staged);
}
