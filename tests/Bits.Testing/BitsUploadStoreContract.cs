using Bits.Protocol;

namespace Bits.Testing;

/// <summary>
/// The behaviour every <see cref="IBitsUploadStore"/> must show. Derived classes run it against the in-memory store
/// and against the Azure store on Azurite.
/// </summary>
public abstract partial class BitsUploadStoreContract : BitsStoreContract
{
    /// <summary>Whether a listing that includes uncommitted blobs shows the destination.</summary>
    protected abstract Task<bool> ListedAsync(string destination);

    /// <summary>Whether the live session record (not its tombstone) still exists.</summary>
    protected abstract Task<bool> SessionRecordExistsAsync(string sessionId);

    /// <summary>
    /// From now on, <see cref="BitsStoreContract.Store"/> (on the same storage) has the lowered <paramref name="budget"/>, and the storage
    /// refuses a blob's block beyond <see cref="BitsBlockBudget.MaxUncommittedBlocks"/> as Azure does.
    /// </summary>
    protected abstract void LowerLimits(BitsBlockBudget budget);

    /// <summary>Stages <paramref name="count"/> uncommitted blocks of a writer that is no session of this store on the destination.</summary>
    protected abstract Task StageForeignBlocksAsync(string destination, int count);

    /// <summary>Drops every uncommitted block on the destination, as storage's 7-day expiry does.</summary>
    protected abstract Task ExpireUncommittedAsync(string destination);

    /// <summary>Lowered limits: a 5 KiB fragment file of 100 fragments exceeds both block limits five times over.</summary>
    protected static BitsBlockBudget TinyLimits { get; } = new(MaxCommittedBlocks: 20, MaxUncommittedBlocks: 24, SegmentBytes: 64 * 1024);

    /// <summary>The session with a version the store never issued (well-formed as a table ETag).</summary>
    protected static BitsSession Stale(BitsSession session) => session with { Version = "W/\"datetime'2001-01-01T00%3A00%3A00.0000000Z'\"" };

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
        Assert.Equal(0, session.ReceivedLength);
        Assert.False(session.PrivateStaging);
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
    public async Task Stage_InOrder_AdvancesReceivedLength()
    {
        var data = SeededStream.Bytes(3000, 1);
        var session = await NewSessionAsync(total: data.Length);

        var a = await Store.StageAsync(session, 0, data.AsMemory(0, 1000), alreadyStaged: false, Ct);
        var b = await Store.StageAsync(a!, 1000, data.AsMemory(1000, 2000), alreadyStaged: false, Ct);

        Assert.Equal(1000, a!.ReceivedLength);
        Assert.Equal(3000, b!.ReceivedLength);
        Assert.Equal(3000, (await Store.GetSessionAsync(session.Id, Ct))!.ReceivedLength);
    }

    [Fact]
    public async Task Stage_AChunkedBody_StoresItsBytesInOrder_FromAnyOffsetIntoIt()
    {
        // The handler passes a Fragment body as the chunks it was read into, and an overlap as a slice of them.
        var data = SeededStream.Bytes(300_000, 7);
        var session = await NewSessionAsync(total: data.Length);
        var body = ChunkedSequence.Of(data, 65_536, 131_072);

        session = (await Store.StageAsync(session, 0, body.Slice(0, 100_000), alreadyStaged: false, Ct))!;
        session = (await Store.StageAsync(session, 100_000, body.Slice(100_000), alreadyStaged: false, Ct))!;

        Assert.Equal(data.Length, session.ReceivedLength);
        Assert.Equal(PublishResult.Published, await Store.PublishAsync(session, allowOverwrite: false, Ct));
        Assert.Equal(data, await ReadPublishedAsync(session.Destination));
    }

    [Fact]
    public async Task Stage_WithAStaleVersion_RecordsNothing()
    {
        var data = SeededStream.Bytes(3000, 2);
        var session = await NewSessionAsync(total: data.Length);
        var first = await Store.StageAsync(session, 0, data.AsMemory(0, 1000), alreadyStaged: false, Ct);

        // The same Fragment again through the session as it was before (another instance's cache, a lost response).
        var again = await Store.StageAsync(session, 0, data.AsMemory(0, 1000), alreadyStaged: false, Ct);

        Assert.NotNull(first);
        Assert.Null(again);
        Assert.Equal(1000, (await Store.GetSessionAsync(session.Id, Ct))!.ReceivedLength);
    }

    [Fact]
    public async Task Stage_AlreadyStaged_WritesOnlyTheRecord_AndThePublishHasTheBytes()
    {
        var data = SeededStream.Bytes(2000, 3);
        var session = await NewSessionAsync(total: data.Length);
        Assert.Null(await Store.StageAsync(Stale(session), 0, data.AsMemory(0, 1000), alreadyStaged: false, Ct));

        var recorded = await Store.StageAsync(session, 0, data.AsMemory(0, 1000), alreadyStaged: true, Ct);
        recorded = await StageAllAsync(recorded!, data, 1000);

        Assert.Equal(PublishResult.Published, await Store.PublishAsync(recorded, allowOverwrite: false, Ct));
        Assert.Equal(data, await ReadPublishedAsync(session.Destination));
    }

    [Fact]
    public async Task Stage_RacingWritersAtSameOffset_RecordExactlyOnce_AndPublishOneWholeCopy()
    {
        var session = await NewSessionAsync(total: 4096);
        var candidates = Enumerable.Range(0, 6).Select(i => SeededStream.Bytes(4096, 100 + i)).ToArray();

        var results = await Task.WhenAll(candidates.Select(c => Store.StageAsync(session, 0, c, alreadyStaged: false, Ct)));

        Assert.Single(results, r => r is not null);
        var winner = results.Single(r => r is not null)!;
        Assert.Equal(4096, winner.ReceivedLength);
        Assert.Equal(PublishResult.Published, await Store.PublishAsync(winner, allowOverwrite: false, Ct));
        var published = await ReadPublishedAsync(session.Destination);
        Assert.Contains(candidates, c => c.SequenceEqual(published!));
    }

    [Fact]
    public async Task Publish_CompleteSession_IsByteIdenticalAndLeavesOnlyATombstone()
    {
        var data = SeededStream.Bytes(200_000, 3);
        var session = await NewSessionAsync(total: data.Length);
        var random = new Random(3);
        var blocks = 0;
        for (var offset = 0; offset < data.Length; blocks++)
        {
            var length = Math.Min(random.Next(1, 30_000), data.Length - offset);
            session = (await Store.StageAsync(session, offset, data.AsMemory(offset, length), alreadyStaged: false, Ct))!;
            offset += length;
        }

        Assert.Equal(blocks, await CountStagedAsync(session)); // one block per Fragment
        Assert.Equal(PublishResult.Published, await Store.PublishAsync(session, allowOverwrite: false, Ct));

        Assert.Equal(data, await ReadPublishedAsync(session.Destination));
        Assert.Equal(0, await CountStagedAsync(session));
        Assert.False(await SessionRecordExistsAsync(session.Id));
        Assert.Equal(BitsSessionState.Closed, (await Store.GetSessionAsync(session.Id, Ct))!.State);
        Assert.True(await Store.DestinationExistsAsync(null, session.Destination, Ct));
    }

    [Fact]
    public async Task Publish_WithRetransmittedAndOverlappingBlocks_ContainsEachByteExactlyOnce()
    {
        // Blocks of ranges that were staged but superseded (a retransmit whose record write lost, a shrunk resend)
        // stay on the blob; the commit names one chain from 0 to the total, so the file has each byte exactly once.
        var data = SeededStream.Bytes(10_000, 31);
        var session = await NewSessionAsync(total: data.Length);
        Assert.Null(await Store.StageAsync(Stale(session), 0, data.AsMemory(0, 6000), alreadyStaged: false, Ct));
        session = (await Store.StageAsync(session, 0, data.AsMemory(0, 2500), alreadyStaged: false, Ct))!;
        Assert.Null(await Store.StageAsync(Stale(session), 2500, data.AsMemory(2500, 5000), alreadyStaged: false, Ct));
        session = await StageAllAsync(session, data, 2500);

        Assert.Equal(PublishResult.Published, await Store.PublishAsync(session, allowOverwrite: false, Ct));
        Assert.Equal(data, await ReadPublishedAsync(session.Destination));
    }

    [Fact]
    public async Task Publish_Retried_IsIdempotent()
    {
        var data = SeededStream.Bytes(5000, 4);
        var session = await NewSessionAsync(total: data.Length);
        session = await StageAllAsync(session, data, 5000);

        Assert.Equal(PublishResult.Published, await Store.PublishAsync(session, allowOverwrite: false, Ct));
        Assert.Equal(PublishResult.Published, await Store.PublishAsync(session, allowOverwrite: false, Ct));
        Assert.Equal(data, await ReadPublishedAsync(session.Destination));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Publish_RacingClosesOfOneSession_PublishOnce(bool allowOverwrite)
    {
        var destination = NewDestination();
        if (allowOverwrite)
        {
            var earlier = await StageAllAsync(await NewSessionAsync(destination, 10), SeededStream.Bytes(10, 40), 10);
            Assert.Equal(PublishResult.Published, await Store.PublishAsync(earlier, allowOverwrite: true, Ct));
        }

        var data = SeededStream.Bytes(20_000, 41);
        var session = await StageAllAsync(await NewSessionAsync(destination, data.Length), data, 3000);

        var results = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Store.PublishAsync(session, allowOverwrite, Ct)));

        Assert.All(results, r => Assert.Equal(PublishResult.Published, r));
        Assert.Equal(data, await ReadPublishedAsync(destination));
        Assert.Equal(BitsSessionState.Closed, (await Store.GetSessionAsync(session.Id, Ct))!.State);
    }

    [Fact]
    public async Task Publish_ExistingDestinationWithoutOverwrite_KeepsTheExistingFile()
    {
        var destination = NewDestination();
        var first = SeededStream.Bytes(1000, 5);
        var second = SeededStream.Bytes(1500, 6);
        var a = await StageAllAsync(await NewSessionAsync(destination, first.Length), first, 1000);
        Assert.Equal(PublishResult.Published, await Store.PublishAsync(a, allowOverwrite: false, Ct));

        // Staged after the first commit: its blocks are intact, the destination is not.
        var b = await StageAllAsync(await NewSessionAsync(destination, second.Length), second, 1000);
        Assert.Equal(PublishResult.DestinationExists, await Store.PublishAsync(b, allowOverwrite: false, Ct));
        Assert.Equal(first, await ReadPublishedAsync(destination));
    }

    [Fact]
    public async Task Publish_ExistingDestinationWithOverwrite_ReplacesIt()
    {
        var destination = NewDestination();
        var first = SeededStream.Bytes(1000, 7);
        var second = SeededStream.Bytes(700, 8);
        var a = await StageAllAsync(await NewSessionAsync(destination, first.Length), first, 1000);
        await Store.PublishAsync(a, allowOverwrite: true, Ct);
        var b = await StageAllAsync(await NewSessionAsync(destination, second.Length), second, 1000);

        Assert.Equal(PublishResult.Published, await Store.PublishAsync(b, allowOverwrite: true, Ct));
        Assert.Equal(second, await ReadPublishedAsync(destination));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Publish_AfterAnotherSessionsCommitDiscardedItsBlocks_IsDiscarded_NeverAMix(bool allowOverwrite, bool laterCreatedClosesFirst)
    {
        var destination = NewDestination();
        var payloads = new[] { SeededStream.Bytes(30_000, 9), SeededStream.Bytes(30_000, 10) };
        var sessions = new List<BitsSession>();
        foreach (var payload in payloads)
        {
            sessions.Add(await StageAllAsync(await NewSessionAsync(destination, payload.Length), payload, 10_000));
        }

        var (winner, loser) = laterCreatedClosesFirst ? (1, 0) : (0, 1);
        Assert.Equal(3, await CountStagedAsync(sessions[loser]));
        Assert.Equal(PublishResult.Published, await Store.PublishAsync(sessions[winner], allowOverwrite, Ct));

        // The commit told the other session: its record is no longer open (its next Fragment reads it and restarts).
        Assert.Equal(BitsSessionState.Discarded, (await Store.GetSessionAsync(sessions[loser].Id, Ct))!.State);
        Assert.Equal(PublishResult.Discarded, await Store.PublishAsync(sessions[loser], allowOverwrite, Ct));
        Assert.Equal(payloads[winner], await ReadPublishedAsync(destination));
        Assert.Equal(BitsSessionState.Discarded, (await Store.GetSessionAsync(sessions[loser].Id, Ct))!.State);
        Assert.Equal(0, await CountStagedAsync(sessions[loser]));
    }

    [Fact]
    public async Task Publish_TwoSessionsToOneName_NeverMixTheirBytes()
    {
        var destination = NewDestination();
        var payloads = new[] { SeededStream.Bytes(50_000, 9), SeededStream.Bytes(50_000, 10) };
        var sessions = new List<BitsSession>();
        foreach (var payload in payloads)
        {
            sessions.Add(await StageAllAsync(await NewSessionAsync(destination, payload.Length), payload, 10_000));
        }

        var results = await Task.WhenAll(sessions.Select(s => Store.PublishAsync(s, allowOverwrite: true, Ct)));

        var published = await ReadPublishedAsync(destination);
        Assert.Contains(PublishResult.Published, results);
        Assert.True(published!.SequenceEqual(payloads[0]) || published.SequenceEqual(payloads[1]), "the published file is a mix of two uploads");
        for (var i = 0; i < 2; i++)
        {
            if (results[i] == PublishResult.Published && results[1 - i] == PublishResult.Discarded)
            {
                Assert.Equal(payloads[i], published);
            }
        }
    }

    [Fact]
    public async Task Publish_ThenOverwrittenByAnotherSession_ARetriedCloseStillReportsPublished()
    {
        var destination = NewDestination();
        var first = SeededStream.Bytes(4000, 12);
        var second = SeededStream.Bytes(3000, 13);
        var a = await StageAllAsync(await NewSessionAsync(destination, first.Length), first, 1000);
        Assert.Equal(PublishResult.Published, await Store.PublishAsync(a, allowOverwrite: true, Ct));
        var b = await StageAllAsync(await NewSessionAsync(destination, second.Length), second, 1000);
        Assert.Equal(PublishResult.Published, await Store.PublishAsync(b, allowOverwrite: true, Ct));

        // A's Close retried with the session as it was before its first Close (a lost response, another instance).
        Assert.Equal(PublishResult.Published, await Store.PublishAsync(a, allowOverwrite: true, Ct));
        Assert.Equal(second, await ReadPublishedAsync(destination));
        Assert.Equal(BitsSessionState.Closed, (await Store.GetSessionAsync(a.Id, Ct))!.State);
    }

    [Fact]
    public async Task Publish_ZeroLengthUpload_CreatesAnEmptyFile()
    {
        var session = await NewSessionAsync(total: 0);

        Assert.Equal(PublishResult.Published, await Store.PublishAsync(session, allowOverwrite: false, Ct));
        var published = await ReadPublishedAsync(session.Destination);
        Assert.NotNull(published);
        Assert.Empty(published);
        Assert.Equal(0, await CountStagedAsync(session));
    }

    [Fact]
    public async Task Stage_MoreFragmentsThanTheBlockLimitsAllow_CoalescesAndPublishesByteIdentical()
    {
        LowerLimits(TinyLimits);
        var data = SeededStream.Bytes(100 * 5 * 1024, 50);
        var session = await StageAllAsync(await NewSessionAsync(total: data.Length), data, 5 * 1024);

        Assert.Equal(PublishResult.Published, await Store.PublishAsync(session, allowOverwrite: false, Ct));
        Assert.Equal(data, await ReadPublishedAsync(session.Destination));
        Assert.Equal(0, await CountStagedAsync(session));
    }

    [Fact]
    public async Task Stage_WhileAnotherSessionHoldsItsShareOfTheUncommittedLimit_BothStayWithinIt_AndTheFirstCloseWins()
    {
        LowerLimits(TinyLimits);
        var destination = NewDestination();
        var first = SeededStream.Bytes(100 * 5 * 1024, 51);
        var second = SeededStream.Bytes(100 * 5 * 1024, 52);
        var earlier = await StageAllAsync(await NewSessionAsync(destination, first.Length), first, 5 * 1024, upTo: first.Length - 5 * 1024);

        var later = await StageAllAsync(await NewSessionAsync(destination, second.Length), second, 5 * 1024);

        Assert.Equal(PublishResult.Published, await Store.PublishAsync(later, allowOverwrite: false, Ct));
        Assert.Equal(second, await ReadPublishedAsync(destination));
        Assert.Equal(BitsSessionState.Discarded, (await Store.GetSessionAsync(earlier.Id, Ct))!.State);
    }

    [Fact]
    public async Task Stage_OnABlobOthersFilledToTheLimit_CoalescesEverything_CloseWaitsForRoom_ThenPublishesByteIdentical()
    {
        LowerLimits(TinyLimits);
        var destination = NewDestination();
        await StageForeignBlocksAsync(destination, TinyLimits.MaxUncommittedBlocks);
        var data = SeededStream.Bytes(30 * 5 * 1024, 53);

        // Every Fragment is still stored and recorded (in the session's segment: the blob has no room for a block).
        var session = await StageAllAsync(await NewSessionAsync(destination, data.Length), data, 5 * 1024);
        Assert.Equal(data.Length, session.ReceivedLength);
        var full = await Assert.ThrowsAsync<BitsStoreUnavailableException>(() => Store.PublishAsync(session, allowOverwrite: false, Ct));
        Assert.Same(BitsErrors.BlockLimit, full.Reason);

        // The others' blocks expire: the retried Close moves the segment in as one block and publishes.
        await ExpireUncommittedAsync(destination);
        Assert.Equal(PublishResult.Published, await Store.PublishAsync(session, allowOverwrite: false, Ct));
        Assert.Equal(data, await ReadPublishedAsync(destination));
        Assert.Equal(0, await CountStagedAsync(session));
    }

    [Fact]
    public async Task Stage_ABlockTheFullBlobRefused_WhoseRecordFailed_ContinuesInTheSegment_OnTheAlreadyStagedRetry()
    {
        // The blob is full of others' blocks: the first Fragment's block is refused and its bytes go to a segment, but
        // the record write fails (a lost response). The retry with "already staged" must not count a block that was
        // never staged (Close would find a hole: 0x8020001F) nor leave the segment behind.
        LowerLimits(TinyLimits);
        var destination = NewDestination();
        await StageForeignBlocksAsync(destination, TinyLimits.MaxUncommittedBlocks);
        var data = SeededStream.Bytes(6 * 5 * 1024, 56);
        var session = await NewSessionAsync(destination, data.Length);
        Assert.Null(await Store.StageAsync(Stale(session), 0, data.AsMemory(0, 5 * 1024), alreadyStaged: false, Ct));
        session = (await Store.StageAsync(session, 0, data.AsMemory(0, 5 * 1024), alreadyStaged: true, Ct))!;
        session = await StageAllAsync(session, data, 5 * 1024);

        await ExpireUncommittedAsync(destination);
        Assert.Equal(PublishResult.Published, await Store.PublishAsync(session, allowOverwrite: false, Ct));
        Assert.Equal(data, await ReadPublishedAsync(destination));
        Assert.Equal(0, await CountStagedAsync(session));
    }

    [Fact]
    public async Task Stage_ARetransmitIntoTheSegment_IsNotAppendedTwice()
    {
        LowerLimits(TinyLimits);
        var data = SeededStream.Bytes(100 * 5 * 1024, 54);
        var session = await StageAllAsync(await NewSessionAsync(total: data.Length), data, 5 * 1024, upTo: 40 * 5 * 1024);

        // The same range again through the session as it was (a lost response), then recorded with "already staged".
        var offset = (int)session.ReceivedLength;
        Assert.Null(await Store.StageAsync(Stale(session), offset, data.AsMemory(offset, 5 * 1024), alreadyStaged: false, Ct));
        session = (await Store.StageAsync(session, offset, data.AsMemory(offset, 5 * 1024), alreadyStaged: true, Ct))!;
        session = await StageAllAsync(session, data, 7 * 1024);

        Assert.Equal(PublishResult.Published, await Store.PublishAsync(session, allowOverwrite: false, Ct));
        Assert.Equal(data, await ReadPublishedAsync(session.Destination));
    }

    [Theory]
    [InlineData(BitsSessionState.Cancelled)]
    [InlineData(BitsSessionState.Discarded)]
    public async Task Discard_RemovesStagedDataAndKeepsATombstone(BitsSessionState state)
    {
        var data = SeededStream.Bytes(3000, 11);
        var session = await StageAllAsync(await NewSessionAsync(total: data.Length), data, 1000, upTo: 2000);
        Assert.Equal(2, await CountStagedAsync(session));

        await Store.DiscardAsync(session, state, Ct);
        await Store.DiscardAsync(session, state, Ct);

        Assert.Equal(0, await CountStagedAsync(session));
        Assert.False(await ListedAsync(session.Destination));
        Assert.False(await SessionRecordExistsAsync(session.Id));
        Assert.Equal(state, (await Store.GetSessionAsync(session.Id, Ct))!.State);
        Assert.Null(await ReadPublishedAsync(session.Destination));
    }

    [Fact]
    public async Task Discard_WhileAnotherSessionStagesOnTheDestination_LeavesItsBlocks_ThenItsCommitCleansUp()
    {
        var destination = NewDestination();
        var mine = SeededStream.Bytes(3000, 14);
        var theirs = SeededStream.Bytes(5000, 15);
        var cancelled = await StageAllAsync(await NewSessionAsync(destination, mine.Length), mine, 1000, upTo: 2000);
        var other = await StageAllAsync(await NewSessionAsync(destination, theirs.Length), theirs, 1000);
        Assert.Equal(2, await CountStagedAsync(cancelled));
        Assert.Equal(5, await CountStagedAsync(other));

        await Store.DiscardAsync(cancelled, BitsSessionState.Cancelled, Ct);

        Assert.Equal(PublishResult.Published, await Store.PublishAsync(other, allowOverwrite: false, Ct));
        Assert.Equal(theirs, await ReadPublishedAsync(destination));
        Assert.Equal(0, await CountStagedAsync(cancelled));
    }

    [Fact]
    public async Task Discard_OfTheLastOpenSession_RemovesBlocksOthersLeftBehind()
    {
        var destination = NewDestination();
        var data = SeededStream.Bytes(3000, 16);
        var first = await StageAllAsync(await NewSessionAsync(destination, data.Length), data, 1000, upTo: 2000);
        var second = await StageAllAsync(await NewSessionAsync(destination, data.Length), data, 1000, upTo: 1000);

        await Store.DiscardAsync(first, BitsSessionState.Cancelled, Ct);
        Assert.True(await ListedAsync(destination)); // the second session still stages there
        await Store.DiscardAsync(second, BitsSessionState.Cancelled, Ct);

        Assert.False(await ListedAsync(destination));
        Assert.Equal(0, await CountStagedAsync(first));
    }

    [Fact]
    public async Task Discard_AfterPublish_NeverTouchesThePublishedFile()
    {
        var data = SeededStream.Bytes(3000, 12);
        var session = await StageAllAsync(await NewSessionAsync(total: data.Length), data, 3000);
        await Store.PublishAsync(session, allowOverwrite: false, Ct);

        await Store.DiscardAsync(session, BitsSessionState.Cancelled, Ct);

        Assert.Equal(data, await ReadPublishedAsync(session.Destination));
        Assert.Equal(BitsSessionState.Closed, (await Store.GetSessionAsync(session.Id, Ct))!.State);
    }

    [Fact]
    public async Task Discard_OfACoalescingSession_RemovesItsSegment()
    {
        LowerLimits(TinyLimits);
        var data = SeededStream.Bytes(100 * 5 * 1024, 55);
        var session = await StageAllAsync(await NewSessionAsync(total: data.Length), data, 5 * 1024, upTo: 50 * 5 * 1024);
        Assert.True(await CountStagedAsync(session) > 0, "the session's blocks and segment are not counted");

        await Store.DiscardAsync(session, BitsSessionState.Cancelled, Ct);

        Assert.Equal(0, await CountStagedAsync(session));
        Assert.False(await ListedAsync(session.Destination));
    }

    [Theory]
    [InlineData(false, 2000)]
    [InlineData(false, 0)]
    [InlineData(true, 2000)]
    [InlineData(true, 0)]
    public async Task Stage_WithTheSessionAsItWasBeforeCloseOrCancel_NeverRecordsAnything(bool publish, long offset)
    {
        // What the handler's session cache relies on: staging through a session object read while the session was
        // open, after it was published or discarded, records nothing: the record write fails (or the store says the
        // session is gone). A published file is never touched, and a discarded session leaves nothing listed.
        var data = SeededStream.Bytes(3000, 13);
        var session = await StageAllAsync(await NewSessionAsync(total: data.Length), data, 1000, upTo: publish ? 3000 : 2000);
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
            Assert.Null(await Store.StageAsync(session, offset, data.AsMemory((int)offset, 1000), alreadyStaged: false, Ct));
        }
        catch (BitsSessionGoneException)
        {
            // Also fine: the store knows the session is gone.
        }

        Assert.Equal(publish ? data : null, await ReadPublishedAsync(session.Destination));
        Assert.Equal(publish, await ListedAsync(session.Destination));
        Assert.Equal(publish ? BitsSessionState.Closed : BitsSessionState.Cancelled, (await Store.GetSessionAsync(session.Id, Ct))!.State);
    }
}
