using System.Text;
using Bits.AspNetCore;
using Bits.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace Bits.Host.Tests;

/// <summary>
/// Issue 12, point 6: per-address throttling (System.Threading.RateLimiting), the client address from trusted proxies
/// only, and the expiry of sessions that never received a Fragment. Kestrel host over HTTP on Azurite.
/// </summary>
public class RateLimitTests(AzuriteFixture azurite)
{
    private static readonly string AliceHash = BitsPasswordHasher.Hash("alice-pw", 1000);
    private static readonly string BobHash = BitsPasswordHasher.Hash("bob-pw", 1000);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Basic(string user, string password) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password));

    private Task<TestHost> StartAsync(Dictionary<string, string?> limits)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Bits:Authentication:AllowBasicOverHttp"] = "true",
            ["Bits:Authentication:BasicUsers:alice"] = AliceHash,
            ["Bits:Authentication:BasicUsers:bob"] = BobHash,
            ["Bits:Areas:basic:PathPrefix"] = "basic",
            ["Bits:Areas:basic:BlobPrefix"] = "basic/",
            ["Bits:Areas:basic:Authentication:AllowAnonymous"] = "false",
            ["Bits:Areas:basic:Authentication:Basic"] = "true",

            // Windows long enough that no test outlives one.
            ["Bits:RateLimits:Window"] = "01:00:00",
        };
        foreach (var (key, value) in limits)
        {
            settings[key] = value;
        }

        return TestHost.StartAsync(StorageNames.Unique(azurite.ConnectionString), settings);
    }

    private static async Task<HttpResponseMessage> PingAsync(HttpClient http, TestHost host, string authorization, string? forwardedFor = null)
    {
        var request = HttpBits.Packet(host.Url("basic/a.bin"), "Ping");
        request.Headers.TryAddWithoutValidation("Authorization", authorization);
        if (forwardedFor is not null)
        {
            request.Headers.Add("X-Forwarded-For", forwardedFor);
        }

        return await http.SendAsync(request, Ct);
    }

    /// <summary>The throttling Ack: 503 + <c>0x801901F7</c> + <c>Retry-After</c> (also used by the end-to-end scenarios).</summary>
    internal static void AssertThrottled(HttpResponseMessage response)
    {
        response.AssertAck(503);
        Assert.Equal("0x801901F7", response.Header("BITS-Error-Code"));
        Assert.True(int.TryParse(response.Header("Retry-After"), out var seconds) && seconds >= 1, response.Header("Retry-After"));
    }

    [Fact]
    public async Task FailedBasicAttempts_PerUserAndAddress_AreThrottled_EvenWithTheRightPasswordAfterwards()
    {
        await using var host = await StartAsync(new() { ["Bits:RateLimits:FailedBasicPerUserAndAddress"] = "3", ["Bits:RateLimits:FailedBasicPerAddress"] = "0" });
        using var http = new HttpClient();
        for (var i = 0; i < 3; i++)
        {
            using var wrong = await PingAsync(http, host, Basic("alice", "guess" + i));
            wrong.AssertAck(401);
        }

        using var right = await PingAsync(http, host, Basic("ALICE", "alice-pw"));
        using var otherUser = await PingAsync(http, host, Basic("bob", "bob-pw"));

        AssertThrottled(right);
        otherUser.AssertAck(200);
    }

    [Fact]
    public async Task FailedBasicAttempts_PerAddress_AreThrottled_WhateverTheUserName()
    {
        await using var host = await StartAsync(new() { ["Bits:RateLimits:FailedBasicPerUserAndAddress"] = "0", ["Bits:RateLimits:FailedBasicPerAddress"] = "3" });
        using var http = new HttpClient();
        foreach (var user in new[] { "carol", "dave", "erin" })
        {
            using var wrong = await PingAsync(http, host, Basic(user, "pw"));
            wrong.AssertAck(401);
        }

        using var right = await PingAsync(http, host, Basic("bob", "bob-pw"));

        AssertThrottled(right);
    }

    [Fact]
    public async Task ForwardedFor_CountsOnlyFromAConfiguredProxy()
    {
        var limits = new Dictionary<string, string?> { ["Bits:RateLimits:FailedBasicPerUserAndAddress"] = "2", ["Bits:RateLimits:FailedBasicPerAddress"] = "0" };
        using var http = new HttpClient();
        await using (var direct = await StartAsync(limits))
        {
            // No proxy configured: X-Forwarded-For is the caller's own claim and changes nothing.
            (await PingAsync(http, direct, Basic("alice", "x"), "203.0.113.7")).AssertAck(401);
            (await PingAsync(http, direct, Basic("alice", "y"), "203.0.113.8")).AssertAck(401);
            AssertThrottled(await PingAsync(http, direct, Basic("alice", "alice-pw"), "203.0.113.9"));
        }

        limits["Bits:ForwardedHeaders:KnownProxies:0"] = "127.0.0.1";
        limits["Bits:ForwardedHeaders:KnownProxies:1"] = "::1";
        await using var proxied = await StartAsync(limits);
        (await PingAsync(http, proxied, Basic("alice", "x"), "203.0.113.7")).AssertAck(401);
        (await PingAsync(http, proxied, Basic("alice", "y"), "203.0.113.7")).AssertAck(401);
        AssertThrottled(await PingAsync(http, proxied, Basic("alice", "alice-pw"), "203.0.113.7"));
        (await PingAsync(http, proxied, Basic("alice", "alice-pw"), "203.0.113.8")).AssertAck(200);
    }

    [Theory]
    [InlineData("Bits:ForwardedHeaders:KnownProxies:0", "gateway", "is not an IP address")]
    [InlineData("Bits:ForwardedHeaders:KnownNetworks:0", "10.0.0.0", "is not a CIDR range")]
    [InlineData("Bits:ForwardedHeaders:ForwardedForHeaderName", "X-Azure ClientIP", "is not a header name")]
    public async Task Startup_RefusesForwardedHeaderSettingsItCannotUse(string key, string value, string message)
    {
        var refused = await Assert.ThrowsAnyAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => StartAsync(new() { [key] = value }));

        Assert.Contains(message, refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnonymousSessions_PerAddress_AreThrottled_ButAuthenticatedOnesAreNot()
    {
        await using var host = await StartAsync(new() { ["Bits:RateLimits:AnonymousSessionsPerAddress"] = "2" });
        using var http = new HttpClient();
        await http.CreateSessionAsync(host.Url("a.bin"));
        await http.CreateSessionAsync(host.Url("b.bin"));

        using var third = await http.SendAsync(HttpBits.Create(host.Url("c.bin")), Ct);
        using var ping = await http.SendAsync(HttpBits.Packet(host.Url("c.bin"), "Ping"), Ct);
        var authenticated = HttpBits.Create(host.Url("basic/c.bin"));
        authenticated.Headers.TryAddWithoutValidation("Authorization", Basic("bob", "bob-pw"));
        using var bob = await http.SendAsync(authenticated, Ct);

        AssertThrottled(third);
        ping.AssertAck(200);
        bob.AssertAck(200);
    }

    [Fact]
    public async Task SessionWithoutAFragment_ExpiresAfterTheUnusedSessionTimeout()
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);

        // Staging blobs carry Azurite's real Last-Modified, so the fake clock starts at the real time.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await TestHost.StartAsync(
            storage,
            new Dictionary<string, string?> { ["Bits:Janitor:Interval"] = "01:00:00", ["Bits:UnusedSessionTimeout"] = "00:30:00" },
            builder => builder.Services.AddSingleton<TimeProvider>(time));
        var janitor = host.Services.GetServices<IHostedService>().OfType<BitsJanitorHostedService>().Single();
        using var http = new HttpClient();
        var file = new byte[2000];
        var unused = await http.CreateSessionAsync(host.Url("unused.bin"));
        var used = await http.CreateSessionAsync(host.Url("used.bin"));
        (await http.SendAsync(HttpBits.Fragment(host.Url("used.bin"), used, file, 0, 1000), Ct)).AssertAck(200);

        var nextRun = janitor.NextRunCompleted;
        time.Advance(TimeSpan.FromHours(1));
        var run = await nextRun.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.Null(run.Error);
        using (var expired = await http.SendAsync(HttpBits.Fragment(host.Url("unused.bin"), unused, file, 0, 1000), Ct))
        {
            expired.AssertAck(500);
            Assert.Equal("0x8020001F", expired.Header("BITS-Error-Code"));
        }

        using var alive = await http.SendAsync(HttpBits.Fragment(host.Url("used.bin"), used, file, 1000, 1000), Ct);
        alive.AssertAck(200);
    }
}
