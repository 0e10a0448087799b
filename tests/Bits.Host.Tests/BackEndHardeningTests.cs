using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
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

namespace Bits.Host.Tests;

/// <summary>
/// Issue 12, points 3, 4 and 7-10, over HTTP with Azurite: the URLs sent to a back-end come from
/// <c>Bits:PublicBaseUrl</c> (or the listening address), never from <c>Host</c>; the function key never travels on;
/// a malicious or broken back-end (bad static URL, huge reply, redirects, non-200 success codes) is a relayed back-end
/// failure; the by-reference SAS lives no longer than the notification timeout.
/// </summary>
public sealed class BackEndHardeningTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private const string FunctionKey = "K3y-0f-the-Funct10n-h0st";

    private readonly ConcurrentQueue<(string Path, string? Original, string? Query, string? ResponseSas)> _calls = new();
    private readonly ConcurrentQueue<string> _attackerHits = new();
    private readonly HttpClient _backEndHttp = new();
    private WebApplication? _backEnd;
    private WebApplication? _attacker;
    private Uri _backEndRoot = null!;
    private Uri _attackerRoot = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        (_backEnd, _backEndRoot) = await StartLoopbackAsync(app =>
        {
            // A relative NotificationUrl "notify" next to uploads under /uploads/reply/.
            app.MapPost("/uploads/reply/notify", async (HttpContext context) =>
            {
                Record(context);
                await context.Response.WriteAsync("ok");
            });
            app.MapPost("/backend/value", async (HttpContext context) =>
            {
                await context.Request.Body.CopyToAsync(Stream.Null);
                Record(context);
                if (context.Request.Query.ContainsKey("copy"))
                {
                    context.Response.Headers["BITS-Copy-File-To-Destination"] = "1";
                }

                await context.Response.WriteAsync("reply");
            });
            app.MapPost("/backend/non-ascii-static", (HttpContext context) =>
            {
                Record(context);
                context.Response.Headers["BITS-Static-Response-URL"] = "https://replies.example/r\u00E9ponse/\u202E42";
                return Results.Ok();
            });
            app.MapPost("/backend/big", async (HttpContext context) =>
            {
                Record(context);
                for (var i = 0; i < 10; i++)
                {
                    // Chunked, no Content-Length: the cap must hold while reading.
                    await context.Response.Body.WriteAsync(new byte[500]);
                    await context.Response.Body.FlushAsync();
                }
            });
            app.MapPost("/backend/redirect", (HttpContext context) =>
            {
                Record(context);
                context.Response.StatusCode = 307;
                context.Response.Headers.Location = "/backend/value";
                return Task.CompletedTask;
            });
            app.MapPost("/backend/status", (HttpContext context) =>
            {
                Record(context);
                context.Response.StatusCode = int.Parse(context.Request.Query["status"].ToString(), CultureInfo.InvariantCulture);
                return Task.CompletedTask;
            });
            app.MapPost("/backend/reference", async (HttpContext context) =>
            {
                Record(context);
                var size = int.Parse(context.Request.Query["size"].ToString(), CultureInfo.InvariantCulture);
                var sas = context.Request.Headers["BITS-Response-DataFile-Name"].ToString();
                using var put = new HttpRequestMessage(HttpMethod.Put, context.Request.Query.ContainsKey("uncommitted") ? sas + "&comp=block&blockid=" + Uri.EscapeDataString(Convert.ToBase64String(new byte[16])) : sas)
                {
                    Content = new ByteArrayContent(new byte[size]),
                };
                put.Headers.Add("x-ms-blob-type", "BlockBlob");
                (await _backEndHttp.SendAsync(put)).EnsureSuccessStatusCode();
            });
        });

        (_attacker, _attackerRoot) = await StartLoopbackAsync(app => app.MapFallback((HttpContext context) =>
        {
            _attackerHits.Enqueue(context.Request.Method + " " + context.Request.Path + context.Request.QueryString);
            return Results.Ok();
        }));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var app in new[] { _backEnd, _attacker })
        {
            if (app is not null)
            {
                await app.DisposeAsync();
            }
        }

        _backEndHttp.Dispose();
    }

    private static async Task<(WebApplication App, Uri Root)> StartLoopbackAsync(Action<WebApplication> map)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ResponseHeaderEncodingSelector = _ => Encoding.UTF8);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        map(app);
        await app.StartAsync(Ct);
        var root = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/");
        return (app, root);
    }

    private void Record(HttpContext context) => _calls.Enqueue((
        context.Request.Path,
        context.Request.Headers["BITS-Original-Request-URL"].ToString(),
        context.Request.QueryString.Value,
        context.Request.Headers["BITS-Response-DataFile-Name"].ToString()));

    private async Task<(TestHost Host, StorageNames Storage)> StartAsync(string type, string notificationUrl, IDictionary<string, string?>? extra = null, Action<WebApplicationBuilder>? configure = null)
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        var settings = new Dictionary<string, string?>
        {
            ["Bits:Areas:reply:PathPrefix"] = "reply",
            ["Bits:Areas:reply:BlobPrefix"] = "reply/", // exact shadowing of the default area
            ["Bits:Areas:reply:NotificationType"] = type,
            ["Bits:Areas:reply:NotificationUrl"] = notificationUrl,
        };
        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return (await TestHost.StartAsync(storage, settings, configure), storage);
    }

    private static async Task<(string Id, BitsAck Final)> UploadAsync(BitsUploadClient client, Uri url, byte[] file)
    {
        var id = (await client.CreateSessionAsync(url, ct: Ct)).SessionId!;
        var final = await client.SendFragmentAsync(url, id, file, 0, file.Length, ct: Ct);
        return (id, final);
    }

    private static void AssertBackEndFailure(BitsAck ack, int status, uint code)
    {
        Assert.Equal(status, ack.StatusCode);
        Assert.Equal(code, ack.ErrorCode);
        Assert.Equal(7, ack.ErrorContext);
        Assert.Null(ack.ReplyUrl);
    }

    [Fact]
    public async Task RelativeNotificationUrl_IsResolvedAgainstPublicBaseUrl_NeverAgainstTheHostHeader()
    {
        var (host, _) = await StartAsync("ByValue", "notify", new Dictionary<string, string?> { ["Bits:PublicBaseUrl"] = _backEndRoot.AbsoluteUri });
        await using var _ = host;
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Host = _attackerRoot.Authority; // a port the caller chose
        var url = host.Url("reply/x.bin?acct=42");

        var (_, final) = await UploadAsync(new BitsUploadClient(http), url, new byte[100]);

        Assert.True(final.StatusCode == 200, final.ToString());
        Assert.Empty(_attackerHits);
        var call = Assert.Single(_calls);
        Assert.Equal("/uploads/reply/notify", call.Path);
        Assert.Equal(new Uri(_backEndRoot, "uploads/reply/x.bin?acct=42").AbsoluteUri, call.Original);
        Assert.StartsWith(_backEndRoot.AbsoluteUri + "uploads/reply/x.bin?acct=42&bits-reply=", final.ReplyUrl, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithoutPublicBaseUrl_OriginalRequestUrl_IsTheListeningAddress_NotTheHostHeader()
    {
        var (host, _) = await StartAsync("ByValue", new Uri(_backEndRoot, "backend/value").AbsoluteUri);
        await using var _ = host;
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Host = _attackerRoot.Authority;

        var (_, final) = await UploadAsync(new BitsUploadClient(http), host.Url("reply/y.bin"), new byte[100]);

        Assert.True(final.StatusCode == 200, final.ToString());
        Assert.Equal(host.Url("reply/y.bin").AbsoluteUri, Assert.Single(_calls).Original);
        Assert.Empty(_attackerHits);
    }

    [Fact]
    public async Task WithoutPublicBaseUrl_ReplyUrlScheme_FollowsXForwardedProto_OnlyFromAConfiguredProxy()
    {
        var (anyone, _) = await StartAsync("ByValue", new Uri(_backEndRoot, "backend/value").AbsoluteUri);
        await using var _ = anyone;
        var (proxied, _) = await StartAsync("ByValue", new Uri(_backEndRoot, "backend/value").AbsoluteUri, new Dictionary<string, string?> { ["Bits:ForwardedHeaders:KnownProxies:0"] = "127.0.0.1" });
        await using var __ = proxied;
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Add("X-Forwarded-Proto", "https");

        var (_, fromAnyone) = await UploadAsync(new BitsUploadClient(http), anyone.Url("reply/p.bin"), new byte[100]);
        var (_, throughProxy) = await UploadAsync(new BitsUploadClient(http), proxied.Url("reply/p.bin"), new byte[100]);

        Assert.True(fromAnyone.StatusCode == 200, fromAnyone.ToString());
        Assert.True(throughProxy.StatusCode == 200, throughProxy.ToString());
        Assert.StartsWith("http://", fromAnyone.ReplyUrl, StringComparison.Ordinal);
        Assert.StartsWith("https://", throughProxy.ReplyUrl, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RelativeNotificationUrl_WithoutPublicBaseUrl_FailsAtStartUp()
    {
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => StartAsync("ByValue", "notify.aspx"));

        Assert.Contains("Bits:PublicBaseUrl", failure.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReplyUrlOverTheClientLimit_IsRefusedAtCreateSession()
    {
        var (host, storage) = await StartAsync("ByValue", new Uri(_backEndRoot, "backend/value").AbsoluteUri);
        await using var _ = host;
        using var http = new HttpClient();
        var client = new BitsUploadClient(http);
        var longQuery = "?pad=" + new string('p', 2200 - host.Url("reply/z.bin").AbsoluteUri.Length - 5);

        var refused = await client.CreateSessionAsync(new Uri(host.Url("reply/z.bin") + longQuery), ct: Ct);

        Assert.Equal(400, refused.StatusCode);
        Assert.Equal(0x80070057u, refused.ErrorCode);
        Assert.Equal(0, await storage.SessionRowCountAsync());
        Assert.Equal(200, (await client.CreateSessionAsync(new Uri(host.Url("reply/z.bin") + longQuery[..^50]), ct: Ct)).StatusCode);
    }

    [Fact]
    public async Task FunctionKey_NeverReachesTheBackEnd_LogsOrMetadata_ButStaysInTheReplyUrl()
    {
        var lines = new ConcurrentQueue<string>();
        var (host, storage) = await StartAsync(
            "ByValue",
            new Uri(_backEndRoot, "backend/value?copy=1").AbsoluteUri,
            new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Trace", ["Logging:LogLevel:Bits"] = "Trace" },
            builder => builder.Logging.AddProvider(new LogCapture(lines)));
        await using var _ = host;
        using var http = new HttpClient();
        var client = new BitsUploadClient(http);
        var url = new Uri(host.Url("reply/k.bin") + "?code=" + FunctionKey + "&acct=42");

        var (id, final) = await UploadAsync(client, url, new byte[100]);
        using var reply = await http.GetAsync(new Uri(final.ReplyUrl!), Ct);
        var close = await client.CloseSessionAsync(url, id, Ct);

        Assert.True(final.StatusCode == 200, final.ToString());
        var call = Assert.Single(_calls);
        Assert.Equal("?copy=1&acct=42", call.Query);
        Assert.Equal(host.Url("reply/k.bin").AbsoluteUri + "?acct=42", call.Original);
        Assert.Contains("code=" + FunctionKey, final.ReplyUrl, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, reply.StatusCode);
        Assert.Equal("reply", await reply.Content.ReadAsStringAsync(Ct));
        Assert.Equal(200, close.StatusCode);
        var properties = await storage.Uploads.GetBlobClient("reply/k.bin").GetPropertiesAsync(cancellationToken: Ct);
        Assert.DoesNotContain(properties.Value.Metadata, m => m.Value.Contains(FunctionKey, StringComparison.Ordinal));
        Assert.NotEmpty(lines);
        Assert.DoesNotContain(lines, l => l.Contains(FunctionKey, StringComparison.Ordinal));
    }

    [Fact]
    public async Task NonAsciiStaticResponseUrl_IsABackEndFailure_AndTheRetryNotifiesAgain()
    {
        var (host, _) = await StartAsync("ByValue", new Uri(_backEndRoot, "backend/non-ascii-static").AbsoluteUri);
        await using var _ = host;
        using var http = new HttpClient();
        var client = new BitsUploadClient(http);
        var url = host.Url("reply/static.bin");
        var file = new byte[100];

        var (id, final) = await UploadAsync(client, url, file);
        var retry = await client.SendFragmentAsync(url, id, file, 0, file.Length, ct: Ct);

        AssertBackEndFailure(final, 500, 0x801901F4);
        AssertBackEndFailure(retry, 500, 0x801901F4);
        Assert.Equal(2, _calls.Count);
    }

    [Theory]
    [InlineData("ByValue", "backend/big")]
    [InlineData("ByReference", "backend/reference?size=5000")]
    public async Task ReplyOverMaxReplyBytes_IsABackEndFailure(string type, string backEnd)
    {
        var (host, _) = await StartAsync(type, new Uri(_backEndRoot, backEnd).AbsoluteUri, new Dictionary<string, string?> { ["Bits:MaxReplyBytes"] = "1000" });
        await using var _ = host;
        using var http = new HttpClient();

        var (_, final) = await UploadAsync(new BitsUploadClient(http), host.Url("reply/big.bin"), new byte[100]);

        AssertBackEndFailure(final, 500, 0x801901F4);
    }

    [Theory]
    [InlineData("backend/redirect", 500, 0x80190133u)]
    [InlineData("backend/status?status=204", 500, 0x801900CCu)]
    [InlineData("backend/status?status=201", 500, 0x801900C9u)]
    [InlineData("backend/status?status=301", 500, 0x8019012Du)]
    public async Task RedirectsAreNotFollowed_AndOnly200IsSuccess(string backEnd, int status, uint code)
    {
        var (host, _) = await StartAsync("ByValue", new Uri(_backEndRoot, backEnd).AbsoluteUri);
        await using var _ = host;
        using var http = new HttpClient();

        var (_, final) = await UploadAsync(new BitsUploadClient(http), host.Url("reply/moved.bin"), new byte[100]);

        AssertBackEndFailure(final, status, code);
        Assert.DoesNotContain(_calls, c => c.Path == "/backend/value");
    }

    [Fact]
    public async Task ByReferenceWriteSas_ExpiresWithTheNotificationTimeout()
    {
        var (host, _) = await StartAsync("ByReference", new Uri(_backEndRoot, "backend/reference?size=10").AbsoluteUri, new Dictionary<string, string?>
        {
            ["Bits:Areas:reply:NotificationTimeout"] = "00:00:30",
        });
        await using var _ = host;
        using var http = new HttpClient();

        var (_, final) = await UploadAsync(new BitsUploadClient(http), host.Url("reply/sas.bin"), new byte[100]);

        Assert.True(final.StatusCode == 200, final.ToString());
        var sas = new Uri(Assert.Single(_calls).ResponseSas!);
        var expiry = System.Web.HttpUtility.ParseQueryString(sas.Query)["se"];
        var expiresOn = DateTimeOffset.Parse(expiry!, CultureInfo.InvariantCulture);
        Assert.True(expiresOn <= DateTimeOffset.UtcNow + TimeSpan.FromSeconds(30) + TimeSpan.FromMinutes(1), $"write SAS valid until {expiresOn:O}");
    }

    [Fact]
    public async Task UncommittedReplyBlob_IsDeletedAtClose()
    {
        var (host, storage) = await StartAsync("ByReference", new Uri(_backEndRoot, "backend/reference?size=10&uncommitted=1").AbsoluteUri);
        await using var _ = host;
        using var http = new HttpClient();
        var client = new BitsUploadClient(http);
        var url = host.Url("reply/uncommitted.bin");

        var (id, final) = await UploadAsync(client, url, new byte[100]);
        var close = await client.CloseSessionAsync(url, id, Ct);

        Assert.True(final.StatusCode == 200, final.ToString());
        Assert.Equal(200, close.StatusCode);
        var left = new List<string>();
        await foreach (var blob in storage.Staging.GetBlobsAsync(new GetBlobsOptions { States = BlobStates.Uncommitted }, Ct))
        {
            left.Add(blob.Name);
        }

        Assert.Empty(left);
    }
}
