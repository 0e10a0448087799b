using System.Text;
using Azure;
using Azure.Data.Tables;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using Bits.Protocol;
using Bits.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Bits.Storage.Azure.Tests;

public class AzureStoreTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<BitsSession> NewSessionAsync(StorageHarness harness, long total, string? destination = null)
    {
        var session = new BitsSession { Id = BitsSessionIds.NewId(), Destination = destination ?? $"t/{Guid.NewGuid():N}.bin", CreatedAt = DateTimeOffset.UtcNow };
        await harness.Store.CreateSessionAsync(session, Ct);
        var stored = await harness.Store.GetSessionAsync(session.Id, Ct);
        return (await harness.Store.TrySetTotalLengthAsync(stored!, total, Ct))!;
    }

    private static async Task<BitsSession> StageAllAsync(StorageHarness harness, BitsSession session, byte[] data, int piece)
    {
        for (var offset = (int)session.ReceivedLength; offset < data.Length;)
        {
            var length = Math.Min(piece, data.Length - offset);
            session = (await harness.Store.StageAsync(session, offset, data.AsMemory(offset, length), alreadyStaged: false, Ct))!;
            offset += length;
        }

        return session;
    }

    private static string Id(string text) => Convert.ToBase64String(Encoding.ASCII.GetBytes(text));

    [Fact]
    public async Task Stage_SteadyState_CostsOneBlockAndOneTableWrite_AndNoRead()
    {
        var harness = await StorageHarness.CreateAsync(azurite);
        var data = SeededStream.Bytes(64 * 1024, 1);
        var session = await NewSessionAsync(harness, data.Length);
        session = (await harness.Store.StageAsync(session, 0, data.AsMemory(0, 16 * 1024), alreadyStaged: false, Ct))!;

        harness.Counter.Reset();
        var result = await harness.Store.StageAsync(session, 16 * 1024, data.AsMemory(16 * 1024, 16 * 1024), alreadyStaged: false, Ct);

        Assert.NotNull(result);
        Assert.Equal(2, harness.Counter.Writes);
        Assert.Equal(0, harness.Counter.Reads);
    }

    [Fact]
    public async Task GetSession_OpenSession_CostsOneRead()
    {
        var harness = await StorageHarness.CreateAsync(azurite);
        var session = await NewSessionAsync(harness, 10);

        harness.Counter.Reset();
        Assert.NotNull(await harness.Store.GetSessionAsync(session.Id, Ct));

        Assert.Equal(1, harness.Counter.Reads);
        Assert.Equal(0, harness.Counter.Writes);
    }

    [Fact]
    public async Task Stage_WritesTheBytesOnceWhereTheFileWillLive_AndTheStagingContainerStaysEmpty()
    {
        var harness = await StorageHarness.CreateAsync(azurite);
        var data = SeededStream.Bytes(95_123, 2);
        var session = await StageAllAsync(harness, await NewSessionAsync(harness, data.Length), data, 10_000);

        Assert.Empty(await harness.StagedBlobsAsync());
        Assert.Equal(10, (await harness.UncommittedBlocksAsync(session.Destination, session.Id)).Count);
        Assert.True(await harness.ListedAsync(session.Destination));
    }

    [Fact]
    public async Task Close_CostIsIndependentOfTheFileSize_AndCopiesNothing()
    {
        var harness = await StorageHarness.CreateAsync(azurite);
        var requests = new List<int>();
        foreach (var size in new[] { 16 * 1024, 1024 * 1024 })
        {
            var data = SeededStream.Bytes(size, 3);
            var session = await StageAllAsync(harness, await NewSessionAsync(harness, data.Length), data, size / 8);
            harness.Counter.Reset();
            Assert.Equal(PublishResult.Published, await harness.Store.PublishAsync(session, allowOverwrite: false, Ct));
            requests.Add(harness.Counter.Total);
            Assert.Equal(data, await harness.ReadPublishedAsync(session.Destination));
        }

        // Observe, overwrite record, block list, commit, registry query, tombstone (index + transaction), clean-up.
        Assert.Equal(requests[0], requests[1]);
        Assert.True(requests[0] <= 14, $"{requests[0]} requests");
    }

    [Fact]
    public async Task Close_LeavesNoSessionRowAndNothingListed()
    {
        var harness = await StorageHarness.CreateAsync(azurite);
        var data = SeededStream.Bytes(20_000, 5);
        var closed = await StageAllAsync(harness, await NewSessionAsync(harness, data.Length), data, 4096);
        var cancelled = await StageAllAsync(harness, await NewSessionAsync(harness, 30_000), data, 4096);

        await harness.Store.PublishAsync(closed, allowOverwrite: false, Ct);
        await harness.Store.DiscardAsync(cancelled, BitsSessionState.Cancelled, Ct);

        Assert.Empty(await harness.StagedBlobsAsync());
        Assert.False(await harness.ListedAsync(cancelled.Destination));
        Assert.Empty(await harness.RowsAsync(AzureBitsUploadStore.SessionRowKey));
        Assert.Equal(2, (await harness.RowsAsync(AzureBitsUploadStore.TombstoneRowKey)).Count);
        Assert.DoesNotContain(await harness.RowsAsync(), r => r.PartitionKey.StartsWith(AzureBitsUploadStore.DestinationPartitionPrefix, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Discard_RunAgainFromTheTombstone_AfterACleanUpThatDidNotFinish_RemovesTheSessionsSegment()
    {
        // A coalescing session (the blob is full of others' blocks) is cancelled; its segment then reappears as if the
        // host had died between the tombstone and the clean-up. A discard run again from the tombstone must still
        // know where the segment begins.
        var harness = await StorageHarness.CreateAsync(azurite);
        harness.LowerLimits(new BitsBlockBudget(MaxCommittedBlocks: 20, MaxUncommittedBlocks: 24, SegmentBytes: 64 * 1024));
        var destination = $"t/{Guid.NewGuid():N}.bin";
        var foreign = harness.Uploads.GetBlockBlobClient(destination);
        var owner = AzureBitsUploadStore.SessionKey(BitsSessionIds.NewId());
        for (var i = 0; i < 24; i++)
        {
            await foreign.StageBlockAsync(AzureBitsUploadStore.BlockId(owner, i, 1), new MemoryStream([0]), cancellationToken: Ct);
        }

        var data = SeededStream.Bytes(4 * 5 * 1024, 57);
        var session = await NewSessionAsync(harness, data.Length * 2, destination);
        session = await StageAllAsync(harness, session, data, 5 * 1024);
        var segments = await harness.StagedBlobsAsync(session.Id);
        Assert.Single(segments);

        await harness.Store.DiscardAsync(session, BitsSessionState.Cancelled, Ct);
        Assert.Empty(await harness.StagedBlobsAsync(session.Id));
        await harness.Staging.GetAppendBlobClient(segments[0]).CreateAsync(cancellationToken: Ct);
        var tombstone = (await harness.Store.GetSessionAsync(session.Id, Ct))!;
        await harness.Store.DiscardAsync(tombstone, BitsSessionState.Cancelled, Ct);

        Assert.Equal(BitsSessionState.Cancelled, tombstone.State);
        Assert.Empty(await harness.StagedBlobsAsync(session.Id));
    }

    [Fact]
    public async Task Tombstone_AfterItsLifetime_IsNotReturned()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var harness = await StorageHarness.CreateAsync(azurite, time: time);
        var session = await NewSessionAsync(harness, 0);
        await harness.Store.PublishAsync(session, allowOverwrite: false, Ct);
        Assert.Equal(BitsSessionState.Closed, (await harness.Store.GetSessionAsync(session.Id, Ct))!.State);

        time.Advance(new BitsServerOptions().TombstoneLifetime + TimeSpan.FromSeconds(1));

        Assert.Null(await harness.Store.GetSessionAsync(session.Id, Ct));
    }

    [Fact]
    public async Task Publish_AfterCrashBetweenCommitAndTombstone_FinishesWithoutRepublishing()
    {
        var harness = await StorageHarness.CreateAsync(azurite);
        var data = SeededStream.Bytes(5000, 6);
        var session = await StageAllAsync(harness, await NewSessionAsync(harness, data.Length), data, 2000);
        await harness.Store.PublishAsync(session, allowOverwrite: false, Ct);

        // Simulate the crash: the session row comes back as it was before the tombstone.
        var tombstone = (await harness.Sessions.GetEntityAsync<TableEntity>(session.Id, AzureBitsUploadStore.TombstoneRowKey, cancellationToken: Ct)).Value;
        await harness.Sessions.DeleteEntityAsync(tombstone, cancellationToken: Ct);
        var row = new TableEntity(session.Id, AzureBitsUploadStore.SessionRowKey)
        {
            ["Destination"] = session.Destination, ["CreatedAt"] = session.CreatedAt, ["TotalLength"] = (long)data.Length, ["State"] = 0,
            ["Layout"] = AzureBitsUploadStore.BlocksLayout, ["Received"] = (long)data.Length,
        };
        await harness.Sessions.AddEntityAsync(row, Ct);
        var reopened = (await harness.Store.GetSessionAsync(session.Id, Ct))!;
        var etagBefore = (await harness.Uploads.GetBlobClient(session.Destination).GetPropertiesAsync(cancellationToken: Ct)).Value.ETag;

        Assert.Equal(PublishResult.Published, await harness.Store.PublishAsync(reopened, allowOverwrite: false, Ct));

        var etagAfter = (await harness.Uploads.GetBlobClient(session.Destination).GetPropertiesAsync(cancellationToken: Ct)).Value.ETag;
        Assert.Equal(etagBefore, etagAfter);
        Assert.Equal(BitsSessionState.Closed, (await harness.Store.GetSessionAsync(session.Id, Ct))!.State);
    }

    [Fact]
    public async Task Publish_DiscardedByAnotherCommit_NeverStagesAgain()
    {
        var harness = await StorageHarness.CreateAsync(azurite);
        var destination = $"t/{Guid.NewGuid():N}.bin";
        var data = SeededStream.Bytes(40_000, 7);
        var first = await StageAllAsync(harness, await NewSessionAsync(harness, data.Length, destination), data, 10_000);
        var second = await StageAllAsync(harness, await NewSessionAsync(harness, data.Length, destination), data, 10_000);
        Assert.Equal(PublishResult.Published, await harness.Store.PublishAsync(first, allowOverwrite: true, Ct));

        var blocksBefore = harness.Counter.Writes;
        harness.Counter.Reset();
        Assert.Equal(PublishResult.Discarded, await harness.Store.PublishAsync(second, allowOverwrite: true, Ct));

        Assert.Empty(await harness.UncommittedBlocksAsync(destination));
        Assert.Equal(BitsSessionState.Discarded, (await harness.Store.GetSessionAsync(second.Id, Ct))!.State);
        Assert.True(blocksBefore > 0);
    }

    [Fact]
    public async Task Session_StagedInAppendSegmentsByAnEarlierVersion_IsGone()
    {
        var harness = await StorageHarness.CreateAsync(azurite);
        var id = BitsSessionIds.NewId();
        await harness.Sessions.AddEntityAsync(new TableEntity(id, AzureBitsUploadStore.SessionRowKey)
        {
            ["Destination"] = "old.bin", ["CreatedAt"] = DateTimeOffset.UtcNow, ["TotalLength"] = 10L, ["State"] = 0, ["SegmentBytes"] = 250_000_000L,
        }, Ct);
        var session = (await harness.Store.GetSessionAsync(id, Ct))!;

        await Assert.ThrowsAsync<BitsSessionGoneException>(() => harness.Store.StageAsync(session, 0, new byte[10], alreadyStaged: false, Ct));
        await Assert.ThrowsAsync<BitsSessionGoneException>(() => harness.Store.PublishAsync(session, allowOverwrite: false, Ct));
    }

    [Fact]
    public async Task MissingUploadContainer_IsAServerFault_NotAMissingSession()
    {
        var harness = await StorageHarness.CreateAsync(azurite);
        var data = SeededStream.Bytes(1000, 8);
        var session = await NewSessionAsync(harness, data.Length);
        await harness.Uploads.DeleteAsync(cancellationToken: Ct);

        await Assert.ThrowsAsync<BitsStoreUnavailableException>(() => harness.Store.StageAsync(session, 0, data, alreadyStaged: false, Ct));
    }

    [Fact]
    public async Task Publish_WritesMetadata()
    {
        var harness = await StorageHarness.CreateAsync(azurite);
        var session = new BitsSession { Id = BitsSessionIds.NewId(), Destination = "meta/x.bin", ContentName = "rapport été.bin", User = "bob", CreatedAt = DateTimeOffset.UtcNow };
        await harness.Store.CreateSessionAsync(session, Ct);
        var stored = await harness.Store.TrySetTotalLengthAsync((await harness.Store.GetSessionAsync(session.Id, Ct))!, 3, Ct);
        stored = await harness.Store.StageAsync(stored!, 0, new byte[] { 1, 2, 3 }, alreadyStaged: false, Ct);

        await harness.Store.PublishAsync(stored!, allowOverwrite: false, Ct);

        var metadata = (await harness.Uploads.GetBlobClient("meta/x.bin").GetPropertiesAsync(cancellationToken: Ct)).Value.Metadata;
        Assert.Equal(AzureBitsUploadStore.SessionKey(session.Id), metadata[AzureBitsUploadStore.SessionIdMetadata]);
        Assert.Equal("rapport été.bin", Uri.UnescapeDataString(metadata[AzureBitsUploadStore.ContentNameMetadata]));
        Assert.Equal("bob", metadata[AzureBitsUploadStore.UploaderMetadata]);
    }

    /// <summary>
    /// Issue 17, point 4: a <c>BITS-Copy-File-To-Destination</c> copy onto a destination that other writers filled to the
    /// uncommitted-block limit is the block-limit error (a 503 Ack), not storage's 409 escaping as a server fault.
    /// </summary>
    [Fact]
    public async Task CopyToDestination_OntoABlobOthersFilledToTheLimit_IsTheBlockLimitError()
    {
        var harness = await StorageHarness.CreateAsync(azurite);
        harness.LowerLimits(new BitsBlockBudget(MaxCommittedBlocks: 20, MaxUncommittedBlocks: 4, SegmentBytes: 64 * 1024));
        var data = SeededStream.Bytes(3000, 60);
        var created = new BitsSession { Id = BitsSessionIds.NewId(), Destination = $"t/{Guid.NewGuid():N}.bin", CreatedAt = DateTimeOffset.UtcNow, PrivateStaging = true };
        await harness.Store.CreateSessionAsync(created, Ct);
        var session = (await harness.Store.TrySetTotalLengthAsync((await harness.Store.GetSessionAsync(created.Id, Ct))!, data.Length, Ct))!;
        session = await StageAllAsync(harness, session, data, 1000);
        session = await harness.Store.RecordNotificationAsync(session, new BitsNotificationOutcome(null, CopyToDestination: true), Ct);
        var destination = harness.Uploads.GetBlockBlobClient(session.Destination);
        var other = AzureBitsUploadStore.SessionKey(BitsSessionIds.NewId());
        for (var i = 0; i < 4; i++)
        {
            await destination.StageBlockAsync(AzureBitsUploadStore.BlockId(other, i, 1), new MemoryStream([0]), cancellationToken: Ct);
        }

        var full = await Assert.ThrowsAsync<BitsStoreUnavailableException>(() => harness.Store.CopyToDestinationAsync(session, CancellationToken.None, Ct));

        Assert.Same(BitsErrors.BlockLimit, full.Reason);
    }

    /// <summary>The facts of issue 14 the design rests on, checked on the Azurite the suite runs against.</summary>
    [Fact]
    public async Task Facts_BlockBlobsBehaveAsTheDesignAssumes()
    {
        var harness = await StorageHarness.CreateAsync(azurite);
        var blob = harness.Uploads.GetBlockBlobClient($"facts/{Guid.NewGuid():N}.bin");
        string a = Id(new string('a', 52)), b = Id(new string('b', 52)), c = Id(new string('c', 52));
        await blob.StageBlockAsync(a, new MemoryStream([1, 2]), cancellationToken: Ct);
        await blob.StageBlockAsync(b, new MemoryStream([3, 4]), cancellationToken: Ct);

        // A blob with only uncommitted blocks: listed with include=uncommittedblobs, no properties (404).
        Assert.True(await harness.ListedAsync(blob.Name));
        Assert.Equal(404, (await Assert.ThrowsAsync<RequestFailedException>(() => blob.GetPropertiesAsync(cancellationToken: Ct))).Status);

        // One session's commit discards every block it does not name, including another session's.
        await blob.CommitBlockListAsync([a], new CommitBlockListOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } }, Ct);
        var afterCommit = await Assert.ThrowsAsync<RequestFailedException>(() => blob.CommitBlockListAsync([b], cancellationToken: Ct));
        Assert.Equal((400, "InvalidBlockList"), (afterCommit.Status, afterCommit.ErrorCode));

        // A Put Block after another commit still succeeds; If-None-Match * on an existing blob is 409 BlobAlreadyExists.
        await blob.StageBlockAsync(c, new MemoryStream([5]), cancellationToken: Ct);
        var exists = await Assert.ThrowsAsync<RequestFailedException>(
            () => blob.CommitBlockListAsync([c], new CommitBlockListOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } }, Ct));
        Assert.Equal(409, exists.Status);

        // Delete Blob on an uncommitted-only blob: 202, then its block list is 404.
        var other = harness.Uploads.GetBlockBlobClient($"facts/{Guid.NewGuid():N}.bin");
        await other.StageBlockAsync(a, new MemoryStream([1]), cancellationToken: Ct);
        Assert.Equal(202, (await other.DeleteAsync(DeleteSnapshotsOption.None, new BlobRequestConditions { IfNoneMatch = ETag.All }, Ct)).Status);
        Assert.Equal(404, (await Assert.ThrowsAsync<RequestFailedException>(() => other.GetBlockListAsync(cancellationToken: Ct))).Status);
        Assert.False(await harness.ListedAsync(other.Name));
    }
}
