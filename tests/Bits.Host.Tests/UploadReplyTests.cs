using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Bits.Client;
using Bits.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

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

    private async Task<(TestHost Host, StorageNames Storage)> StartAsync(string type, string backEndPath)
    {
        var storage = StorageNames.Unique(azurite);
        var host = await TestHost.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Bits:Areas:reply:PathPrefix"] = "reply",
            ["Bits:Areas:reply:BlobPrefix"] = "reply/",
            ["Bits:Areas:reply:NotificationType"] = type,
            ["Bits:Areas:reply:NotificationUrl"] = new Uri(_backEndRoot, backEndPath).AbsoluteUri,
            ["BitsStorage:SegmentBytes"] = "65536",
        });
        return (host, storage);
    }

    private static byte[] RandomFile(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
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
        var file = RandomFile(60_000, 4);
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

        var (_, final) = await UploadAllAsync(new BitsUploadClient(http), host.Url("reply/static.bin"), RandomFile(1000, 5));

        Assert.Equal(200, final.StatusCode);
        Assert.Equal("https://replies.example/static/42", final.ReplyUrl);
    }

    [Fact]
    public async Task ReplyUrl_OfAnotherSessionOrPath_Is404()
    {
        var (host, _) = await StartAsync("ByValue", "backend/value");
        await using var __ = host;
        using var http = new HttpClient();
        var (_, final) = await UploadAllAsync(new BitsUploadClient(http), host.Url("reply/mine.bin"), RandomFile(1000, 6));
        var replyUrl = new Uri(final.ReplyUrl!);

        using var otherPath = await http.GetAsync(new Uri(host.Url("reply/other.bin") + replyUrl.Query), Ct);
        using var otherId = await http.GetAsync(new Uri(host.Url("reply/mine.bin") + "?bits-reply=" + Guid.NewGuid().ToString("N")), Ct);

        Assert.Equal(HttpStatusCode.NotFound, otherPath.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, otherId.StatusCode);
    }
}
