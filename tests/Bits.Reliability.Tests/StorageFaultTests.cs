using System.Globalization;
using Bits.Client;
using Bits.Protocol;
using Bits.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Bits.Reliability.Tests;

/// <summary>
/// Storage faults injected by <see cref="FaultProxy"/> between a real Kestrel host and Azurite, with the Windows-like
/// .NET client retrying as Windows does. Each test runs once with the Azure SDK's retries in the host (shortened waits)
/// and once without them, where every fault reaches the client as a 5xx Ack and the BITS retry alone recovers.
/// </summary>
public class StorageFaultTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static BitsUploadClient Client(HttpClient http) => new(http, new BitsClientOptions { RetryDelay = TimeSpan.Zero });

    private static SdkRetry Retry(bool sdkRetries) => sdkRetries ? SdkRetry.Fast : SdkRetry.None;

    /// <summary>A Fragment's one data write: Put Block on the destination (comp=block, not comp=blocklist).</summary>
    internal static bool IsPutBlock(RequestHead r) => r.Method == "PUT" && r.HasComp("block");

    internal static bool IsCommit(RequestHead r) => r.Method == "PUT" && r.HasComp("blocklist");

    /// <summary>
    /// The test hosts' settings. <paramref name="sessionCache"/> false turns the session cache off, so every Fragment
    /// reads the session row and faults injected into table reads land on the Fragment hot path.
    /// </summary>
    private static Dictionary<string, string?> Settings(bool sessionCache = true) => sessionCache
        ? new()
        : new() { ["Bits:SessionCacheLifetime"] = "00:00:00" };

    [Fact]
    public async Task Upload_ThroughTheProxiesWithoutFaults_IsByteIdentical()
    {
        await using var storage = ProxiedStorage.Create(azurite.Azurite);
        await using var host = await InProcessHost.StartAsync(storage, SdkRetry.Fast, Settings());
        using var http = new HttpClient();
        var file = SeededStream.Bytes(7_654_321, 1);

        var result = await Client(http).UploadAsync(host.Url("plain.bin"), new MemoryStream(file), ct: Ct);

        await AssertPublishedCleanlyAsync(storage, "plain.bin", file, result.SessionId);
        Assert.Equal(0, result.TransientRetries);
        Assert.Equal(8, storage.Blob.Count(IsPutBlock)); // 8 fragments, one Put Block each, nothing copied at Close
        Assert.Equal(1, storage.Blob.Count(IsCommit));
    }

    /// <summary>
    /// Append Block reached storage and was stored, but its response was lost: the retry (the SDK's, or the client's
    /// resend after a 503 Ack) is refused by the append-position condition, the store reads the true length, and the
    /// handler acknowledges the duplicate. No byte is stored twice.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Upload_AppendBlockStoredButResponseLost_IsByteIdenticalWithoutDuplicates(bool sdkRetries)
    {
        await using var storage = ProxiedStorage.Create(azurite.Azurite);
        var lost = storage.Blob.Add(new FaultRule { Match = IsPutBlock, Kind = FaultKind.DropResponse, Applies = n => n % 4 == 2 });
        await using var host = await InProcessHost.StartAsync(storage, Retry(sdkRetries), Settings());
        using var http = new HttpClient();
        var file = SeededStream.Bytes(7_654_321, 2);

        var result = await Client(http).UploadAsync(host.Url("lost-append.bin"), new MemoryStream(file), ct: Ct);

        await AssertPublishedCleanlyAsync(storage, "lost-append.bin", file, result.SessionId);
        Assert.True(lost.Applied >= 3, $"{lost.Applied} append responses dropped");
        Assert.Equal(sdkRetries ? 0 : lost.Applied, result.TransientRetries);
        Assert.Equal(sdkRetries ? 0 : lost.Applied, host.Logs.Count("StorageUnavailable"));
        Report($"append responses dropped: {lost.Applied}, appends sent to storage: {storage.Blob.Count(IsPutBlock)}, client retries: {result.TransientRetries}");
    }

    /// <summary>The connection breaks after 100 KB of an Append Block body: storage keeps nothing of it.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Upload_ConnectionResetInTheMiddleOfAnAppendBody_IsByteIdentical(bool sdkRetries)
    {
        await using var storage = ProxiedStorage.Create(azurite.Azurite);
        var reset = storage.Blob.Add(new FaultRule { Match = IsPutBlock, Kind = FaultKind.ResetMidRequest, ResetAfterBodyBytes = 100_000, Applies = n => n % 3 == 1 });
        await using var host = await InProcessHost.StartAsync(storage, Retry(sdkRetries), Settings());
        using var http = new HttpClient();
        var file = SeededStream.Bytes(7_654_321, 3);

        var result = await Client(http).UploadAsync(host.Url("reset-append.bin"), new MemoryStream(file), ct: Ct);

        await AssertPublishedCleanlyAsync(storage, "reset-append.bin", file, result.SessionId);
        Assert.True(reset.Applied >= 4, $"{reset.Applied} appends reset");
        Assert.Equal(sdkRetries ? 0 : reset.Applied, result.TransientRetries);
        Report($"appends reset mid-body: {reset.Applied}, client retries: {result.TransientRetries}");
    }

    /// <summary>Storage answers 503 Server Busy to some appends and some session reads; the SDK or the client retries.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Upload_StorageBusy_IsByteIdentical(bool sdkRetries)
    {
        await using var storage = ProxiedStorage.Create(azurite.Azurite);
        var appends = storage.Blob.Add(new FaultRule { Match = IsPutBlock, Kind = FaultKind.Respond, Applies = n => n % 3 == 2 });
        var reads = storage.Table.Add(new FaultRule { Match = r => r.Method == "GET", Kind = FaultKind.Respond, Applies = n => n % 4 == 3 });
        var stages = storage.Blob.Add(new FaultRule { Match = IsCommit, Kind = FaultKind.Respond });
        await using var host = await InProcessHost.StartAsync(storage, Retry(sdkRetries), Settings(sessionCache: false));
        using var http = new HttpClient();
        var file = SeededStream.Bytes(7_654_321, 4);

        using var clientLogs = new LogCollector();
        var result = await new BitsUploadClient(http, new BitsClientOptions { RetryDelay = TimeSpan.Zero, Logger = clientLogs.CreateLogger("Bits.Client") }).UploadAsync(host.Url("busy.bin"), new MemoryStream(file), ct: Ct);

        await AssertPublishedCleanlyAsync(storage, "busy.bin", file, result.SessionId);
        Assert.True(appends.Applied >= 3 && reads.Applied >= 2 && stages.Applied == 1, $"{appends.Applied} appends, {reads.Applied} reads, {stages.Applied} commits answered 503");
        Assert.True((sdkRetries ? 0 : appends.Applied + reads.Applied + stages.Applied) == result.TransientRetries, string.Join("\n", clientLogs.Entries.Concat(host.Logs.Entries).Where(e => e.Level >= LogLevel.Information).Select(e => $"{e.Event}: {e.Message}")));
        Report($"503 answers: {appends.Applied} appends, {reads.Applied} table reads, {stages.Applied} Put Block List; client retries: {result.TransientRetries}");
    }

    /// <summary>
    /// The publish commit (Put Block List) succeeded but its response was lost. The retried commit is refused
    /// (If-None-Match: *), the store recognises its own session in the blob's metadata and finishes: the file is
    /// committed exactly once (its ETag is the one of the first commit).
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Close_CommitStoredButResponseLost_PublishesExactlyOnce(bool sdkRetries)
    {
        await using var storage = ProxiedStorage.Create(azurite.Azurite);
        string? committedETag = null;
        var lost = storage.Blob.Add(new FaultRule
        {
            Match = IsCommit,
            Kind = FaultKind.DropResponse,
            AfterResponse = (_, response) =>
            {
                committedETag = response.Headers["ETag"];
                return Task.CompletedTask;
            },
        });
        await using var host = await InProcessHost.StartAsync(storage, Retry(sdkRetries), Settings());
        using var http = new HttpClient();
        var file = SeededStream.Bytes(7_654_321, 5);

        var result = await Client(http).UploadAsync(host.Url("lost-commit.bin"), new MemoryStream(file), ct: Ct);

        await AssertPublishedCleanlyAsync(storage, "lost-commit.bin", file, result.SessionId);
        Assert.Equal(1, lost.Applied);
        // With SDK retries the retried commit is refused (If-None-Match: *); without, the client's retried Close finds the
        // blob committed by its session and does not commit again.
        Assert.Equal(sdkRetries ? 2 : 1, storage.Blob.Count(IsCommit));
        Assert.Equal(committedETag, (await storage.PublishedPropertiesAsync("lost-commit.bin")).ETag.ToString());
        Assert.Equal(sdkRetries ? 0 : 1, result.TransientRetries);
    }

    /// <summary>
    /// Create-Session's insert of the session row was stored but its response was lost. With SDK retries, the retried
    /// insert meets 409 (the row exists); the id is fresh, so the row is ours and Create-Session succeeds instead of
    /// leaving an orphan session behind a 500 (fixed in AzureBitsUploadStore.CreateSessionAsync). Without SDK retries
    /// the client gets 503, never learns the id and creates another session; the orphan's expiry entry, written before
    /// its row, lets the janitor remove it once it is idle past the session timeout.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task CreateSession_RowStoredButResponseLost_LeavesNoOrphanSession(bool sdkRetries)
    {
        await using var storage = ProxiedStorage.Create(azurite.Azurite);
        var lost = storage.Table.Add(new FaultRule
        {
            Match = r => r.Method == "POST" && r.Path == $"/{AzuriteProcess.AccountName}/{storage.SessionTable}",
            Kind = FaultKind.DropResponse,
        });
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var settings = Settings();
        settings["Bits:UnusedSessionTimeout"] = "14.00:00:00"; // the sweep below counts entries as with 14-day timeouts throughout
        await using var host = await InProcessHost.StartAsync(storage, Retry(sdkRetries), settings, time, janitorByHand: true);
        using var http = new HttpClient();
        var file = SeededStream.Bytes(1_234_567, 6);

        var result = await Client(http).UploadAsync(host.Url("lost-create.bin"), new MemoryStream(file), ct: Ct);

        Assert.Equal(1, lost.Applied);
        Assert.Equal(sdkRetries ? 0 : 1, result.TransientRetries);
        Assert.Equal(file, await storage.ReadPublishedAsync("lost-create.bin"));
        if (sdkRetries)
        {
            await AssertPublishedCleanlyAsync(storage, "lost-create.bin", file, result.SessionId);
            Assert.Equal(1, host.Logs.Count("SessionRowAlreadyStored"));
            return;
        }

        var orphan = Assert.Single(await storage.SessionRowsAsync());
        Assert.DoesNotContain(result.SessionId, orphan, StringComparison.Ordinal);
        Assert.Empty(await storage.StagedBlobsAsync()); // a session stages nothing before its first Fragment

        time.Advance(TimeSpan.FromDays(15)); // past the session timeout and the tombstone lifetime (14 days each)
        var swept = await host.Services.GetRequiredService<BitsSessionJanitor>().RunOnceAsync(Ct);

        Assert.Equal(new BitsSweepResult(1, 1, 0), swept);
        Assert.Empty(await storage.RowsAsync());
        Assert.Empty(await storage.StagedBlobsAsync());
        Assert.Equal(file, await storage.ReadPublishedAsync("lost-create.bin"));
    }

    /// <summary>
    /// The first Fragment's write of the file size (a conditional merge of the session row) was stored but its response
    /// was lost: the SDK's retry fails its ETag condition, the handler reads the row again and finds the size recorded.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Fragment_TotalLengthStoredButResponseLost_IsByteIdentical(bool sdkRetries)
    {
        await using var storage = ProxiedStorage.Create(azurite.Azurite);
        var lost = storage.Table.Add(new FaultRule { Match = r => r.Method is "PATCH" or "MERGE", Kind = FaultKind.DropResponse });
        await using var host = await InProcessHost.StartAsync(storage, Retry(sdkRetries), Settings());
        using var http = new HttpClient();
        var file = SeededStream.Bytes(2_345_678, 9);

        var result = await Client(http).UploadAsync(host.Url("lost-size.bin"), new MemoryStream(file), ct: Ct);

        Assert.Equal(1, lost.Applied);
        Assert.Equal(sdkRetries ? 0 : 1, result.TransientRetries);
        await AssertPublishedCleanlyAsync(storage, "lost-size.bin", file, result.SessionId);
    }

    /// <summary>
    /// An Append Block is stuck in the network past the SDK's network timeout (1 s here); the SDK retries it and the
    /// retry is stored. Then the stuck original reaches storage: its append-position condition no longer holds, so it is
    /// refused (412) and no byte is stored twice (rule 6a.2, enforced by storage itself).
    /// </summary>
    [Fact]
    public async Task Upload_PutBlockArrivingAfterItsTimedOutRetry_RewritesTheSameBlock_FileIsByteIdentical()
    {
        await using var storage = ProxiedStorage.Create(azurite.Azurite);
        var retryStored = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var lateStatus = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);

        // The 2nd append is held until the SDK gave up on it (1 s network timeout) and its retry was stored.
        var late = storage.Blob.Add(new FaultRule
        {
            Match = IsPutBlock,
            Skip = 1,
            Kind = FaultKind.LateDelivery,
            HoldUntil = retryStored.Task,
            AfterResponse = (_, response) =>
            {
                lateStatus.TrySetResult(response.Status);
                return Task.CompletedTask;
            },
        });
        var retry = storage.Blob.Add(new FaultRule
        {
            Match = IsPutBlock,
            Skip = 1, // counts the appends the first rule lets through: the 1st, then the retry of the 2nd
            Kind = FaultKind.None,
            AfterResponse = (_, response) =>
            {
                retryStored.TrySetResult(response.Status);
                return Task.CompletedTask;
            },
        });
        await using var host = await InProcessHost.StartAsync(storage, SdkRetry.Fast with { NetworkTimeout = TimeSpan.FromSeconds(1) }, Settings());

        // The client waits for the late copy to land before it closes, so the staging segment is still there for it.
        using var http = new HttpClient(new HookHandler(async request =>
        {
            if (request.PacketType() == "Close-Session")
            {
                await lateStatus.Task.WaitAsync(TimeSpan.FromSeconds(20), Ct);
            }
        }));
        var file = SeededStream.Bytes(7_654_321, 10);

        var result = await Client(http).UploadAsync(host.Url("late-append.bin"), new MemoryStream(file), ct: Ct);

        Assert.Equal(1, late.Applied);
        Assert.Equal(201, await retryStored.Task);
        Assert.Equal(201, await lateStatus.Task); // the same range under the same block id: it rewrites the same bytes
        Assert.Equal(0, result.TransientRetries);
        await AssertPublishedCleanlyAsync(storage, "late-append.bin", file, result.SessionId);
    }

    /// <summary>The tombstone transaction was applied but its response was lost: the SDK's retry finds the session row gone.</summary>
    [Fact]
    public async Task Close_TombstoneStoredButResponseLost_CompletesCleanly()
    {
        await using var storage = ProxiedStorage.Create(azurite.Azurite);
        var lost = storage.Table.Add(new FaultRule { Match = r => r.Method == "POST" && r.Path.EndsWith("/$batch", StringComparison.Ordinal), Kind = FaultKind.DropResponse });
        await using var host = await InProcessHost.StartAsync(storage, SdkRetry.Fast, Settings());
        using var http = new HttpClient();
        var file = SeededStream.Bytes(7_654_321, 7);

        var result = await Client(http).UploadAsync(host.Url("lost-tombstone.bin"), new MemoryStream(file), ct: Ct);

        Assert.Equal(1, lost.Applied);
        await AssertPublishedCleanlyAsync(storage, "lost-tombstone.bin", file, result.SessionId);
    }

    /// <summary>Delays shorter than the SDK's network timeout only slow the upload down.</summary>
    [Fact]
    public async Task Upload_SlowStorage_IsByteIdentical()
    {
        await using var storage = ProxiedStorage.Create(azurite.Azurite);
        var slowAppends = storage.Blob.Add(new FaultRule { Match = IsPutBlock, Kind = FaultKind.Delay, Delay = TimeSpan.FromMilliseconds(300), Applies = n => n % 2 == 0 });
        var slowReads = storage.Table.Add(new FaultRule { Match = r => r.Method == "GET", Kind = FaultKind.Delay, Delay = TimeSpan.FromMilliseconds(200), Applies = n => n % 3 == 0 });
        await using var host = await InProcessHost.StartAsync(storage, SdkRetry.Fast, Settings(sessionCache: false));
        using var http = new HttpClient();
        var file = SeededStream.Bytes(7_654_321, 8);

        var result = await Client(http).UploadAsync(host.Url("slow.bin"), new MemoryStream(file), ct: Ct);

        await AssertPublishedCleanlyAsync(storage, "slow.bin", file, result.SessionId);
        Assert.True(slowAppends.Applied >= 4 && slowReads.Applied >= 2);
        Assert.Equal(0, result.TransientRetries);
    }

    /// <summary>
    /// The published file is the uploaded file, byte for byte, committed by this session; nothing is left in staging
    /// and no session row remains (only the closed session's tombstone and its expiry entry).
    /// </summary>
    internal static async Task AssertPublishedCleanlyAsync(ProxiedStorage storage, string name, byte[] file, string sessionId)
    {
        Assert.Equal(file, await storage.ReadPublishedAsync(name));
        var properties = await storage.PublishedPropertiesAsync(name);
        Assert.Equal(ProxiedStorage.SessionKey(sessionId), properties.Metadata["bitssessionid"]);
        Assert.Empty(await storage.StagedBlobsAsync());
        Assert.Empty(await storage.SessionRowsAsync());
        Assert.Equal([sessionId + "/tombstone"], await storage.RowsAsync("tombstone"));
    }

    internal static void Report(string line) =>
        TestContext.Current.SendDiagnosticMessage(string.Create(CultureInfo.InvariantCulture, $"{TestContext.Current.Test?.TestDisplayName}: {line}"));
}
