using System.Buffers;
using Bits.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Bits.Protocol.Tests;

/// <summary>
/// The per-process cache of immutable session facts (<see cref="BitsSessionCache"/>, <c>Bits:SessionCacheLifetime</c>):
/// a steady-state Fragment reads no session, and nothing the protocol decides changes because of it. "Two instances"
/// are two handlers over one store.
/// </summary>
public class SessionCacheTests
{
    private const string Path = "/dir/cached.bin";
    private const int Piece = 1000;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 25, 0, 0, 0, TimeSpan.Zero));
    private readonly CountingStore _store;
    private readonly byte[] _file = SeededStream.Bytes(10 * Piece, 5);

    public SessionCacheTests()
    {
        _store = new CountingStore(new InMemoryBitsUploadStore(_time));
    }

    [Fact]
    public async Task SteadyState_FragmentsAfterTheFirst_ReadNoSession()
    {
        var handler = Handler();
        var id = await CreateAsync(handler);
        AckAssert.Received(await SendFragmentAsync(handler, id, 0), Piece);

        var readsBefore = _store.SessionReads;
        for (var i = 1; i < 9; i++)
        {
            AckAssert.Received(await SendFragmentAsync(handler, id, i), (i + 1) * Piece);
        }

        Assert.Equal(readsBefore, _store.SessionReads);
        Assert.Equal(9, _store.Appends);
    }

    [Fact]
    public async Task LastFragment_IsAlwaysHandledFromAFreshRead()
    {
        var handler = Handler();
        var id = await CreateAsync(handler);
        for (var i = 0; i < 9; i++)
        {
            await SendFragmentAsync(handler, id, i);
        }

        var readsBefore = _store.SessionReads;
        var last = await SendFragmentAsync(handler, id, 9);

        AckAssert.Received(last, _file.Length);
        Assert.Equal(readsBefore + 1, _store.SessionReads);
    }

    [Fact]
    public async Task Off_EveryFragmentReadsTheSession()
    {
        var handler = Handler(TimeSpan.Zero);
        var id = await CreateAsync(handler);
        await SendFragmentAsync(handler, id, 0);

        var readsBefore = _store.SessionReads;
        for (var i = 1; i < 5; i++)
        {
            await SendFragmentAsync(handler, id, i);
        }

        Assert.Equal(readsBefore + 4, _store.SessionReads);
    }

    [Fact]
    public async Task Entry_IsUsedForItsLifetimeOnly()
    {
        var handler = Handler(TimeSpan.FromSeconds(60));
        var id = await CreateAsync(handler);
        await SendFragmentAsync(handler, id, 0);
        _time.Advance(TimeSpan.FromSeconds(59));
        var readsBefore = _store.SessionReads;
        await SendFragmentAsync(handler, id, 1);
        Assert.Equal(readsBefore, _store.SessionReads);

        _time.Advance(TimeSpan.FromSeconds(2));
        await SendFragmentAsync(handler, id, 2);

        Assert.Equal(readsBefore + 1, _store.SessionReads);
    }

    [Fact]
    public async Task CancelOnAnotherInstance_NextFragmentHere_IsSessionNotFound_AndStoresNothing()
    {
        var here = Handler();
        var there = Handler();
        var id = await CreateAsync(here);
        await SendFragmentAsync(here, id, 0);
        await SendFragmentAsync(here, id, 1);

        AckAssert.IsAck(await there.HandleAsync(BitsRequests.Cancel(Path, id), Ct), 200);
        var appendsBefore = _store.Appends;
        var late = await SendFragmentAsync(here, id, 2);

        AckAssert.IsError(late, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
        Assert.Equal(appendsBefore + 1, _store.Appends); // the cached path did try its append (and found no staging)
        Assert.Equal(BitsSessionState.Cancelled, (await _store.GetSessionAsync(id, Ct))!.State);
    }

    [Fact]
    public async Task CloseOnAnotherInstance_LateRetransmitHere_IsSessionNotFound()
    {
        var here = Handler();
        var there = Handler();
        var id = await CreateAsync(here);
        for (var i = 0; i < 9; i++)
        {
            await SendFragmentAsync(here, id, i);
        }

        await SendFragmentAsync(there, id, 9);
        AckAssert.IsAck(await there.HandleAsync(BitsRequests.Close(Path, id), Ct), 200);
        var appendsBefore = _store.Appends;
        var late = await SendFragmentAsync(here, id, 8);

        AckAssert.IsError(late, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
        Assert.Equal(appendsBefore, _store.Appends); // not at the cached offset: decided from a fresh read, nothing staged
        Assert.Equal(_file, _store.Inner.Published[Path.TrimStart('/')]);
    }

    [Fact]
    public async Task CancelOnAnotherInstance_MalformedFragmentHere_StillAnswersSessionNotFoundFirst()
    {
        var here = Handler();
        var there = Handler();
        var id = await CreateAsync(here);
        await SendFragmentAsync(here, id, 0);

        AckAssert.IsAck(await there.HandleAsync(BitsRequests.Cancel(Path, id), Ct), 200);
        var fragment = BitsRequests.Fragment(Path, id, _file, Piece, Piece);
        var late = await here.HandleAsync(
            new BitsRequest
            {
                Method = fragment.Method, RawPath = fragment.RawPath, PacketType = fragment.PacketType, SessionId = fragment.SessionId,
                ContentRange = fragment.ContentRange, ContentLength = fragment.ContentLength, Body = fragment.Body, ContentEncoding = "gzip",
            },
            Ct);

        AckAssert.IsError(late, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
    }

    [Fact]
    public async Task CancelOnThisInstance_IsNotAnsweredFromTheCache()
    {
        var handler = Handler();
        var id = await CreateAsync(handler);
        await SendFragmentAsync(handler, id, 0);

        AckAssert.IsAck(await handler.HandleAsync(BitsRequests.Cancel(Path, id), Ct), 200);
        var late = await SendFragmentAsync(handler, id, 1);

        AckAssert.IsError(late, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
    }

    [Fact]
    public async Task Retransmit_Gap_AndOverlap_AfterCachedFragments_AnswerAsWithoutTheCache()
    {
        var handler = Handler();
        var id = await CreateAsync(handler);
        await SendFragmentAsync(handler, id, 0);
        await SendFragmentAsync(handler, id, 1);

        var duplicate = await SendFragmentAsync(handler, id, 1);
        var gap = await SendFragmentAsync(handler, id, 4);
        var overlap = await handler.HandleAsync(BitsRequests.Fragment(Path, id, _file, Piece + (Piece / 2), Piece), Ct);

        AckAssert.IsAck(duplicate, 200);
        AckAssert.Received(duplicate, 2 * Piece);
        AckAssert.IsAck(gap, 416);
        AckAssert.Received(gap, 2 * Piece);
        AckAssert.IsAck(overlap, 200);
        AckAssert.Received(overlap, (2 * Piece) + (Piece / 2));
        Assert.Equal(_file.AsMemory(0, (2 * Piece) + (Piece / 2)).ToArray(), _store.Inner.StagedBytes(id));
    }

    [Theory]
    [InlineData("/dir/other.bin", "alice")]
    [InlineData(Path, "mallory")]
    public async Task CachedSession_AnotherUrlOrUser_SeesNoSession(string path, string? user)
    {
        var handler = Handler();
        var id = await CreateAsync(handler, user: "alice");
        await handler.HandleAsync(BitsRequests.Fragment(Path, id, _file, 0, Piece, "alice"), Ct);

        var ack = await handler.HandleAsync(BitsRequests.Fragment(path, id, _file, Piece, Piece, user), Ct);

        AckAssert.IsError(ack, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
        Assert.Equal(Piece, _store.Inner.StagedBytes(id).Length);
    }

    [Fact]
    public void Cache_KeepsAtMostItsCapacity_AndForgets()
    {
        var cache = new BitsSessionCache(TimeSpan.FromMinutes(1), _time);
        for (var i = 0; i < BitsSessionCache.Capacity + 10; i++)
        {
            cache.Remember(OpenSession(BitsSessionIds.NewId()));
        }

        Assert.Equal(BitsSessionCache.Capacity, cache.Count);
        _time.Advance(TimeSpan.FromMinutes(2));
        var late = OpenSession(BitsSessionIds.NewId());
        cache.Remember(late);
        Assert.Equal(1, cache.Count); // expired entries dropped to make room
        Assert.True(cache.TryGet(late.Id, out _));

        cache.Forget(late.Id);
        Assert.False(cache.TryGet(late.Id, out _));
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void Cache_RemembersOnlyOpenSessionsOfKnownSize()
    {
        var cache = new BitsSessionCache(TimeSpan.FromMinutes(1), _time);
        var open = OpenSession(BitsSessionIds.NewId());
        cache.Remember(open with { TotalLength = null });
        cache.Remember(open with { Id = BitsSessionIds.NewId(), State = BitsSessionState.Closed });

        Assert.Equal(0, cache.Count);
    }

    private static BitsSession OpenSession(string id) => new()
    {
        Id = id,
        Destination = "x.bin",
        CreatedAt = DateTimeOffset.UnixEpoch,
        TotalLength = 10,
    };

    private BitsProtocolHandler Handler(TimeSpan? lifetime = null) => new(
        _store,
        Microsoft.Extensions.Options.Options.Create(new BitsServerOptions { SessionCacheLifetime = lifetime ?? TimeSpan.FromMinutes(1) }),
        _time,
        NullLogger<BitsProtocolHandler>.Instance);

    private static async Task<string> CreateAsync(BitsProtocolHandler handler, string? user = null)
    {
        var ack = await handler.HandleAsync(BitsRequests.CreateSession(Path, user: user), Ct);
        Assert.Equal(200, ack.StatusCode);
        return ack.GetHeader(BitsHeaders.SessionId)!;
    }

    private Task<BitsResponse> SendFragmentAsync(BitsProtocolHandler handler, string id, int index) =>
        handler.HandleAsync(BitsRequests.Fragment(Path, id, _file, index * Piece, Piece), Ct);

    /// <summary>The in-memory store, counting session reads and appends.</summary>
    private sealed class CountingStore(InMemoryBitsUploadStore inner) : IBitsUploadStore
    {
        private int _sessionReads;
        private int _appends;

        public InMemoryBitsUploadStore Inner => inner;

        public int SessionReads => Volatile.Read(ref _sessionReads);

        public int Appends => Volatile.Read(ref _appends);

        public Task CreateSessionAsync(BitsSession session, CancellationToken cancellationToken) => inner.CreateSessionAsync(session, cancellationToken);

        public Task<BitsSession?> GetSessionAsync(string sessionId, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _sessionReads);
            return inner.GetSessionAsync(sessionId, cancellationToken);
        }

        public Task<BitsSession?> TrySetTotalLengthAsync(BitsSession session, long totalLength, CancellationToken cancellationToken) =>
            inner.TrySetTotalLengthAsync(session, totalLength, cancellationToken);

        public Task<BitsSession?> StageAsync(BitsSession session, long offset, ReadOnlySequence<byte> data, bool alreadyStaged, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _appends);
            return inner.StageAsync(session, offset, data, alreadyStaged, cancellationToken);
        }

        public Task<bool> DestinationExistsAsync(string? container, string destination, CancellationToken cancellationToken) =>
            inner.DestinationExistsAsync(container, destination, cancellationToken);

        public Task<PublishResult> PublishAsync(BitsSession session, bool allowOverwrite, CancellationToken cancellationToken) =>
            inner.PublishAsync(session, allowOverwrite, cancellationToken);

        public Task DiscardAsync(BitsSession session, BitsSessionState finalState, CancellationToken cancellationToken) =>
            inner.DiscardAsync(session, finalState, cancellationToken);
    }
}
