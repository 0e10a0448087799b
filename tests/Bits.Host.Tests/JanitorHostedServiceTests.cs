using Bits.AspNetCore;
using Bits.Protocol;
using Bits.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace Bits.Host.Tests;

/// <summary>The janitor's hosted service in the Kestrel host, driven by a fake clock injected into the host.</summary>
public class JanitorHostedServiceTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task HostedService_EveryInterval_RemovesSessionsIdlePastTheirAreasTimeout()
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);

        // Staging blobs carry Azurite's real Last-Modified, so the fake clock starts at the real time.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await TestHost.StartAsync(
            storage,
            new Dictionary<string, string?>
            {
                ["Bits:Janitor:Interval"] = "01:00:00",
                ["Bits:UnusedSessionTimeout"] = "02:00:00", // plain has no Fragment yet; only the area timeout is under test
                ["Bits:Areas:quick:PathPrefix"] = "quick",
                ["Bits:Areas:quick:BlobPrefix"] = "quick/",
                ["Bits:Areas:quick:SessionTimeout"] = "00:30:00",
            },
            builder => builder.Services.AddSingleton<TimeProvider>(time));
        var janitor = host.Services.GetServices<IHostedService>().OfType<BitsJanitorHostedService>().Single();
        using var http = new HttpClient();
        var file = new byte[1000];
        var quickUrl = host.Url("quick/a.bin");
        var plainUrl = host.Url("plain/a.bin");
        var quick = await http.CreateSessionAsync(quickUrl);
        var plain = await http.CreateSessionAsync(plainUrl);

        var nextRun = janitor.NextRunCompleted;
        time.Advance(TimeSpan.FromMinutes(59));
        Assert.False(nextRun.IsCompleted, "no run before the interval has passed");
        time.Advance(TimeSpan.FromMinutes(1));
        var run = await nextRun.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.True(janitor.IsActive);
        Assert.Null(run.Error);
        Assert.Equal(new BitsSweepResult(1, 0, 1), run.Result); // quick expired; plain's entry moved to its own timeout
        using (var expired = await http.SendAsync(HttpBits.Fragment(quickUrl, quick, file, 0, file.Length), Ct))
        {
            expired.AssertAck(500);
            Assert.Equal("0x8020001F", expired.Header("BITS-Error-Code"));
        }

        using (var alive = await http.SendAsync(HttpBits.Fragment(plainUrl, plain, file, 0, file.Length), Ct))
        {
            alive.AssertAck(200);
        }

        Assert.Equal(1, await storage.SessionRowCountAsync());
        Assert.Equal(1, await storage.StagedBlobCountAsync()); // plain/a.bin, holding the live session's block
    }

    [Fact]
    public async Task HostedService_StorageFailure_IsLoggedAndTheNextRunStillHappens()
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await TestHost.StartAsync(
            storage,
            new Dictionary<string, string?> { ["Bits:Janitor:Interval"] = "00:15:00" },
            builder => builder.Services.AddSingleton<TimeProvider>(time));
        var janitor = host.Services.GetServices<IHostedService>().OfType<BitsJanitorHostedService>().Single();

        // The session table disappears under the running host: the sweep's query fails.
        await storage.Sessions.DeleteAsync(Ct);
        var failing = janitor.NextRunCompleted;
        time.Advance(TimeSpan.FromMinutes(15));
        var failed = await failing.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await storage.Sessions.CreateIfNotExistsAsync(Ct);
        var next = janitor.NextRunCompleted;
        time.Advance(TimeSpan.FromMinutes(15));
        var recovered = await next.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.NotNull(failed.Error);
        Assert.Null(recovered.Error);
        using var http = new HttpClient();
        using var ping = await http.SendAsync(HttpBits.Packet(host.Url("a.bin"), "Ping"), Ct);
        ping.AssertAck(200);
    }
}
