using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Bits.Testing;

namespace Bits.Host.Tests.EndToEnd;

/// <summary>
/// Issue 12, point 6 on both hosts: the per-address limits key on the client's own address. Clients are other loopback
/// addresses (127.0.0.2, .3, .4). Behind the Functions host the worker's connection is the host's, yet the address the
/// app sees is the host's peer (the host sets <c>X-Forwarded-For</c> to it, dropping the caller's, and the worker's
/// ASP.NET Core integration applies it); a caller's forged forwarded headers change nothing on either host. 127.0.0.3
/// plays a front end such as Azure Front Door, trusted (<c>Bits:ForwardedHeaders</c>) for <c>X-Azure-ClientIP</c>.
/// </summary>
public class ClientAddressScenarios(AzuriteFixture azurite, EndToEndHosts hosts) : Scenario(azurite, hosts)
{
    private const string FrontEndHeader = "X-Azure-ClientIP";
    private static readonly IPAddress Guesser = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress FrontEnd = IPAddress.Parse("127.0.0.3");
    private static readonly IPAddress Neighbour = IPAddress.Parse("127.0.0.4");

    /// <summary>
    /// One host per kind for this class (the scenarios use different addresses, so they share its counters); skipped
    /// like every Functions-host scenario when the host is not configured.
    /// </summary>
    private static readonly ConcurrentDictionary<HostKind, Lazy<Task<EndToEndHost>>> Limited = new();

    private readonly AzuriteFixture _azurite = azurite;

    private Task<EndToEndHost> LimitedHostAsync(HostKind kind) => Limited.GetOrAdd(kind, k => new Lazy<Task<EndToEndHost>>(() => Hosts.StartDedicatedAsync(k, _azurite, new Dictionary<string, string?>
    {
        ["Bits:RateLimits:Window"] = "01:00:00", // longer than any test
        ["Bits:RateLimits:FailedBasicPerUserAndAddress"] = "0",
        ["Bits:RateLimits:FailedBasicPerAddress"] = "3",
        ["Bits:ForwardedHeaders:KnownProxies:0"] = FrontEnd.ToString(),
        ["Bits:ForwardedHeaders:ForwardedForHeaderName"] = FrontEndHeader,
    }))).Value;

    [Theory]
    [MemberData(nameof(EndToEnd.Hosts.Both), MemberType = typeof(EndToEnd.Hosts))]
    public async Task FailedBasicAttempts_AreCountedPerClientAddress_AndForgedForwardedHeadersDoNotEscapeTheLimit(HostKind kind)
    {
        var host = await LimitedHostAsync(kind);
        using var guesser = host.CreateHttpClientFrom(Guesser);
        using var neighbour = host.CreateHttpClientFrom(Neighbour);
        for (var i = 1; i <= 3; i++)
        {
            using var wrong = await PingAsync(guesser, host, "guess" + i, Forged(i));
            wrong.AssertAck(401);
        }

        // Every attempt claimed another address in every header a proxy might use; none of them counts.
        using var right = await PingAsync(guesser, host, EndToEndHosts.AlicePassword, Forged(4));
        using var other = await PingAsync(neighbour, host, EndToEndHosts.AlicePassword, []);

        RateLimitTests.AssertThrottled(right);
        other.AssertAck(200);
    }

    [Theory]
    [MemberData(nameof(EndToEnd.Hosts.Both), MemberType = typeof(EndToEnd.Hosts))]
    public async Task BehindAConfiguredFrontEnd_TheClientIsTheAddressItForwards(HostKind kind)
    {
        var host = await LimitedHostAsync(kind);
        using var frontEnd = host.CreateHttpClientFrom(FrontEnd);
        for (var i = 1; i <= 3; i++)
        {
            using var wrong = await PingAsync(frontEnd, host, "guess" + i, [(FrontEndHeader, "203.0.113.50")]);
            wrong.AssertAck(401);
        }

        using var sameClient = await PingAsync(frontEnd, host, EndToEndHosts.AlicePassword, [(FrontEndHeader, "203.0.113.50")]);
        using var otherClient = await PingAsync(frontEnd, host, EndToEndHosts.AlicePassword, [(FrontEndHeader, "203.0.113.51")]);

        RateLimitTests.AssertThrottled(sameClient);
        otherClient.AssertAck(200);
    }

    /// <summary>Headers a caller might forge to pass for another client.</summary>
    private static (string Name, string Value)[] Forged(int i) =>
        [("X-Forwarded-For", $"203.0.113.{i}"), (FrontEndHeader, $"198.51.100.{i}"), ("Forwarded", $"for=192.0.2.{i}"), ("X-Real-IP", $"192.0.2.{i}")];

    private static async Task<HttpResponseMessage> PingAsync(HttpClient http, EndToEndHost host, string password, (string Name, string Value)[] headers)
    {
        var request = HttpBits.Packet(host.Url($"secure/{Unique()}.bin"), "Ping");
        request.Headers.TryAddWithoutValidation("Authorization", "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(EndToEndHosts.Alice + ":" + password)));
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return await http.SendAsync(request, Ct);
    }
}
