using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Bits.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace Bits.Protocol.Tests;

/// <summary>The session-expiry janitor over the in-memory store, driven by a fake clock.</summary>
public class JanitorTests
{
    private const string Path = "/up/file.bin";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Handler, store and janitor sharing one fake clock and one set of options.</summary>
    private sealed class Rig
    {
        public Rig(BitsServerOptions options, BitsJanitorOptions? janitor = null, BitsMetrics? metrics = null)
        {
            Options = options;
            Store = new InMemoryBitsUploadStore(Time, options.TombstoneLifetime);
            Handler = new BitsProtocolHandler(Store, MsOptions.Create(options), Time, NullLogger<BitsProtocolHandler>.Instance);
            Janitor = new BitsSessionJanitor(Store, MsOptions.Create(options), MsOptions.Create(janitor ?? new BitsJanitorOptions()), Time, NullLogger<BitsSessionJanitor>.Instance, metrics: metrics);
        }

        public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 25, 0, 0, 0, TimeSpan.Zero));

        public BitsServerOptions Options { get; }

        public InMemoryBitsUploadStore Store { get; }

        public BitsProtocolHandler Handler { get; }

        public BitsSessionJanitor Janitor { get; }

        public Task<BitsResponse> SendAsync(BitsRequest request) => Handler.HandleAsync(request, Ct);

        public async Task<string> CreateAsync(string path = Path, string? user = null)
        {
            var ack = await SendAsync(BitsRequests.CreateSession(path, user: user));
            AckAssert.IsAck(ack, 200);
            return ack.GetHeader(BitsHeaders.SessionId)!;
        }

        public Task<BitsResponse> FragmentAsync(string id, byte[] file, long first, int length, string path = Path) =>
            SendAsync(BitsRequests.Fragment(path, id, file, first, length));

        public Task<BitsSweepResult> RunAsync() => Janitor.RunOnceAsync(Ct);
    }

    private static BitsServerOptions Options(TimeSpan? sessionTimeout = null, TimeSpan? tombstoneLifetime = null) => new()
    {
        SessionTimeout = sessionTimeout ?? TimeSpan.FromHours(2),
        TombstoneLifetime = tombstoneLifetime ?? TimeSpan.FromDays(14),
    };

    [Fact]
    public async Task IdleSession_ExpiresAfterTheTimeout_ThenAnswersSessionNotFound()
    {
        var rig = new Rig(Options(sessionTimeout: TimeSpan.FromHours(2)));
        var file = SeededStream.Bytes(5000);
        var id = await rig.CreateAsync();
        AckAssert.IsAck(await rig.FragmentAsync(id, file, 0, 1000), 200);

        rig.Time.Advance(TimeSpan.FromHours(2) - TimeSpan.FromSeconds(1));
        var early = await rig.RunAsync();
        rig.Time.Advance(TimeSpan.FromSeconds(1));
        var due = await rig.RunAsync();

        Assert.Equal(default, early);
        Assert.Equal(new BitsSweepResult(1, 0, 0), due);
        Assert.Equal(0, rig.Store.StagedSessionCount);
        AckAssert.IsError(await rig.FragmentAsync(id, file, 1000, 4000), 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
        AckAssert.IsError(await rig.SendAsync(BitsRequests.Close(Path, id)), 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
        Assert.Equal(default, await rig.RunAsync());
    }

    [Fact]
    public async Task ActiveSession_SurvivesWhileFragmentsArrive()
    {
        var rig = new Rig(Options(sessionTimeout: TimeSpan.FromHours(2)));
        var file = SeededStream.Bytes(5000);
        var id = await rig.CreateAsync();
        AckAssert.IsAck(await rig.FragmentAsync(id, file, 0, 1000), 200);

        rig.Time.Advance(TimeSpan.FromHours(1.5));
        AckAssert.IsAck(await rig.FragmentAsync(id, file, 1000, 1000), 200);
        rig.Time.Advance(TimeSpan.FromHours(1.5)); // 3 h since creation, 1.5 h since the last fragment
        var swept = await rig.RunAsync();
        var next = await rig.FragmentAsync(id, file, 2000, 3000);

        Assert.Equal(default, swept);
        AckAssert.IsAck(next, 200);
        AckAssert.Received(next, 5000);
        AckAssert.IsAck(await rig.SendAsync(BitsRequests.Close(Path, id)), 200);
        Assert.Equal(file, rig.Store.Published["up/file.bin"]);
    }

    [Fact]
    public async Task Tombstone_ExpiresAfterTombstoneLifetime_ThenRepeatedCloseAnswersSessionNotFound()
    {
        var rig = new Rig(Options(sessionTimeout: TimeSpan.FromHours(1), tombstoneLifetime: TimeSpan.FromHours(3)));
        var file = SeededStream.Bytes(2000);
        var id = await rig.CreateAsync();
        AckAssert.IsAck(await rig.FragmentAsync(id, file, 0, 2000), 200);
        AckAssert.IsAck(await rig.SendAsync(BitsRequests.Close(Path, id)), 200);

        rig.Time.Advance(TimeSpan.FromHours(3) - TimeSpan.FromSeconds(1));
        var early = await rig.RunAsync();
        var repeatedEarly = await rig.SendAsync(BitsRequests.Close(Path, id));
        rig.Time.Advance(TimeSpan.FromSeconds(1));
        var due = await rig.RunAsync();
        var repeatedLate = await rig.SendAsync(BitsRequests.Close(Path, id));

        Assert.Equal(default, early);
        AckAssert.IsAck(repeatedEarly, 200);
        Assert.Equal(new BitsSweepResult(0, 1, 0), due);
        AckAssert.IsError(repeatedLate, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
        Assert.Equal(file, rig.Store.Published["up/file.bin"]);
    }

    [Fact]
    public async Task Areas_EachSessionExpiresAfterItsOwnAreasTimeout()
    {
        var options = Options(sessionTimeout: TimeSpan.FromDays(1));
        options.UnusedSessionTimeout = TimeSpan.FromDays(1); // these sessions have no Fragment; only the area timeouts are under test
        options.Areas["quick"] = new BitsUploadAreaOptions { PathPrefix = "quick", SessionTimeout = TimeSpan.FromMinutes(30) };
        options.Areas["slow"] = new BitsUploadAreaOptions { PathPrefix = "slow", SessionTimeout = TimeSpan.FromHours(3) };
        var rig = new Rig(options);
        var file = SeededStream.Bytes(1000);
        var quick = await rig.CreateAsync("/quick/a.bin");
        var slow = await rig.CreateAsync("/slow/a.bin");
        var plain = await rig.CreateAsync("/other/a.bin");

        rig.Time.Advance(TimeSpan.FromMinutes(31));
        var first = await rig.RunAsync();
        var quickAck = await rig.FragmentAsync(quick, file, 0, 1000, "/quick/a.bin");
        rig.Time.Advance(TimeSpan.FromHours(3));
        var second = await rig.RunAsync();
        var slowAck = await rig.FragmentAsync(slow, file, 0, 1000, "/slow/a.bin");
        var plainAck = await rig.FragmentAsync(plain, file, 0, 1000, "/other/a.bin");

        Assert.Equal(new BitsSweepResult(1, 0, 0), first);
        AckAssert.IsError(quickAck, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
        Assert.Equal(new BitsSweepResult(1, 0, 0), second);
        AckAssert.IsError(slowAck, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
        AckAssert.IsAck(plainAck, 200);
    }

    [Fact]
    public async Task Run_SweepsInBatches_AndStopsAtMaxItemsPerRun()
    {
        var rig = new Rig(Options(sessionTimeout: TimeSpan.FromHours(1)), new BitsJanitorOptions { BatchSize = 2, MaxItemsPerRun = 5 });
        for (var i = 0; i < 7; i++)
        {
            await rig.CreateAsync($"/up/{i}.bin");
        }

        rig.Time.Advance(TimeSpan.FromHours(2));
        var first = await rig.RunAsync();
        var second = await rig.RunAsync();
        var third = await rig.RunAsync();

        Assert.Equal(new BitsSweepResult(5, 0, 0), first);
        Assert.Equal(new BitsSweepResult(2, 0, 0), second);
        Assert.Equal(default, third);
    }

    [Fact]
    public async Task Run_Disabled_RemovesNothing()
    {
        var rig = new Rig(Options(sessionTimeout: TimeSpan.FromHours(1)), new BitsJanitorOptions { Enabled = false });
        var id = await rig.CreateAsync();

        rig.Time.Advance(TimeSpan.FromHours(2));
        var result = await rig.RunAsync();

        Assert.Equal(default, result);
        Assert.NotNull(await rig.Store.GetSessionAsync(BitsSessionIds.TryNormalize(id, out var normalized) ? normalized : id, Ct));
    }

    [Fact]
    public async Task Run_StoreWithoutExpirySupport_DoesNothing()
    {
        var store = BareBitsUploadStore.Create();
        var time = new FakeTimeProvider();
        var janitor = new BitsSessionJanitor(store, MsOptions.Create(new BitsServerOptions()), MsOptions.Create(new BitsJanitorOptions()), time, NullLogger<BitsSessionJanitor>.Instance);

        Assert.Equal(default, await janitor.RunOnceAsync(Ct));
        Assert.Equal(default, await janitor.RunOnceAsync(Ct));
    }

    [Fact]
    public async Task CountOpenSessions_CountsOpenSessionsOfThatUserOnly()
    {
        var rig = new Rig(Options());
        var file = SeededStream.Bytes(100);
        var first = await rig.CreateAsync("/up/a.bin", user: "alice");
        await rig.CreateAsync("/up/b.bin", user: "alice");
        await rig.CreateAsync("/up/c.bin", user: "bob");
        await rig.CreateAsync("/up/d.bin");

        var before = await rig.Store.CountOpenSessionsAsync("alice", Ct);
        await rig.SendAsync(BitsRequests.Fragment("/up/a.bin", first, file, 0, 100, "alice"));
        AckAssert.IsAck(await rig.SendAsync(BitsRequests.Close("/up/a.bin", first, "alice")), 200);

        Assert.Equal(2, before);
        Assert.Equal(1, await rig.Store.CountOpenSessionsAsync("alice", Ct));
        Assert.Equal(1, await rig.Store.CountOpenSessionsAsync("bob", Ct));
        Assert.Equal(0, await rig.Store.CountOpenSessionsAsync("carol", Ct));
    }

    [Fact]
    public async Task Run_RecordsExpiredSessionsOnTheMeter()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meters = services.GetRequiredService<IMeterFactory>();
        using var expired = new MetricCollector<long>(meters, BitsObservability.Name, "bits.janitor.expired");
        using var duration = new MetricCollector<double>(meters, BitsObservability.Name, "bits.janitor.duration");
        var rig = new Rig(Options(sessionTimeout: TimeSpan.FromHours(1)), metrics: new BitsMetrics(meters));
        await rig.CreateAsync("/up/1.bin");
        await rig.CreateAsync("/up/2.bin");

        rig.Time.Advance(TimeSpan.FromHours(2));
        await rig.RunAsync();

        // This test's meter factory sees only this janitor: exactly its two sessions.
        var measurement = Assert.Single(expired.GetMeasurementSnapshot());
        Assert.Equal(2, measurement.Value);
        Assert.Equal("session", measurement.Tags["bits.janitor.kind"]);
        Assert.Single(duration.GetMeasurementSnapshot());
        Assert.Equal("s", duration.Instrument!.Unit);
    }
}
