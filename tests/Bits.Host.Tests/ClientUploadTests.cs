using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Bits.Client;
using Bits.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Bits.Host.Tests;

/// <summary>End-to-end uploads with the .NET BITS client over real HTTP, Kestrel on loopback and Azurite.</summary>
public class ClientUploadTests(AzuriteFixture azurite)
{
    private const long MinFragment = 5 * 1024;
    private const long MaxFragment = 13 * 1024 * 1024;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Random fragment sizes between 5 KB and 13 MB, with injected retransmits, overlaps and gaps.</summary>
    private static Func<FragmentRequest, FragmentPlan> FaultyPlanner(int seed, double faultRate = 0.1, long maxFragment = MaxFragment)
    {
        var random = new Random(seed);
        return request =>
        {
            var length = random.NextInt64(MinFragment, maxFragment + 1);
            var first = request.NextOffset;
            var roll = random.NextDouble();
            if (roll < faultRate / 3 && request.NextOffset > 0)
            {
                first = Math.Max(0, request.NextOffset - random.NextInt64(1, maxFragment)); // retransmit / overlap
            }
            else if (roll < 2 * faultRate / 3 && request.NextOffset > 0)
            {
                first = Math.Max(0, request.NextOffset - random.NextInt64(1, 4096)); // small overlap
            }
            else if (roll < faultRate)
            {
                first = Math.Min(request.TotalLength - 1, request.NextOffset + random.NextInt64(1, maxFragment)); // gap
            }

            return new FragmentPlan(first, Math.Min(length, request.TotalLength - first));
        };
    }

    private static BitsUploadClient Client(HttpClient http, Func<FragmentRequest, FragmentPlan>? planner = null) =>
        new(http, new BitsClientOptions { RetryDelay = TimeSpan.Zero, FragmentPlanner = planner, MaxFragmentsWithoutProgress = 64 });

    [Fact]
    public async Task Upload_SmallSegmentsForceRollover_IsByteIdentical()
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        // 1 MB segments and limits low enough that the 9.9 MB file rolls over into them (a store seam, not a setting).
        await using var host = await TestHost.StartAsync(storage, configure: builder => builder.Services.PostConfigure<Bits.Storage.Azure.AzureBitsStorageOptions>(
            o => o.BlockBudget = new Bits.Protocol.BitsBlockBudget(MaxCommittedBlocks: 20, MaxUncommittedBlocks: 24, SegmentBytes: 1_000_000)));
        using var http = new HttpClient();
        var file = SeededStream.Bytes(9_876_543, 3);

        await Client(http, FaultyPlanner(3, faultRate: 0.3)).UploadAsync(host.Url("rollover.bin"), new MemoryStream(file), ct: Ct);

        Assert.Equal(file, await storage.ReadPublishedAsync("rollover.bin"));
        Assert.Equal(0, await storage.StagedBlobCountAsync());
    }

    [Fact]
    public async Task Upload_In5KiBFragmentsBeyondTheLoweredBlockLimits_Coalesces_IsByteIdentical()
    {
        // Limits lowered to 20 committed / 24 uncommitted blocks per blob (Azurite enforces neither: the policy refuses
        // a blob's 25th uncommitted block with Azure's 409 BlockCountExceedsLimit) and 128 KiB segments.
        var storage = StorageNames.Unique(azurite.ConnectionString);
        var limit = new BlockLimitPolicy { MaxUncommittedBlocks = 24 };
        void Limited(Microsoft.AspNetCore.Builder.WebApplicationBuilder builder)
        {
            var blobOptions = new BlobClientOptions();
            blobOptions.AddPolicy(limit, HttpPipelinePosition.PerCall);
            builder.Services.AddSingleton(new BlobServiceClient(storage.ConnectionString, blobOptions));
            builder.Services.PostConfigure<Bits.Storage.Azure.AzureBitsStorageOptions>(o => o.BlockBudget = new Bits.Protocol.BitsBlockBudget(20, 24, 128 * 1024));
        }

        await using var a = await TestHost.StartAsync(storage, configure: Limited);
        await using var b = await TestHost.StartAsync(storage, configure: Limited);
        using var http = new HttpClient(new AlternatingHandler(a.Root, b.Root));
        var file = SeededStream.Bytes(200 * 5 * 1024, 14);

        var result = await Client(http, FaultyPlanner(14, faultRate: 0.2, maxFragment: MinFragment)).UploadAsync(a.Url("small/fragments.bin"), new MemoryStream(file), ct: Ct);

        Assert.True(result.FragmentsSent > 200, $"{result.FragmentsSent} fragments");
        Assert.Equal(file, await storage.ReadPublishedAsync("small/fragments.bin"));
        Assert.True(limit.Peak <= 12, $"{limit.Peak} uncommitted blocks at most");
        Assert.Equal(0, limit.Refused);
        Assert.Equal(0, await storage.StagedBlobCountAsync());
    }

    [Fact]
    public async Task Upload_PacketsAlternateBetweenTwoHosts_IsByteIdentical()
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using var a = await TestHost.StartAsync(storage);
        await using var b = await TestHost.StartAsync(storage);
        using var http = new HttpClient(new AlternatingHandler(a.Root, b.Root));
        var file = SeededStream.Bytes(12_345_678, 4);

        var result = await Client(http, FaultyPlanner(4, faultRate: 0.2, maxFragment: 1024 * 1024)).UploadAsync(a.Url("farm/alternating.bin"), new MemoryStream(file), ct: Ct);

        Assert.True(result.FragmentsSent > 12, $"{result.FragmentsSent} fragments");
        Assert.Equal(file, await storage.ReadPublishedAsync("farm/alternating.bin"));
        Assert.Equal(0, await storage.StagedBlobCountAsync());
        Assert.Equal(0, await storage.SessionRowCountAsync());
    }

    [Fact]
    public async Task Fragment_SameRangeSentToTwoHostsAtOnce_IsStoredExactlyOnce()
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using var a = await TestHost.StartAsync(storage);
        await using var b = await TestHost.StartAsync(storage);
        using var http = new HttpClient();
        var client = Client(http);
        var file = SeededStream.Bytes(3_000_000, 5);
        var urlA = a.Url("farm/race.bin");
        var urlB = b.Url("farm/race.bin");
        var id = (await client.CreateSessionAsync(urlA, ct: Ct)).SessionId!;

        for (var offset = 0; offset < file.Length; offset += 1_000_000)
        {
            var chunk = file.AsMemory(offset, 1_000_000);
            var acks = await Task.WhenAll(
                client.SendFragmentAsync(urlA, id, chunk, offset, file.Length, ct: Ct),
                client.SendFragmentAsync(urlB, id, chunk, offset, file.Length, ct: Ct),
                client.SendFragmentAsync(urlA, id, chunk, offset, file.Length, ct: Ct));

            Assert.All(acks, ack => Assert.Contains(ack.StatusCode, new[] { 200, 416 }));
            Assert.All(acks, ack => Assert.Equal(offset + 1_000_000, ack.ReceivedContentRange));
        }

        var closes = await Task.WhenAll(client.CloseSessionAsync(urlB, id, Ct), client.CloseSessionAsync(urlA, id, Ct));

        Assert.All(closes, ack => Assert.Equal(200, ack.StatusCode));
        Assert.Equal(file, await storage.ReadPublishedAsync("farm/race.bin"));
        Assert.Equal(0, await storage.StagedBlobCountAsync());
    }

    /// <summary>
    /// Requirement 1 of issue 14: a steady-state Fragment is one data write (Put Block, where the file will live) and
    /// one small table write (the received length), and no read when the session is cached; a cache miss (the cache
    /// off, or two hosts taking turns so that every packet finds the other host's write) adds one small read.
    /// </summary>
    [Theory]
    [InlineData("00:01:00", false, 0)]
    [InlineData("00:00:00", false, 6)]
    [InlineData("00:01:00", true, 6)]
    public async Task Fragment_HotPath_CostsOneBlockAndOneTableWrite_AndAReadOnlyOnACacheMiss(string cacheLifetime, bool alternateHosts, int reads)
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        var counter = new RequestCounter();
        var settings = new Dictionary<string, string?> { ["Bits:SessionCacheLifetime"] = cacheLifetime };
        void Counted(Microsoft.AspNetCore.Builder.WebApplicationBuilder builder)
        {
            var blobOptions = new BlobClientOptions();
            blobOptions.AddPolicy(counter, HttpPipelinePosition.PerCall);
            var tableOptions = new TableClientOptions();
            tableOptions.AddPolicy(counter, HttpPipelinePosition.PerCall);
            builder.Services.AddSingleton(new BlobServiceClient(storage.ConnectionString, blobOptions));
            builder.Services.AddSingleton(new TableServiceClient(storage.ConnectionString, tableOptions));
        }

        await using var host = await TestHost.StartAsync(storage, settings, configure: Counted);
        await using var other = await TestHost.StartAsync(storage, settings, configure: Counted);
        using var http = new HttpClient();
        var client = Client(http);
        var file = SeededStream.Bytes(8 * 1024 * 1024, 7);
        var id = (await client.CreateSessionAsync(host.Url("hot.bin"), ct: Ct)).SessionId!;
        await client.SendFragmentAsync(host.Url("hot.bin"), id, file.AsMemory(0, 1024 * 1024), 0, file.Length, ct: Ct);

        counter.Reset();
        const int fragments = 6;
        for (var i = 1; i <= fragments; i++)
        {
            var url = (alternateHosts && i % 2 == 1 ? other : host).Url("hot.bin");
            var ack = await client.SendFragmentAsync(url, id, file.AsMemory(i * 1024 * 1024, 1024 * 1024), i * 1024 * 1024, file.Length, ct: Ct);
            Assert.Equal(200, ack.StatusCode);
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"{fragments} Fragments: {counter.Writes} writes, {counter.Reads} reads");
        Assert.Equal(2 * fragments, counter.Writes);
        Assert.Equal(reads, counter.Reads);
    }

    [Fact]
    public async Task SessionCachedOnOneHost_CancelledOnTheOther_NextFragmentIsSessionNotFound_AndNothingIsLeft()
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using var first = await TestHost.StartAsync(storage);
        await using var second = await TestHost.StartAsync(storage);
        using var http = new HttpClient();
        var client = Client(http);
        var file = SeededStream.Bytes(64 * 1024, 8);
        var id = (await client.CreateSessionAsync(first.Url("cancelled.bin"), ct: Ct)).SessionId!;
        for (var i = 0; i < 2; i++)
        {
            var ack = await client.SendFragmentAsync(first.Url("cancelled.bin"), id, file.AsMemory(i * 16 * 1024, 16 * 1024), i * 16 * 1024, file.Length, ct: Ct);
            Assert.Equal(200, ack.StatusCode);
        }

        await client.CancelSessionAsync(second.Url("cancelled.bin"), id, Ct);
        var late = await client.SendFragmentAsync(first.Url("cancelled.bin"), id, file.AsMemory(32 * 1024, 16 * 1024), 32 * 1024, file.Length, ct: Ct);

        Assert.Equal(500, late.StatusCode);
        Assert.Equal(0x8020001Fu, late.ErrorCode);
        Assert.Equal(0, await storage.StagedBlobCountAsync());
    }

    /// <summary>Sends each request to the next of two hosts in turn (a farm without affinity).</summary>
    private sealed class AlternatingHandler(Uri first, Uri second) : DelegatingHandler(new SocketsHttpHandler())
    {
        private int _count;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var target = Interlocked.Increment(ref _count) % 2 == 0 ? first : second;
            request.RequestUri = new UriBuilder(request.RequestUri!) { Host = target.Host, Port = target.Port }.Uri;
            return base.SendAsync(request, cancellationToken);
        }
    }
}
