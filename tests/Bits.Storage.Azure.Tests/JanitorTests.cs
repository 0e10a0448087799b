using Azure.Data.Tables;
using Azure.Storage.Blobs.Specialized;
using Bits.Protocol;
using Bits.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace Bits.Storage.Azure.Tests;

/// <summary>
/// Session expiry on Azurite: what is particular to the Azure store (index rows, rescheduling, cost); what every expiry
/// store does is <see cref="BitsExpiryStoreContract"/> (<see cref="AzureExpiryStoreContractTests"/>). Last activity is the session row's Timestamp, which Azurite sets from the real clock, so the
/// fake clock starts at (or, where a test needs recent activity, shortly before) the real time and only moves forward.
/// </summary>
public class JanitorTests(AzuriteFixture azurite)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromHours(1);
    private static readonly TimeSpan TombstoneLifetime = TimeSpan.FromHours(2);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The harness's storage (with its request counter) under a store with short timeouts and a fake clock.</summary>
    private sealed class Rig
    {
        private Rig(StorageHarness harness, FakeTimeProvider time)
        {
            Harness = harness;
            Time = time;
            Server = new BitsServerOptions { SessionTimeout = Timeout, TombstoneLifetime = TombstoneLifetime };
            Store = new AzureBitsUploadStore(
                harness.Blobs,
                harness.Tables,
                MsOptions.Create(harness.Options),
                MsOptions.Create(Server),
                time,
                NullLogger<AzureBitsUploadStore>.Instance);
        }

        public StorageHarness Harness { get; }

        public FakeTimeProvider Time { get; }

        public BitsServerOptions Server { get; }

        public AzureBitsUploadStore Store { get; }

        public static async Task<Rig> CreateAsync(AzuriteFixture azurite, TimeSpan? startBeforeNow = null)
        {
            var time = new FakeTimeProvider(DateTimeOffset.UtcNow - (startBeforeNow ?? TimeSpan.Zero));
            var harness = await StorageHarness.CreateAsync(azurite, time: time);
            return new Rig(harness, time);
        }

        public Task<BitsSweepResult> SweepAsync(int maxItems = 100) =>
            Store.SweepAsync(_ => Timeout, Time.GetUtcNow(), maxItems, Ct);

        public async Task<BitsSession> CreateSessionAsync(string? user = null, DateTimeOffset? createdAt = null, long? total = null)
        {
            var session = new BitsSession
            {
                Id = BitsSessionIds.NewId(),
                Destination = $"j/{Guid.NewGuid():N}.bin",
                User = user,
                CreatedAt = createdAt ?? Time.GetUtcNow(),
            };
            await Store.CreateSessionAsync(session, Ct);
            var stored = (await Store.GetSessionAsync(session.Id, Ct))!;
            return total is { } t ? (await Store.TrySetTotalLengthAsync(stored, t, Ct))! : stored;
        }

        public async Task<List<TableEntity>> RowsAsync(string? partitionPrefix = null)
        {
            var rows = new List<TableEntity>();
            await foreach (var row in Harness.Sessions.QueryAsync<TableEntity>(cancellationToken: Ct))
            {
                if (partitionPrefix is null || row.PartitionKey.StartsWith(partitionPrefix, StringComparison.Ordinal))
                {
                    rows.Add(row);
                }
            }

            return rows;
        }
    }

    [Fact]
    public async Task Create_WritesExpiryAndUserIndexRows()
    {
        var rig = await Rig.CreateAsync(azurite);

        var session = await rig.CreateSessionAsync(user: "alice");

        var index = Assert.Single(await rig.RowsAsync(AzureBitsUploadStore.ExpiryPartitionPrefix));
        Assert.Equal(session.Id, index.RowKey);
        Assert.Equal(AzureBitsUploadStore.ExpiryPartition(session.CreatedAt + Timeout), index.PartitionKey);
        Assert.Equal(AzureBitsUploadStore.SessionKind, index.GetString("Kind"));
        var user = Assert.Single(await rig.RowsAsync(AzureBitsUploadStore.UserPartitionPrefix));
        Assert.Equal(AzureBitsUploadStore.UserPartition("alice"), user.PartitionKey);
        Assert.Equal(session.Id, user.RowKey);
        Assert.DoesNotContain("alice", user.PartitionKey, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sweep_IdleSession_RemovesStagedDataSessionRowAndIndexRows()
    {
        var rig = await Rig.CreateAsync(azurite);
        var session = await rig.CreateSessionAsync(user: "alice", total: 3000);
        Assert.NotNull(await rig.Store.StageAsync(session, 0, new byte[1000], alreadyStaged: false, Ct));

        rig.Time.Advance(Timeout - TimeSpan.FromMinutes(1));
        var early = await rig.SweepAsync();
        rig.Time.Advance(TimeSpan.FromMinutes(2));
        var due = await rig.SweepAsync();

        Assert.Equal(default, early);
        Assert.Equal(new BitsSweepResult(1, 0, 0), due);
        Assert.Empty(await rig.Harness.StagedBlobsAsync(session.Id));
        Assert.False(await rig.Harness.ListedAsync(session.Destination)); // its blocks on the destination are gone too
        Assert.Empty(await rig.RowsAsync()); // no session row, no tombstone, no index rows
        Assert.Null(await rig.Store.GetSessionAsync(session.Id, Ct));
        Assert.Equal(0, await rig.Store.CountOpenSessionsAsync("alice", Ct));
        Assert.Equal(default, await rig.SweepAsync());
    }

    [Fact]
    public async Task Sweep_SessionActiveSinceItsEntryWasWritten_IsRescheduledAndExpiresLater()
    {
        // Created 50 minutes "ago" by the fake clock; the Fragment is recorded now (the row's real Timestamp).
        var rig = await Rig.CreateAsync(azurite, startBeforeNow: TimeSpan.FromMinutes(50));
        var session = await rig.CreateSessionAsync(total: 3000);
        Assert.NotNull(await rig.Store.StageAsync(session, 0, new byte[1000], alreadyStaged: false, Ct));

        rig.Time.Advance(Timeout + TimeSpan.FromMinutes(1)); // entry due; last activity only ~11 minutes ago
        var first = await rig.SweepAsync();
        var moved = Assert.Single(await rig.RowsAsync(AzureBitsUploadStore.ExpiryPartitionPrefix));
        var stillThere = await rig.Store.GetSessionAsync(session.Id, Ct);
        rig.Time.Advance(Timeout);
        var second = await rig.SweepAsync();

        Assert.Equal(new BitsSweepResult(0, 0, 1), first);
        Assert.True(moved.GetDateTimeOffset("DueAt") > rig.Time.GetUtcNow() - Timeout, "the entry moved to last activity + timeout");
        Assert.NotNull(stillThere);
        Assert.Equal(new BitsSweepResult(1, 0, 0), second);
        Assert.Empty(await rig.Harness.StagedBlobsAsync(session.Id));
        Assert.Empty(await rig.RowsAsync());
    }

    [Fact]
    public async Task Sweep_ExpiredTombstone_RemovesItAndLeftoverStaging()
    {
        var rig = await Rig.CreateAsync(azurite);
        var session = await rig.CreateSessionAsync(user: "bob", total: 3000);
        await rig.Store.DiscardAsync(session, BitsSessionState.Cancelled, Ct);

        // A crash between the tombstone and the staging clean-up leaves staged blobs behind.
        await rig.Harness.Staging.GetAppendBlobClient(AzureBitsUploadStore.SessionKey(session.Id) + "/000000").CreateIfNotExistsAsync(cancellationToken: Ct);
        rig.Time.Advance(Timeout + TimeSpan.FromMinutes(1)); // the session's own entry is due: tombstone still valid
        var first = await rig.SweepAsync();
        var tombstoneKept = await rig.Store.GetSessionAsync(session.Id, Ct);
        rig.Time.Advance(TombstoneLifetime);
        var second = await rig.SweepAsync();

        Assert.Equal(new BitsSweepResult(0, 0, 1), first);
        Assert.Equal(BitsSessionState.Cancelled, tombstoneKept?.State);
        Assert.Equal(new BitsSweepResult(0, 1, 0), second);
        Assert.Empty(await rig.Harness.StagedBlobsAsync(session.Id));
        Assert.Empty(await rig.RowsAsync());
    }

    [Fact]
    public async Task Sweep_IndexEntryWithoutSession_CleansUpAndTolerates()
    {
        var rig = await Rig.CreateAsync(azurite);
        var session = await rig.CreateSessionAsync(user: "carol");

        // The session row vanished (e.g. a Create-Session that failed after its index rows were written).
        await rig.Harness.Sessions.DeleteEntityAsync(session.Id, "session", cancellationToken: Ct);
        rig.Time.Advance(Timeout + TimeSpan.FromMinutes(1));
        var result = await rig.SweepAsync();

        Assert.Equal(new BitsSweepResult(1, 0, 0), result);
        Assert.Empty(await rig.Harness.StagedBlobsAsync(session.Id));
        Assert.Empty(await rig.RowsAsync());
    }

    [Fact]
    public async Task CountOpenSessions_CostsOneRequest()
    {
        var rig = await Rig.CreateAsync(azurite);
        await rig.CreateSessionAsync(user: "alice");
        await rig.CreateSessionAsync(user: "alice");

        rig.Harness.Counter.Reset();
        var count = await rig.Store.CountOpenSessionsAsync("alice", Ct);

        Assert.Equal(2, count);
        Assert.Equal(1, rig.Harness.Counter.Total);
    }

    [Fact]
    public async Task Sweep_Cost_IsProportionalToDueItems_NotToLiveSessions()
    {
        const int live = 1_500;
        const int dueCount = 5;
        var rig = await Rig.CreateAsync(azurite);
        var now = rig.Time.GetUtcNow();
        var due = new List<BitsSession>();
        for (var i = 0; i < dueCount; i++)
        {
            due.Add(await rig.CreateSessionAsync(user: "alice", createdAt: now));
        }

        // Live sessions not yet due: created (by their clock) 3 hours later, so due 4 hours from now.
        for (var batch = 0; batch < live; batch += 100)
        {
            await Task.WhenAll(Enumerable.Range(0, Math.Min(100, live - batch)).Select(_ =>
                rig.Store.CreateSessionAsync(
                    new BitsSession { Id = BitsSessionIds.NewId(), Destination = "live.bin", User = "bob", CreatedAt = now + TimeSpan.FromHours(3) },
                    Ct)));
        }

        rig.Time.Advance(TimeSpan.FromHours(2));
        rig.Harness.Counter.Reset();
        var result = await rig.SweepAsync();
        var requests = rig.Harness.Counter.Total;
        TestContext.Current.TestOutputHelper?.WriteLine($"Sweep of {dueCount} due among {live} live sessions: {rig.Harness.Counter.Reads} reads + {rig.Harness.Counter.Writes} writes = {requests} requests.");
        rig.Harness.Counter.Reset();
        var empty = await rig.SweepAsync();
        var emptyRequests = rig.Harness.Counter.Total;

        Assert.Equal(new BitsSweepResult(dueCount, 0, 0), result);
        Assert.True(requests <= 10 + (6 * dueCount), $"one sweep of {dueCount} due sessions cost {requests} storage requests");
        Assert.Equal(default, empty);
        Assert.Equal(1, emptyRequests);
        Assert.Equal(live, await rig.Store.CountOpenSessionsAsync("bob", Ct));
        Assert.Equal(0, await rig.Store.CountOpenSessionsAsync("alice", Ct));
        foreach (var session in due)
        {
            Assert.Null(await rig.Store.GetSessionAsync(session.Id, Ct));
        }
    }
}
