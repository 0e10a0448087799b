using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Bits.Client;
using Bits.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Bits.Host.Tests;

/// <summary>
/// Upload-reply areas end to end: the BITS host on Azurite notifies a real back-end HTTP server on loopback, relays its
/// errors, and serves its reply (GET/HEAD, ranges) until Close.
/// </summary>
public sealed class UploadReplyTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private readonly ConcurrentQueue<(string Path, string? Original, long Length, string? Query)> _calls = new();
    private readonly HttpClient _download = new();
    private WebApplication? _backEnd;
    private Uri _backEndRoot = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var download = _download;

        // By value: the body is the upload; the reply is "sha256:<hex>" of it.
        app.MapPost("/backend/value", async (HttpContext context) =>
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer);
            Record(context, buffer.Length);
            if (context.Request.Query.ContainsKey("copy"))
            {
                context.Response.Headers["BITS-Copy-File-To-Destination"] = "1";
            }

            await context.Response.WriteAsync("sha256:" + Convert.ToHexString(SHA256.HashData(buffer.ToArray())));
        });

        // By reference: read the upload from its SAS URL, write the reply to the response SAS URL, answer with no body.
        app.MapPost("/backend/reference", async (HttpContext context) =>
        {
            var requestData = context.Request.Headers["BITS-Request-DataFile-Name"].ToString();
            var responseData = context.Request.Headers["BITS-Response-DataFile-Name"].ToString();
            var bytes = await download.GetByteArrayAsync(new Uri(requestData));
            Record(context, bytes.Length);
            using var put = new HttpRequestMessage(HttpMethod.Put, new Uri(responseData))
            {
                Content = new ByteArrayContent(Encoding.UTF8.GetBytes("ref-sha256:" + Convert.ToHexString(SHA256.HashData(bytes)))),
            };
            put.Headers.Add("x-ms-blob-type", "BlockBlob");
            (await download.SendAsync(put)).EnsureSuccessStatusCode();
            context.Response.StatusCode = 200;
        });

        app.MapPost("/backend/fail", (HttpContext context) =>
        {
            Record(context, 0);
            return Results.StatusCode(int.Parse(context.Request.Query["status"].ToString(), System.Globalization.CultureInfo.InvariantCulture));
        });

        app.MapPost("/backend/static", (HttpContext context) =>
        {
            Record(context, 0);
            context.Response.Headers["BITS-Static-Response-URL"] = "https://replies.example/static/42";
            return Results.Ok();
        });

        await app.StartAsync(Ct);
        _backEnd = app;
        _backEndRoot = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/");
    }

    public async ValueTask DisposeAsync()
    {
        if (_backEnd is not null)
        {
            await _backEnd.DisposeAsync();
        }

        _download.Dispose();
    }

    private void Record(HttpContext context, long length) =>
        _calls.Enqueue((context.Request.Path, context.Request.Headers["BITS-Original-Request-URL"].ToString(), length, context.Request.QueryString.Value));

    private async Task<(TestHost Host, StorageNames Storage)> StartAsync(
        string type, string backEndPath, IDictionary<string, string?>? settings = null, Action<WebApplicationBuilder>? configure = null)
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        var values = new Dictionary<string, string?>
        {
            ["Bits:Areas:reply:PathPrefix"] = "reply",
            ["Bits:Areas:reply:BlobPrefix"] = "reply/",
            ["Bits:Areas:reply:NotificationType"] = type,
            ["Bits:Areas:reply:NotificationUrl"] = new Uri(_backEndRoot, backEndPath).AbsoluteUri,
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values[key] = value;
        }

        var host = await TestHost.StartAsync(storage, values, configure);
        return (host, storage);
    }

    private static async Task<(string Id, BitsAck Final)> UploadAllAsync(BitsUploadClient client, Uri url, byte[] file)
    {
        var id = (await client.CreateSessionAsync(url, ct: Ct)).SessionId!;
        BitsAck ack = null!;
        for (var offset = 0; offset < file.Length; offset += 50_000)
        {
            var length = Math.Min(50_000, file.Length - offset);
            ack = await client.SendFragmentAsync(url, id, file.AsMemory(offset, length), offset, file.Length, ct: Ct);
        }

        return (id, ack);
    }

    [Theory]
    [InlineData(503, 503, 0x801901F7u)]
    [InlineData(404, 404, 0x80190194u)]
    [InlineData(302, 500, 0x8019012Eu)]
    public async Task BackEndError_IsRelayedWithContext7AndTheFinalFragmentRetries(int backEndStatus, int ackStatus, uint errorCode)
    {
        var (host, _) = await StartAsync("ByValue", $"backend/fail?status={backEndStatus}");
        await using var __ = host;
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        var client = new BitsUploadClient(http);
        var file = SeededStream.Bytes(60_000, 4);
        var url = host.Url("reply/failing.bin");

        var (id, final) = await UploadAllAsync(client, url, file);
        var retry = await client.SendFragmentAsync(url, id, file.AsMemory(50_000), 50_000, file.Length, ct: Ct);

        Assert.Equal(ackStatus, final.StatusCode);
        Assert.Equal(errorCode, final.ErrorCode);
        Assert.Equal(7, final.ErrorContext);
        Assert.Null(final.ReplyUrl);
        Assert.Equal(file.Length, final.ReceivedContentRange);
        Assert.Equal(ackStatus, retry.StatusCode);
        Assert.Equal(2, _calls.Count);
    }

    [Fact]
    public async Task StaticResponseUrl_IsPassedThrough()
    {
        var (host, _) = await StartAsync("ByValue", "backend/static");
        await using var __ = host;
        using var http = new HttpClient();

        var (_, final) = await UploadAllAsync(new BitsUploadClient(http), host.Url("reply/static.bin"), SeededStream.Bytes(1000, 5));

        Assert.Equal(200, final.StatusCode);
        Assert.Equal("https://replies.example/static/42", final.ReplyUrl);
    }

    [Fact]
    public async Task ReplyUrl_OfAnotherSessionOrPath_Is404()
    {
        var (host, _) = await StartAsync("ByValue", "backend/value");
        await using var __ = host;
        using var http = new HttpClient();
        var (_, final) = await UploadAllAsync(new BitsUploadClient(http), host.Url("reply/mine.bin"), SeededStream.Bytes(1000, 6));
        var replyUrl = new Uri(final.ReplyUrl!);

        using var otherPath = await http.GetAsync(new Uri(host.Url("reply/other.bin") + replyUrl.Query), Ct);
        using var otherId = await http.GetAsync(new Uri(host.Url("reply/mine.bin") + "?bits-reply=" + Guid.NewGuid().ToString("N")), Ct);

        Assert.Equal(HttpStatusCode.NotFound, otherPath.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, otherId.StatusCode);
    }

    [Fact]
    public async Task CopyToDestination_CloseAnswers503UntilTheCopyIsDone_ThenPublishesTheFileByteIdentical()
    {
        await using var copy = await StartCopyAsync();

        // The final Fragment starts the copy (2 ranges), a first Close continues it (2 more) and runs out of budget.
        var (id, final) = await copy.UploadAsync(rangesOnTheFinalFragment: 2);
        var first = await copy.CloseAsync(id, ranges: 2);
        var published = copy.Storage.Uploads.GetBlobClient("reply/copied.bin");
        var visibleEarly = (await published.ExistsAsync(Ct)).Value;
        copy.Ranges.Gate.Allow(int.MaxValue);
        var second = await copy.Client.CloseSessionAsync(copy.Url, id, Ct);

        Assert.Equal(200, final.StatusCode);
        Assert.NotNull(final.ReplyUrl);
        Assert.Equal(503, first.StatusCode);
        Assert.Equal(0x801901F7u, first.ErrorCode);
        Assert.Equal(5, first.ErrorContext);
        Assert.False(visibleEarly, "the destination is visible before the copy is done");
        Assert.Equal(200, second.StatusCode);
        Assert.Equal(copy.File, await copy.Storage.ReadPublishedAsync("reply/copied.bin"));
        Assert.Equal(0, await copy.Storage.StagedBlobCountAsync());
    }

    [Fact]
    public async Task CopyToDestination_ARepeatedCloseContinuesWhereTheLastStopped_NoRangeIsCopiedTwice()
    {
        await using var copy = await StartCopyAsync();

        var (id, _) = await copy.UploadAsync(rangesOnTheFinalFragment: 1);
        var first = await copy.CloseAsync(id, ranges: 2);
        var second = await copy.CloseAsync(id, ranges: 1);
        var afterTwoCloses = copy.Ranges.Copied.ToArray();
        copy.Ranges.Gate.Allow(int.MaxValue);
        var third = await copy.Client.CloseSessionAsync(copy.Url, id, Ct);

        Assert.Equal(new[] { 503, 503, 200 }, new[] { first.StatusCode, second.StatusCode, third.StatusCode });
        Assert.Equal(4, afterTwoCloses.Length); // 1 + 2 + 1: each request stopped where its budget ran out
        var copied = copy.Ranges.Copied.ToArray();
        Assert.Equal(CopyRanges, copied.Length);
        Assert.Equal(CopyRanges, copied.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(copy.File, await copy.Storage.ReadPublishedAsync("reply/copied.bin"));
    }

    [Fact]
    public async Task CopyToDestination_OfMoreRangesThanOneCommitMayName_UsesLargerRanges_AndPublishesByteIdentical()
    {
        // 100,000 bytes in 1 KiB ranges would be 98 blocks; a commit here may name 20 and a session gets 11: the ranges
        // grow to what fits (ceil(100,000 / 11) bytes) instead of the copy failing at Close.
        await using var copy = await StartCopyAsync(publishBlockBytes: 1024, budget: new Bits.Protocol.BitsBlockBudget(20, 24, 128 * 1024));
        copy.Ranges.Gate.Allow(int.MaxValue);

        var (id, final) = await copy.UploadAsync(rangesOnTheFinalFragment: int.MaxValue);
        var closed = await copy.Client.CloseSessionAsync(copy.Url, id, Ct);

        Assert.Equal(200, final.StatusCode);
        Assert.Equal(200, closed.StatusCode);
        Assert.Equal(11, copy.Ranges.Copied.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(copy.File, await copy.Storage.ReadPublishedAsync("reply/copied.bin"));
    }

    [Fact]
    public async Task CopyToDestination_CancelledHalfWay_LeavesNoStagedDataAndNoFile()
    {
        await using var copy = await StartCopyAsync();

        var (id, _) = await copy.UploadAsync(rangesOnTheFinalFragment: 3);
        var listedWhileCopying = await ListedWithUncommittedAsync(copy.Storage, "reply/copied.bin");
        var cancel = await copy.Client.CancelSessionAsync(copy.Url, id, Ct);

        Assert.True(listedWhileCopying, "the copied ranges are not staged on the destination");
        Assert.Equal(200, cancel.StatusCode);
        Assert.False(await ListedWithUncommittedAsync(copy.Storage, "reply/copied.bin"), "the copied ranges stay listed after Cancel");
        Assert.Equal(0, await copy.Storage.StagedBlobCountAsync());
    }

    private static async Task<bool> ListedWithUncommittedAsync(StorageNames storage, string name)
    {
        await foreach (var blob in storage.Uploads.GetBlobsAsync(new GetBlobsOptions { States = BlobStates.Uncommitted, Prefix = name }, Ct))
        {
            if (blob.Name == name)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>100,000 bytes in ranges of 16 KiB: 7 Put Block From URL requests.</summary>
    private const int CopyRanges = 7;

    private static readonly TimeSpan CopyBudget = TimeSpan.FromSeconds(25);

    /// <summary>
    /// A host whose back-end asks for BITS-Copy-File-To-Destination, copying in 16 KiB ranges one at a time, on a fake
    /// clock, with a gate on its Put Block From URL requests: a request's budget runs out exactly when the test says.
    /// </summary>
    private async Task<CopyRig> StartCopyAsync(int publishBlockBytes = 16384, Bits.Protocol.BitsBlockBudget? budget = null)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var gate = new CopyRangeGate();
        var (host, storage) = await StartAsync(
            "ByValue",
            "backend/value?copy=1",
            new Dictionary<string, string?>
            {
                ["Bits:CopyTimeBudget"] = CopyBudget.ToString(),
                ["BitsStorage:PublishBlockBytes"] = publishBlockBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["BitsStorage:PublishConcurrency"] = "1",
            },
            builder =>
            {
                var blobOptions = new BlobClientOptions();
                blobOptions.AddPolicy(gate, HttpPipelinePosition.PerCall);
                builder.Services.AddSingleton<TimeProvider>(time);
                builder.Services.AddSingleton(new BlobServiceClient(azurite.ConnectionString, blobOptions));
                if (budget is not null)
                {
                    builder.Services.PostConfigure<Bits.Storage.Azure.AzureBitsStorageOptions>(o => o.BlockBudget = budget);
                }
            });
        var http = new HttpClient();
        return new CopyRig(host, storage, time, gate, http, new BitsUploadClient(http), host.Url("reply/copied.bin"), SeededStream.Bytes(100_000, 7));
    }

    private sealed record CopyRig(TestHost Host, StorageNames Storage, FakeTimeProvider Time, CopyRangeGate Ranges, HttpClient Http, BitsUploadClient Client, Uri Url, byte[] File)
        : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            Http.Dispose();
            await Host.DisposeAsync();
        }

        /// <summary>Uploads the file; the final Fragment may copy <paramref name="rangesOnTheFinalFragment"/> ranges.</summary>
        public async Task<(string Id, BitsAck Final)> UploadAsync(int rangesOnTheFinalFragment)
        {
            var id = (await Client.CreateSessionAsync(Url, ct: Ct)).SessionId!;
            Assert.Equal(200, (await Client.SendFragmentAsync(Url, id, File.AsMemory(0, 50_000), 0, File.Length, ct: Ct)).StatusCode);
            var final = await WithinBudgetAsync(rangesOnTheFinalFragment, () => Client.SendFragmentAsync(Url, id, File.AsMemory(50_000), 50_000, File.Length, ct: Ct));
            return (id, final);
        }

        /// <summary>A Close-Session that may copy <paramref name="ranges"/> ranges before its budget runs out.</summary>
        public Task<BitsAck> CloseAsync(string id, int ranges) => WithinBudgetAsync(ranges, () => Client.CloseSessionAsync(Url, id, Ct));

        private Task<BitsAck> WithinBudgetAsync(int ranges, Func<Task<BitsAck>> send) =>
            Ranges.Gate.WithinBudgetAsync(ranges, send, Time, CopyBudget, Ct);
    }

    /// <summary>
    /// Passes the storage requests of a server-side copy's ranges (Put Block From URL) through a <see cref="CopyGate"/>,
    /// and records the block ids that were copied.
    /// </summary>
    private sealed class CopyRangeGate : HttpPipelinePolicy
    {
        public CopyGate Gate { get; } = new();

        public ConcurrentQueue<string> Copied { get; } = new();

        public override void Process(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline) =>
            throw new NotSupportedException("The store calls storage asynchronously.");

        public override async ValueTask ProcessAsync(HttpMessage message, ReadOnlyMemory<HttpPipelinePolicy> pipeline)
        {
            var blockId = BlockIdOfPutBlockFromUrl(message.Request);
            if (blockId is not null)
            {
                await Gate.PassAsync(message.CancellationToken);
            }

            await ProcessNextAsync(message, pipeline);
            if (blockId is not null && message.Response.Status == 201)
            {
                Copied.Enqueue(blockId);
            }
        }

        private static string? BlockIdOfPutBlockFromUrl(Request request)
        {
            if (request.Method != RequestMethod.Put || !request.Headers.Contains("x-ms-copy-source"))
            {
                return null;
            }

            var query = request.Uri.Query;
            return query.Contains("comp=block", StringComparison.Ordinal)
                ? query.TrimStart('?').Split('&').FirstOrDefault(p => p.StartsWith("blockid=", StringComparison.Ordinal))
                : null;
        }
    }
}
