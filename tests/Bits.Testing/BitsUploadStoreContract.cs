using Bits.Protocol;

namespace Bits.Testing;

/// <summary>
/// The behaviour every <see cref="IBitsUploadStore"/> must show. Derived classes run it against the in-memory store
/// and against the Azure store on Azurite.
/// </summary>
public abstract class BitsUploadStoreContract
{
    protected abstract IBitsUploadStore Store { get; }

    /// <summary>The published file at <paramref name="destination"/>, or null.</summary>
    protected abstract Task<byte[]?> ReadPublishedAsync(string destination);

    /// <summary>Staged items (blobs, buffers) still held for the session.</summary>
    protected abstract Task<int> CountStagedAsync(string sessionId);

    /// <summary>Whether the live session record (not its tombstone) still exists.</summary>
    protected abstract Task<bool> SessionRecordExistsAsync(string sessionId);

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected static string NewDestination() => $"contract/{Guid.NewGuid():N}/file name+1.bin";

    protected async Task<BitsSession> NewSessionAsync(string? destination = null, long? total = null)
    {
        var session = new BitsSession
        {
            Id = BitsSessionIds.NewId(),
            Destination = destination ?? NewDestination(),
            ContentName = "report ü.bin",
            User = "alice",
            CreatedAt = DateTimeOffset.UtcNow,
        };
        await Store.CreateSessionAsync(session, Ct);
        var stored = await Store.GetSessionAsync(session.Id, Ct);
        Assert.NotNull(stored);
        if (total is { } t)
        {
            stored = await Store.TrySetTotalLengthAsync(stored, t, Ct);
            Assert.NotNull(stored);
        }

        return stored;
    }

    protected static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Fact]
    public async Task Create_ThenGet_RoundTripsTheSession()
    {
        var destination = NewDestination();
        var session = await NewSessionAsync(destination);

        Assert.Equal(destination, session.Destination);
        Assert.Equal("report ü.bin", session.ContentName);
        Assert.Equal("alice", session.User);
        Assert.Equal(BitsSessionState.Open, session.State);
        Assert.Null(session.TotalLength);
        Assert.Equal(0, await Store.GetReceivedLengthAsync(session, Ct));
    }

    [Fact]
    public async Task Get_UnknownSession_ReturnsNull()
    {
        Assert.Null(await Store.GetSessionAsync(BitsSessionIds.NewId(), Ct));
    }

    [Fact]
    public async Task TrySetTotalLength_WithStaleVersion_ReturnsNull()
    {
        var session = await NewSessionAsync();
        var first = await Store.TrySetTotalLengthAsync(session, 100, Ct);
        var second = await Store.TrySetTotalLengthAsync(session, 200, Ct);

        Assert.NotNull(first);
        Assert.Null(second);
        Assert.Equal(100, (await Store.GetSessionAsync(session.Id, Ct))!.TotalLength);
    }

    [Fact]
    public async Task Append_InOrder_AdvancesReceivedLength()
    {
        var data = RandomBytes(3000, 1);
        var session = await NewSessionAsync(total: data.Length);

        var a = await Store.AppendAsync(session, 0, data.AsMemory(0, 1000), Ct);
        var b = await Store.AppendAsync(session, 1000, data.AsMemory(1000, 2000), Ct);

        Assert.Equal(new AppendResult(true, 1000), a);
        Assert.Equal(new AppendResult(true, 3000), b);
        Assert.Equal(3000, await Store.GetReceivedLengthAsync(session, Ct));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(500)]
    [InlineData(1001)]
    public async Task Append_AtWrongOffset_StoresNothingAndReportsReceived(long offset)
    {
        var data = RandomBytes(2000, 2);
        var session = await NewSessionAsync(total: 4000);
        await Store.AppendAsync(session, 0, data.AsMemory(0, 1000), Ct);

        var result = await Store.AppendAsync(session, offset, data.AsMemory(0, 100), Ct);

        Assert.Equal(new AppendResult(false, 1000), result);
        Assert.Equal(1000, await Store.GetReceivedLengthAsync(session, Ct));
    }

    [Fact]
    public async Task Append_RacingWritersAtSameOffset_StoreExactlyOneCopy()
    {
        var session = await NewSessionAsync(total: 4096);
        var candidates = Enumerable.Range(0, 6).Select(i => RandomBytes(4096, 100 + i)).ToArray();

        var results = await Task.WhenAll(candidates.Select(c => Store.AppendAsync(session, 0, c, Ct)));

        Assert.Single(results, r => r.Appended);
        Assert.All(results, r => Assert.Equal(4096, r.ReceivedLength));
        var winner = candidates[Array.FindIndex(results, r => r.Appended)];
        Assert.Equal(PublishResult.Published, await Store.PublishAsync(session, allowOverwrite: false, Ct));
        Assert.Equal(winner, await ReadPublishedAsync(session.Destination));
    }

    [Fact]
    public async Task Publish_CompleteSession_IsByteIdenticalAndLeavesOnlyATombstone()
    {
        var data = RandomBytes(200_000, 3);
        var session = await NewSessionAsync(total: data.Length);
        var random = new Random(3);
        for (var offset = 0; offset < data.Length;)
        {
            var length = Math.Min(random.Next(1, 30_000), data.Length - offset);
            Assert.True((await Store.AppendAsync(session, offset, data.AsMemory(offset, length), Ct)).Appended);
            offset += length;
        }

        Assert.Equal(PublishResult.Published, await Store.PublishAsync(session, allowOverwrite: false, Ct));

        Assert.Equal(data, await ReadPublishedAsync(session.Destination));
        Assert.Equal(0, await CountStagedAsync(session.Id));
        Assert.False(await SessionRecordExistsAsync(session.Id));
        Assert.Equal(BitsSessionState.Closed, (await Store.GetSessionAsync(session.Id, Ct))!.State);
        Assert.True(await Store.DestinationExistsAsync(null, session.Destination, Ct));
    }

    [Fact]
    public async Task Publish_Retried_IsIdempotent()
    {
        var data = RandomBytes(5000, 4);
        var session = await NewSessionAsync(total: data.Length);
        await Store.AppendAsync(session, 0, data, Ct);

        Assert.Equal(PublishResult.Published, await Store.PublishAsync(session, allowOverwrite: false, Ct));
        Assert.Equal(PublishResult.Published, await Store.PublishAsync(session, allowOverwrite: false, Ct));
        Assert.Equal(data, await ReadPublishedAsync(session.Destination));
    }

    [Fact]
    public async Task Publish_ExistingDestinationWithoutOverwrite_KeepsTheExistingFile()
    {
        var destination = NewDestination();
        var first = RandomBytes(1000, 5);
        var second = RandomBytes(1500, 6);
        var a = await NewSessionAsync(destination, first.Length);
        var b = await NewSessionAsync(destination, second.Length);
        await Store.AppendAsync(a, 0, first, Ct);
        await Store.AppendAsync(b, 0, second, Ct);

        Assert.Equal(PublishResult.Published, await Store.PublishAsync(a, allowOverwrite: false, Ct));
        Assert.Equal(PublishResult.DestinationExists, await Store.PublishAsync(b, allowOverwrite: false, Ct));
        Assert.Equal(first, await ReadPublishedAsync(destination));
    }

    [Fact]
    public async Task Publish_ExistingDestinationWithOverwrite_ReplacesIt()
    {
        var destination = NewDestination();
        var first = RandomBytes(1000, 7);
        var second = RandomBytes(700, 8);
        var a = await NewSessionAsync(destination, first.Length);
        var b = await NewSessionAsync(destination, second.Length);
        await Store.AppendAsync(a, 0, first, Ct);
        await Store.AppendAsync(b, 0, second, Ct);

        await Store.PublishAsync(a, allowOverwrite: true, Ct);
        Assert.Equal(PublishResult.Published, await Store.PublishAsync(b, allowOverwrite: true, Ct));
        Assert.Equal(second, await ReadPublishedAsync(destination));
    }

    [Fact]
    public async Task Publish_TwoSessionsToOneName_NeverMixTheirBytes()
    {
        var destination = NewDestination();
        var payloads = new[] { RandomBytes(50_000, 9), RandomBytes(50_000, 10) };
        var sessions = new List<BitsSession>();
        foreach (var payload in payloads)
        {
            var session = await NewSessionAsync(destination, payload.Length);
            for (var offset = 0; offset < payload.Length; offset += 10_000)
            {
                await Store.AppendAsync(session, offset, payload.AsMemory(offset, 10_000), Ct);
            }

            sessions.Add(session);
        }

        await Task.WhenAll(sessions.Select(s => Store.PublishAsync(s, allowOverwrite: true, Ct)));

        var published = await ReadPublishedAsync(destination);
        Assert.True(published!.SequenceEqual(payloads[0]) || published.SequenceEqual(payloads[1]), "the published file is a mix of two uploads");
    }

    [Fact]
    public async Task Publish_ZeroLengthUpload_CreatesAnEmptyFile()
    {
        var session = await NewSessionAsync(total: 0);

        Assert.Equal(PublishResult.Published, await Store.PublishAsync(session, allowOverwrite: false, Ct));
        var published = await ReadPublishedAsync(session.Destination);
        Assert.NotNull(published);
        Assert.Empty(published);
        Assert.Equal(0, await CountStagedAsync(session.Id));
    }

    [Theory]
    [InlineData(BitsSessionState.Cancelled)]
    [InlineData(BitsSessionState.Discarded)]
    public async Task Discard_RemovesStagedDataAndKeepsATombstone(BitsSessionState state)
    {
        var data = RandomBytes(3000, 11);
        var session = await NewSessionAsync(total: data.Length);
        await Store.AppendAsync(session, 0, data.AsMemory(0, 2000), Ct);

        await Store.DiscardAsync(session, state, Ct);
        await Store.DiscardAsync(session, state, Ct);

        Assert.Equal(0, await CountStagedAsync(session.Id));
        Assert.False(await SessionRecordExistsAsync(session.Id));
        Assert.Equal(state, (await Store.GetSessionAsync(session.Id, Ct))!.State);
        Assert.Null(await ReadPublishedAsync(session.Destination));
    }

    [Fact]
    public async Task Discard_AfterPublish_NeverTouchesThePublishedFile()
    {
        var data = RandomBytes(3000, 12);
        var session = await NewSessionAsync(total: data.Length);
        await Store.AppendAsync(session, 0, data, Ct);
        await Store.PublishAsync(session, allowOverwrite: false, Ct);

        await Store.DiscardAsync(session, BitsSessionState.Cancelled, Ct);

        Assert.Equal(data, await ReadPublishedAsync(session.Destination));
        Assert.Equal(BitsSessionState.Closed, (await Store.GetSessionAsync(session.Id, Ct))!.State);
    }

    [Theory]
    [InlineData(false, 2000)]
    [InlineData(false, 0)]
    [InlineData(true, 2000)]
    [InlineData(true, 0)]
    public async Task Append_WithTheSessionAsItWasBeforeCloseOrCancel_NeverStoresAnything(bool publish, long offset)
    {
        // What the handler's session cache relies on: appending through a session object read while the session was
        // open, after it was published or discarded, stores nothing. It either throws BitsSessionGoneException (the
        // staging is gone) or reports the bytes are not at that offset; a published file is never touched.
        var data = RandomBytes(3000, 13);
        var session = await NewSessionAsync(total: data.Length);
        await Store.AppendAsync(session, 0, data.AsMemory(0, publish ? 3000 : 2000), Ct);
        if (publish)
        {
            await Store.PublishAsync(session, allowOverwrite: false, Ct);
        }
        else
        {
            await Store.DiscardAsync(session, BitsSessionState.Cancelled, Ct);
        }

        try
        {
            var result = await Store.AppendAsync(session, offset, data.AsMemory((int)offset, 1000), Ct);
            Assert.False(result.Appended);
        }
        catch (BitsSessionGoneException)
        {
            // Expected from a store whose staging is deleted.
        }

        Assert.Equal(0, await CountStagedAsync(session.Id));
        Assert.Equal(publish ? data : null, await ReadPublishedAsync(session.Destination));
        Assert.Equal(publish ? BitsSessionState.Closed : BitsSessionState.Cancelled, (await Store.GetSessionAsync(session.Id, Ct))!.State);
    }
}
