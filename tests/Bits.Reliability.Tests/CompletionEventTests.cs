using System.Text;
using System.Text.Json;
using Azure;
using Azure.Storage.Queues;
using Bits.Client;
using Bits.Protocol;
using Bits.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Bits.Reliability.Tests;

/// <summary>
/// Completion events are sent at least once (issue 13, point 8): the host dies after the publish and before the
/// message reached the queue, or the queue fails, and the event still arrives, from a repeated Close-Session or from the
/// janitor. Host A is a child process killed at the chosen step (as in <see cref="HostCrashTests"/>); host B, in this
/// process with a fake clock, takes over. A session whose commit never happened gets no event.
/// </summary>
public class CompletionEventTests(AzuriteFixture azurite)
{
    private const string Name = "events/file.bin";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The one request that puts a message on a queue (the sink creates the queue first, with a PUT).</summary>
    private static bool IsSendMessage(RequestHead r) => r.Method == "POST" && r.Path.EndsWith("/messages", StringComparison.Ordinal);

    [Theory]
    [InlineData("between the commit and the tombstone", false)]
    [InlineData("between the commit and the tombstone", true)]
    [InlineData("between the tombstone and the enqueue", false)]
    [InlineData("between the tombstone and the enqueue", true)]
    public async Task HostKilledAfterThePublish_EventReachesTheQueue(string step, bool viaJanitor)
    {
        await using var storage = ProxiedStorage.Create(azurite.Azurite);
        await using var crash = await CrashSetup.StartAsync(storage);
        var rule = step == "between the commit and the tombstone"
            ? storage.Blob.Add(new FaultRule { Match = StorageFaultTests.IsCommit, Kind = FaultKind.DropResponse, AfterResponse = (_, _) => crash.KillAAsync() })
            : storage.Queue.Add(new FaultRule { Match = IsSendMessage, Kind = FaultKind.Respond, BeforeForward = _ => crash.KillAAsync() });
        var file = SeededStream.Bytes(100_000, 41);

        var id = await crash.UploadUntilADiesAsync(file);

        Assert.Equal(1, rule.Applied);
        Assert.Equal(file, await storage.ReadPublishedAsync(Name));
        Assert.Empty(await EventsAsync(storage));
        if (viaJanitor)
        {
            // No client comes back: the janitor finds the mark once it is due (5 minutes after the Close began).
            crash.Time.Advance(TimeSpan.FromMinutes(6));
            await crash.RunJanitorAsync();
        }
        else
        {
            Assert.Equal(200, (await crash.Client.CloseSessionAsync(crash.B.Url(Name), id, Ct)).StatusCode);
        }

        var sent = Assert.Single(await EventsAsync(storage));
        AssertEvent(sent, id, file.Length);

        // Delivered and cleared: neither another Close nor a later janitor run sends it again; no listing is left.
        Assert.Equal(200, (await crash.Client.CloseSessionAsync(crash.B.Url(Name), id, Ct)).StatusCode);
        crash.Time.Advance(TimeSpan.FromHours(1));
        await crash.RunJanitorAsync();
        Assert.Single(await EventsAsync(storage));
        Assert.Empty(await EventListingsAsync(storage));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task QueueFailing_ThenRecovering_EventReachesTheQueue(bool viaJanitor)
    {
        await using var storage = ProxiedStorage.Create(azurite.Azurite);
        var failing = storage.Queue.Add(new FaultRule { Match = IsSendMessage, Kind = FaultKind.Respond, Times = int.MaxValue });
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await InProcessHost.StartAsync(storage, SdkRetry.Fast, EventSettings(storage), time, janitorByHand: true);
        using var http = new HttpClient();
        var client = new BitsUploadClient(http, new BitsClientOptions { RetryDelay = TimeSpan.Zero });
        var file = SeededStream.Bytes(100_000, 42);

        var result = await client.UploadAsync(host.Url(Name), new MemoryStream(file), ct: Ct);

        // Published and acknowledged although the queue refused the event; the event stays owed.
        Assert.Equal(file, await storage.ReadPublishedAsync(Name));
        Assert.True(failing.Applied >= 1);
        Assert.Equal(1, host.Logs.Count("CompletionEventPending"));
        Assert.Empty(await EventsAsync(storage));

        // While the queue still fails, another attempt loses nothing either.
        await DeliverAsync(viaJanitor, TimeSpan.FromMinutes(6));
        Assert.Empty(await EventsAsync(storage));
        Assert.Equal(2, host.Logs.Count("CompletionEventPending"));

        failing.Enabled = false;
        await DeliverAsync(viaJanitor, TimeSpan.FromMinutes(7)); // past the postponed look (as long again as it waited)

        AssertEvent(Assert.Single(await EventsAsync(storage)), result.SessionId, file.Length);
        await DeliverAsync(viaJanitor: false, TimeSpan.Zero);
        await DeliverAsync(viaJanitor: true, TimeSpan.FromHours(1));
        Assert.Single(await EventsAsync(storage));
        Assert.Empty(await EventListingsAsync(storage));

        async Task DeliverAsync(bool viaJanitor, TimeSpan later)
        {
            time.Advance(later);
            if (viaJanitor)
            {
                await host.Services.GetRequiredService<BitsSessionJanitor>().RunOnceAsync(Ct);
            }
            else
            {
                Assert.Equal(200, (await client.CloseSessionAsync(host.Url(Name), result.SessionId, Ct)).StatusCode);
            }
        }
    }

    /// <summary>
    /// Host A dies before its commit reached storage, and the client does not come back: the mark is on the row, but the
    /// destination is not this session's file, so the janitor sends nothing (however often it looks). A Close that later
    /// publishes sends the event.
    /// </summary>
    [Fact]
    public async Task HostKilledBeforeTheCommit_NoEvent_UntilAClosePublishes()
    {
        await using var storage = ProxiedStorage.Create(azurite.Azurite);
        await using var crash = await CrashSetup.StartAsync(storage);
        var rule = storage.Blob.Add(new FaultRule { Match = StorageFaultTests.IsCommit, Kind = FaultKind.Respond, BeforeForward = _ => crash.KillAAsync() });
        var file = SeededStream.Bytes(100_000, 43);

        var id = await crash.UploadUntilADiesAsync(file);

        Assert.Equal(1, rule.Applied);
        Assert.False(await storage.Uploads.GetBlobClient(Name).ExistsAsync(Ct));
        for (var look = 0; look < 3; look++)
        {
            crash.Time.Advance(TimeSpan.FromHours(1));
            await crash.RunJanitorAsync();
        }

        Assert.Empty(await EventsAsync(storage));
        Assert.Contains($"{id}/session", await storage.SessionRowsAsync());
        Assert.Equal(0, crash.B.Logs.Count("CompletionEventDropped"));

        Assert.Equal(200, (await crash.Client.CloseSessionAsync(crash.B.Url(Name), id, Ct)).StatusCode);
        Assert.Equal(file, await storage.ReadPublishedAsync(Name));
        AssertEvent(Assert.Single(await EventsAsync(storage)), id, file.Length);
    }

    private static Dictionary<string, string?> EventSettings(ProxiedStorage storage) =>
        new() { ["Bits:CompletionQueue"] = storage.CompletionQueue };

    private static void AssertEvent(JsonElement completion, string sessionId, long size)
    {
        Assert.Equal(sessionId, completion.GetProperty("sessionId").GetString());
        Assert.Equal(Name, completion.GetProperty("blobName").GetString());
        Assert.Equal(size, completion.GetProperty("size").GetInt64());
    }

    /// <summary>Every message on the test's completion queue (peeked, so they stay), decoded.</summary>
    private static async Task<List<JsonElement>> EventsAsync(ProxiedStorage storage)
    {
        try
        {
            var peeked = await new QueueClient(storage.DirectConnectionString, storage.CompletionQueue).PeekMessagesAsync(maxMessages: 32, Ct);
            return peeked.Value.Select(m => JsonDocument.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(m.MessageText))).RootElement).ToList();
        }
        catch (RequestFailedException ex) when (ex.Status == 404)
        {
            return [];
        }
    }

    /// <summary>The janitor's listings of pending events (rows in <c>e-</c> partitions).</summary>
    private static async Task<List<string>> EventListingsAsync(ProxiedStorage storage) =>
        (await storage.RowsAsync()).Where(r => r.StartsWith("e-", StringComparison.Ordinal)).ToList();

    /// <summary>Host A (a child process, killed by a fault rule's hook) and host B (in process, fake clock) on one storage.</summary>
    private sealed class CrashSetup : IAsyncDisposable
    {
        private readonly TaskCompletionSource _crashed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly HttpClient _http = new();

        private CrashSetup(HostProcess a, InProcessHost b, FakeTimeProvider time)
        {
            A = a;
            B = b;
            Time = time;
            Client = new BitsUploadClient(_http, new BitsClientOptions { RetryDelay = TimeSpan.Zero });
        }

        public HostProcess A { get; }

        public InProcessHost B { get; }

        public FakeTimeProvider Time { get; }

        public BitsUploadClient Client { get; }

        public static async Task<CrashSetup> StartAsync(ProxiedStorage storage)
        {
            var settings = storage.HostSettings();
            settings["Bits:CompletionQueue"] = storage.CompletionQueue;
            var a = await HostProcess.StartAsync(settings);
            var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
            var b = await InProcessHost.StartAsync(storage, SdkRetry.Fast, EventSettings(storage), time, proxied: false, janitorByHand: true);
            return new CrashSetup(a, b, time);
        }

        /// <summary>Runs inside the proxy while it holds A's storage request (or storage's answer to it).</summary>
        public Task KillAAsync()
        {
            A.Kill();
            _crashed.TrySetResult();
            return Task.CompletedTask;
        }

        /// <summary>Create-Session and one Fragment on A, then a Close-Session during which A dies; the client does not retry.</summary>
        public async Task<string> UploadUntilADiesAsync(byte[] file)
        {
            var url = A.Url(Name);
            var id = (await Client.CreateSessionAsync(url, ct: Ct)).SessionId!;
            Assert.Equal(200, (await Client.SendFragmentAsync(url, id, file, 0, file.Length, ct: Ct)).StatusCode);
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => Client.CloseSessionAsync(url, id, Ct));
            await _crashed.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
            Assert.True(A.HasExited);
            return id;
        }

        public async Task RunJanitorAsync() => await B.Services.GetRequiredService<BitsSessionJanitor>().RunOnceAsync(Ct);

        public async ValueTask DisposeAsync()
        {
            _http.Dispose();
            await B.DisposeAsync();
            await A.DisposeAsync();
        }
    }
}
