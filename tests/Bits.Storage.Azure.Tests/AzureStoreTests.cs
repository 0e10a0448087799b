using Azure.Data.Tables;
using Bits.Protocol;
using Bits.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Bits.Storage.Azure.Tests;

public class AzureStoreTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<BitsSession> NewSessionAsync(StorageHarness harness, long total)
    {
        var session = new BitsSession { Id = BitsSessionIds.NewId(), Destination = $"t/{Guid.NewGuid():N}.bin", CreatedAt = DateTimeOffset.UtcNow };
        await harness.Store.CreateSessionAsync(session, Ct);
        var stored = await harness.Store.GetSessionAsync(session.Id, Ct);
        return (await harness.Store.TrySetTotalLengthAsync(stored!, total, Ct))!;
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Fact]
    public async Task Append_SteadyState_CostsOneWriteAndNoRead()
    {
        var harness = await StorageHarness.CreateAsync(azurite);
        var data = RandomBytes(64 * 1024, 1);
        var session = await NewSessionAsync(harness, data.Length);
        await harness.Store.AppendAsync(session, 0, data.AsMemory(0, 16 * 1024), Ct);

        harness.Counter.Reset();
        var result = await harness.Store.AppendAsync(session, 16 * 1024, data.AsMemory(16 * 1024, 16 * 1024), Ct);

        Assert.True(result.Appended);
        Assert.Equal(1, harness.Counter.Writes);
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
    public async Task Append_AcrossSegmentBoundaries_RollsOverAndPublishesIdenticalBytes()
    {
        const int segment = 10_000;
        var harness = await StorageHarness.CreateAsync(azurite, segmentBytes: segment);
        var data = RandomBytes(95_123, 2);
        var session = await NewSessionAsync(harness, data.Length);
        var random = new Random(2);
        for (var offset = 0; offset < data.Length;)
        {
            var length = Math.Min(random.Next(1_000, 25_000), data.Length - offset);
            var result = await harness.Store.AppendAsync(session, offset, data.AsMemory(offset, length), Ct);
            Assert.True(result.Appended);
            offset += length;
            Assert.Equal(offset, result.ReceivedLength);
        }

        var staged = await harness.StagedBlobsAsync(session.Id);
        Assert.Equal(10, staged.Count); // 95,123 bytes in 10,000-byte segments
        Assert.Equal(data.Length, await harness.Store.GetReceivedLengthAsync(session, Ct));
        Assert.Equal(PublishResult.Published, await harness.Store.PublishAsync(session, allowOverwrite: false, Ct));
        Assert.Equal(data, await harness.ReadPublishedAsync(session.Destination));
        Assert.Empty(await harness.StagedBlobsAsync(session.Id));
    }

    [Fact]
    public async Task Append_FillingASegmentExactly_OpensTheNextSegment()
    {
        var harness = await StorageHarness.CreateAsync(azurite, segmentBytes: 4096);
        var data = RandomBytes(8192, 3);
        var session = await NewSessionAsync(harness, data.Length);

        await harness.Store.AppendAsync(session, 0, data.AsMemory(0, 4096), Ct);
        harness.Counter.Reset();
        var second = await harness.Store.AppendAsync(session, 4096, data.AsMemory(4096, 1000), Ct);

        Assert.True(second.Appended);
        Assert.Equal(1, harness.Counter.Total);
    }

    [Fact]
    public async Task Append_RetransmitAfterLostResponse_ReportsTrueOffsetWithoutDuplicating()
    {
        var harness = await StorageHarness.CreateAsync(azurite, segmentBytes: 4096);
        var data = RandomBytes(10_000, 4);
        var session = await NewSessionAsync(harness, data.Length);
        await harness.Store.AppendAsync(session, 0, data.AsMemory(0, 6000), Ct);

        var again = await harness.Store.AppendAsync(session, 0, data.AsMemory(0, 6000), Ct);
        var beyond = await harness.Store.AppendAsync(session, 9000, data.AsMemory(9000, 1000), Ct);

        Assert.Equal(new AppendResult(false, 6000), again);
        Assert.Equal(new AppendResult(false, 6000), beyond);
    }

    [Fact]
    public async Task Close_LeavesNoSessionRowAndNoStagedBlob()
    {
        var harness = await StorageHarness.CreateAsync(azurite, segmentBytes: 4096);
        var data = RandomBytes(20_000, 5);
        var closed = await NewSessionAsync(harness, data.Length);
        var cancelled = await NewSessionAsync(harness, data.Length);
        await harness.Store.AppendAsync(closed, 0, data, Ct);
        await harness.Store.AppendAsync(cancelled, 0, data.AsMemory(0, 9000), Ct);

        await harness.Store.PublishAsync(closed, allowOverwrite: false, Ct);
        await harness.Store.DiscardAsync(cancelled, BitsSessionState.Cancelled, Ct);

        Assert.Empty(await harness.StagedBlobsAsync());
        Assert.Empty(await harness.RowsAsync(AzureBitsUploadStore.SessionRowKey));
        Assert.Equal(2, (await harness.RowsAsync(AzureBitsUploadStore.TombstoneRowKey)).Count);
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
        var data = RandomBytes(5000, 6);
        var session = await NewSessionAsync(harness, data.Length);
        await harness.Store.AppendAsync(session, 0, data, Ct);
        await harness.Store.PublishAsync(session, allowOverwrite: false, Ct);

        // Simulate the crash: the session row and the staged blobs come back as they were before the tombstone.
        var tombstone = (await harness.Sessions.GetEntityAsync<TableEntity>(session.Id, AzureBitsUploadStore.TombstoneRowKey, cancellationToken: Ct)).Value;
        await harness.Sessions.DeleteEntityAsync(tombstone, cancellationToken: Ct);
        var row = new TableEntity(session.Id, AzureBitsUploadStore.SessionRowKey)
        {
            ["Destination"] = session.Destination, ["CreatedAt"] = session.CreatedAt, ["TotalLength"] = (long)data.Length, ["State"] = 0, ["SegmentBytes"] = 250_000_000L,
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
    public async Task Publish_WritesMetadata()
    {
        var harness = await StorageHarness.CreateAsync(azurite);
        var session = new BitsSession { Id = BitsSessionIds.NewId(), Destination = "meta/x.bin", ContentName = "rapport été.bin", User = "bob", CreatedAt = DateTimeOffset.UtcNow };
        await harness.Store.CreateSessionAsync(session, Ct);
        var stored = await harness.Store.TrySetTotalLengthAsync((await harness.Store.GetSessionAsync(session.Id, Ct))!, 3, Ct);
        await harness.Store.AppendAsync(stored!, 0, new byte[] { 1, 2, 3 }, Ct);

        await harness.Store.PublishAsync(stored!, allowOverwrite: false, Ct);

        var metadata = (await harness.Uploads.GetBlobClient("meta/x.bin").GetPropertiesAsync(cancellationToken: Ct)).Value.Metadata;
        Assert.Equal(AzureBitsUploadStore.SessionKey(session.Id), metadata[AzureBitsUploadStore.SessionIdMetadata]);
        Assert.Equal("rapport été.bin", Uri.UnescapeDataString(metadata[AzureBitsUploadStore.ContentNameMetadata]));
        Assert.Equal("bob", metadata[AzureBitsUploadStore.UploaderMetadata]);
    }
}
