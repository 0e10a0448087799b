using Bits.Client;
using Bits.Testing;

namespace Bits.Reliability.Tests;

/// <summary>
/// How storage failures reach the BITS client: every transient failure (503 from storage, a reset connection, no answer
/// within the SDK's network timeout) becomes a 503 Ack with <c>BITS-Error-Code: 0x801901F7</c> (BG_E_HTTP_ERROR_503, rule
/// 6a.11: what the client itself derives from a bare 503), which Windows retries;
/// never <c>0x8020001F</c> (BG_E_SESSION_NOT_FOUND), which would make it throw the session away, while the session exists.
/// </summary>
public class ErrorMappingTests(AzuriteFixture azurite)
{
    private const uint BG_E_HTTP_ERROR_503 = 0x801901F7;

    /// <summary>Session reads refused in a row while the table is busy: fewer than the client's 8 retries of one packet.</summary>
    private const int BusyReads = 4;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> Faults => ["503", "reset", "timeout"];

    /// <summary>A fault on the session table's point reads: what every Fragment and Close-Session starts with.</summary>
    private static FaultRule TableReadFault(string fault) => fault switch
    {
        "503" => new FaultRule { Match = IsPointRead, Kind = FaultKind.Respond, Times = int.MaxValue },
        "reset" => new FaultRule { Match = IsPointRead, Kind = FaultKind.ResetMidRequest, Times = int.MaxValue },
        _ => new FaultRule { Match = IsPointRead, Kind = FaultKind.Delay, Delay = TimeSpan.FromSeconds(2.5), Times = int.MaxValue },
    };

    /// <summary>A read of one session's rows: a point read, or the one-partition query that reads a session or its tombstone.</summary>
    private static bool IsPointRead(RequestHead r) => r.Method == "GET"
        && (r.Target.Contains("(PartitionKey=", StringComparison.Ordinal) || r.Target.Contains("filter=PartitionKey", StringComparison.Ordinal));

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task SessionTableUnavailable_FragmentAndClose_Answer5xxEFailWithTheSessionId(string fault)
    {
        await using var storage = ProxiedStorage.Create(azurite.Azurite);

        // One SDK retry (short waits) and a 1 s network timeout, so a persistent fault outlasts them quickly.
        var retry = SdkRetry.Fast with { MaxRetries = 1, NetworkTimeout = TimeSpan.FromSeconds(1) };
        // The session cache off: the Fragment reads the session row, so the table fault reaches it.
        await using var host = await InProcessHost.StartAsync(storage, retry, new Dictionary<string, string?> { ["Bits:SessionCacheLifetime"] = "00:00:00" });
        using var http = new HttpClient();
        var client = new BitsUploadClient(http, new BitsClientOptions { RetryDelay = TimeSpan.Zero });
        var file = SeededStream.Bytes(300_000, 10);
        var url = host.Url($"mapping-{fault}.bin");
        var id = (await client.CreateSessionAsync(url, ct: Ct)).SessionId!;
        Assert.Equal(200, (await client.SendFragmentAsync(url, id, file.AsMemory(0, 100_000), 0, file.Length, ct: Ct)).StatusCode);

        var rule = storage.Table.Add(TableReadFault(fault));
        var fragment = await client.SendFragmentAsync(url, id, file.AsMemory(100_000, 100_000), 100_000, file.Length, ct: Ct);
        var close = await client.CloseSessionAsync(url, id, Ct);
        rule.Enabled = false;

        foreach (var ack in new[] { fragment, close })
        {
            Assert.Equal(503, ack.StatusCode);
            Assert.Equal(BitsPackets.Hex(BG_E_HTTP_ERROR_503), BitsPackets.Hex(ack.ErrorCode));
            Assert.Equal(id, ack.SessionId);
            Assert.True(ack.IsAckPacket);
        }

        Assert.Equal(2, host.Logs.Count("StorageUnavailable"));
        Assert.Equal(0, host.Logs.Count("UnhandledError"));
        Assert.Equal(4, rule.Applied); // per packet: the first try and the SDK's retry

        // The session survived: the client resumes it and the file is published byte-identical.
        var result = await client.ResumeAsync(url, id, new MemoryStream(file), ct: Ct);
        Assert.Equal(id, result.SessionId);
        Assert.Equal(0, result.SessionRestarts);
        await StorageFaultTests.AssertPublishedCleanlyAsync(storage, $"mapping-{fault}.bin", file, id);
    }

    /// <summary>
    /// Storage keeps failing for a while (503 on the next <see cref="BusyReads"/> session reads after the first, the
    /// session cache serving the Fragments: the Close-Session and its retries); the client retries as Windows does, with
    /// growing delays (0.1 + 0.2 + 0.4 + 0.8 s), and the upload completes without starting a new session.
    /// </summary>
    [Fact]
    public async Task SessionTableBusyForAWhile_ClientRetriesWithBackoff_AndCompletes()
    {
        await using var storage = ProxiedStorage.Create(azurite.Azurite);
        await using var host = await InProcessHost.StartAsync(storage, SdkRetry.None);
        using var http = new HttpClient();
        var client = new BitsUploadClient(http, new BitsClientOptions { RetryDelay = TimeSpan.FromMilliseconds(100) });
        var file = SeededStream.Bytes(3_500_000, 11);
        var busy = storage.Table.Add(new FaultRule { Match = IsPointRead, Kind = FaultKind.Respond, Skip = 1, Times = BusyReads });

        var result = await client.UploadAsync(host.Url("busy-while.bin"), new MemoryStream(file), ct: Ct);

        await StorageFaultTests.AssertPublishedCleanlyAsync(storage, "busy-while.bin", file, result.SessionId);
        Assert.Equal(0, result.SessionRestarts);
        Assert.True(result.TransientRetries >= 2, $"{result.TransientRetries} retries");
        Assert.Equal(BusyReads, busy.Applied);
        Assert.Equal(result.TransientRetries, busy.Applied);
        StorageFaultTests.Report($"client retries while the table was busy: {result.TransientRetries}");
    }

    /// <summary>Storage refuses appends with 500 Internal Error: still a retryable 5xx Ack, and the bytes are not counted.</summary>
    [Fact]
    public async Task AppendFailsWith500_Fragment_Answers5xxAndCountsNothing()
    {
        await using var storage = ProxiedStorage.Create(azurite.Azurite);
        await using var host = await InProcessHost.StartAsync(storage, SdkRetry.None);
        using var http = new HttpClient();
        var client = new BitsUploadClient(http, new BitsClientOptions { RetryDelay = TimeSpan.Zero });
        var file = SeededStream.Bytes(200_000, 12);
        var url = host.Url("append-500.bin");
        var id = (await client.CreateSessionAsync(url, ct: Ct)).SessionId!;
        var failing = storage.Blob.Add(new FaultRule { Match = StorageFaultTests.IsPutBlock, Kind = FaultKind.Respond, Status = 500, ErrorCode = "InternalError" });

        var failed = await client.SendFragmentAsync(url, id, file.AsMemory(0, 100_000), 0, file.Length, ct: Ct);
        var next = await client.SendFragmentAsync(url, id, file.AsMemory(100_000), 100_000, file.Length, ct: Ct);

        Assert.Equal(1, failing.Applied);
        Assert.Equal(503, failed.StatusCode);
        Assert.Equal(BitsPackets.Hex(BG_E_HTTP_ERROR_503), BitsPackets.Hex(failed.ErrorCode));
        Assert.Null(failed.ReceivedContentRange);
        Assert.Equal(416, next.StatusCode); // nothing was stored: the server asks for offset 0 again
        Assert.Equal(0, next.ReceivedContentRange);
    }
}
