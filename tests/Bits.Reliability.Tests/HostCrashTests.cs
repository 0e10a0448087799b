using Azure.Storage.Blobs;
using Bits.Client;
using Bits.Protocol;
using Bits.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Bits.Reliability.Tests;

/// <summary>
/// A host instance dies in the middle of a packet and another instance takes over. Host A is src/Bits.Host run as a real
/// child process; its storage traffic goes through the fault proxy, which holds the chosen storage request (before it is
/// forwarded, or after storage answered it) while the test kills A with SIGKILL, so A dies at exactly that step. The
/// client's load balancer then points at host B (in this process, same storage), and the client's retry completes there.
/// </summary>
public class HostCrashTests(AzuriteFixture azurite)
{
    private const string Name = "crash/file.bin";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> Steps =>
    [
        "fragment, before its append reached storage",
        "fragment, after its append was stored",
        "close, after the publish commit",
        "close, after the tombstone transaction",
    ];

    [Theory]
    [MemberData(nameof(Steps))]
    public async Task HostKilledMidPacket_SecondHostCompletes_PublishedOnce_JanitorLeavesNothing(string step)
    {
        await using var storage = ProxiedStorage.Create(azurite.Azurite);
        var settings = storage.HostSettings();
        await using var hostA = await HostProcess.StartAsync(settings);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var hostB = await InProcessHost.StartAsync(
            storage, SdkRetry.Fast, null, time, proxied: false, janitorByHand: true);
        using var balancer = new SwitchingHandler(hostA.Root);
        using var http = new HttpClient(balancer);
        var published = new BlobServiceClient(storage.DirectConnectionString).GetBlobContainerClient(storage.UploadContainer).GetBlobClient(Name);
        string? etagAtCrash = null;
        var crashed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // Runs inside the proxy while it holds A's storage request (or the response to it).
        async Task CrashA()
        {
            try
            {
                if (step.StartsWith("close", StringComparison.Ordinal))
                {
                    etagAtCrash = (await published.GetPropertiesAsync()).Value.ETag.ToString();
                }

                balancer.Target = hostB.Root;
                hostA.Kill();
                crashed.TrySetResult();
            }
            catch (Exception ex)
            {
                crashed.TrySetException(ex);
                throw;
            }
        }

        var rule = step switch
        {
            "fragment, before its append reached storage" => storage.Blob.Add(new FaultRule
            {
                Match = StorageFaultTests.IsPutBlock, Skip = 2, Kind = FaultKind.ResetMidRequest, BeforeForward = _ => CrashA(),
            }),
            "fragment, after its append was stored" => storage.Blob.Add(new FaultRule
            {
                Match = StorageFaultTests.IsPutBlock, Skip = 2, Kind = FaultKind.DropResponse, AfterResponse = (_, _) => CrashA(),
            }),
            "close, after the publish commit" => storage.Blob.Add(new FaultRule
            {
                Match = StorageFaultTests.IsCommit, Kind = FaultKind.DropResponse, AfterResponse = (_, _) => CrashA(),
            }),
            "close, after the tombstone transaction" => storage.Table.Add(new FaultRule
            {
                Match = r => r.Method == "POST" && r.Path.EndsWith("/$batch", StringComparison.Ordinal), Kind = FaultKind.DropResponse, AfterResponse = (_, _) => CrashA(),
            }),
            _ => throw new ArgumentOutOfRangeException(nameof(step), step, null),
        };
        var client = new BitsUploadClient(http, new BitsClientOptions { RetryDelay = TimeSpan.Zero });
        var file = SeededStream.Bytes(5_000_000, 30);

        var result = await client.UploadAsync(hostA.Url(Name), new MemoryStream(file), ct: Ct);

        // A died at the chosen step; the client's retry of that packet went to B and the upload finished there.
        await crashed.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(1, rule.Applied);
        Assert.True(hostA.HasExited);
        Assert.Equal(0, result.SessionRestarts);
        Assert.True(result.TransientRetries >= 1);
        Assert.Equal(0, hostB.Logs.Count("UnhandledError"));

        // Published exactly once, by this session: the bytes, the metadata, and (after a crash during Close) the ETag
        // of the one commit A made before it died.
        Assert.Equal(file, await storage.ReadPublishedAsync(Name));
        var properties = await storage.PublishedPropertiesAsync(Name);
        Assert.Equal(ProxiedStorage.SessionKey(result.SessionId), properties.Metadata["bitssessionid"]);
        if (etagAtCrash is not null)
        {
            Assert.Equal(etagAtCrash, properties.ETag.ToString());
        }

        Assert.Empty(await storage.SessionRowsAsync());
        Assert.Equal(step == "close, after the publish commit" ? 1 : 0, hostB.Logs.Count("AlreadyPublished"));

        // B answers a repeated Close from the tombstone, so what A had not deleted yet stays until the janitor runs.
        var stagedBeforeJanitor = (await storage.StagedBlobsAsync()).Count;
        Assert.Equal(
            step switch
            {
                _ => 0, // nothing is staged outside the destination, whose blocks the commit consumed
            },
            stagedBeforeJanitor);

        // The janitor, a day after the tombstone's lifetime (14 days), removes whatever the crash left behind.
        time.Advance(TimeSpan.FromDays(15));
        var swept = await hostB.Services.GetRequiredService<BitsSessionJanitor>().RunOnceAsync(Ct);

        Assert.Empty(await storage.StagedBlobsAsync());
        Assert.Empty(await storage.RowsAsync());
        Assert.Equal(file, await storage.ReadPublishedAsync(Name));
        Assert.Equal(properties.ETag, (await storage.PublishedPropertiesAsync(Name)).ETag);
        StorageFaultTests.Report(
            $"client retries {result.TransientRetries}; staged blobs left after Close {stagedBeforeJanitor}; janitor: {swept.ExpiredTombstones} tombstones, {swept.ExpiredSessions} sessions");
    }
}
