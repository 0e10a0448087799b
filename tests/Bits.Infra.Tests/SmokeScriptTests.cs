using Bits.Infra.Tests.Support;

namespace Bits.Infra.Tests;

/// <summary>infra/smoke.sh against a loopback fake BITS server (needs bash and curl, no network).</summary>
public class SmokeScriptTests
{
    private const string FunctionKey = "test-function-key";

    [Fact]
    public async Task Smoke_ConformantServer_PassesAndSendsOneSession()
    {
        await using var server = new FakeBitsServer(FakeBitsBehavior.Conformant);

        var result = await RunSmokeAsync(server.BaseUrl, FunctionKey);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches(@"^smoke test passed: http://127\.0\.0\.1:\d+/uploads/smoke/[0-9a-f]{16}\.bin \(8192 bytes uploaded in 2 fragments\)$", result.StandardOutput.Trim());

        var requests = server.Requests.ToArray();
        Assert.Equal(["Ping", "Create-Session", "Fragment", "Fragment", "Close-Session"], requests.Select(r => r.Header("BITS-Packet-Type")));
        Assert.All(requests, r =>
        {
            Assert.Equal("BITS_POST", r.Method);
            Assert.Equal("HTTP/1.1", r.Version);
            Assert.Equal(FunctionKey, r.Header("x-functions-key"));
            Assert.Equal(requests[0].Target, r.Target);
            Assert.Equal(r.Body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), r.Header("Content-Length"));
        });
        Assert.StartsWith("/uploads/smoke/", requests[0].Target, StringComparison.Ordinal);
        Assert.Equal("{7df0354d-249b-430f-820d-3d2a9bef4931}", requests[1].Header("BITS-Supported-Protocols"));
        Assert.Equal("bytes 0-4095/8192", requests[2].Header("Content-Range"));
        Assert.Equal("bytes 4096-8191/8192", requests[3].Header("Content-Range"));
        Assert.Equal(4096, requests[2].Body.Length);
        Assert.Equal(4096, requests[3].Body.Length);
        Assert.All(requests.Skip(2), r => Assert.Equal(server.SessionId, r.Header("BITS-Session-Id")));
    }

    [Fact]
    public async Task Smoke_WithoutKey_SendsNoKeyHeader()
    {
        await using var server = new FakeBitsServer(FakeBitsBehavior.Conformant);

        var result = await RunSmokeAsync(server.BaseUrl.TrimEnd('/'));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.All(server.Requests, r => Assert.Null(r.Header("x-functions-key")));
        Assert.StartsWith("/uploads/smoke/", server.Requests.First().Target, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Smoke_WithBasicUser_SendsBasicCredentialsWithEveryPacket()
    {
        await using var server = new FakeBitsServer(FakeBitsBehavior.Conformant);

        var result = await RunSmokeAsync([server.BaseUrl], new() { ["SMOKE_USER"] = "alice", ["SMOKE_PASSWORD"] = "pa$$ w:rd" });

        Assert.True(result.ExitCode == 0, result.ToString());
        var expected = "Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("alice:pa$$ w:rd"));
        Assert.Equal(5, server.Requests.Count);
        Assert.All(server.Requests, r => Assert.Equal(expected, r.Header("Authorization")));
    }

    [Fact]
    public async Task Smoke_WithBearerToken_SendsItWithEveryPacket()
    {
        await using var server = new FakeBitsServer(FakeBitsBehavior.Conformant);

        var result = await RunSmokeAsync([server.BaseUrl], new() { ["SMOKE_BEARER_TOKEN"] = "eyJ0eXAi.eyJhdWQi.c2ln" });

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.All(server.Requests, r => Assert.Equal("Bearer eyJ0eXAi.eyJhdWQi.c2ln", r.Header("Authorization")));
    }

    [Fact]
    public async Task Smoke_FrontEndRejectsVerb_ExplainsAndFails()
    {
        await using var server = new FakeBitsServer(FakeBitsBehavior.RejectsVerb);

        var result = await RunSmokeAsync(server.BaseUrl, FunctionKey);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("Ping: the front end rejected the BITS_POST verb (HTTP 405)", result.StandardError, StringComparison.Ordinal);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task Smoke_CreateSessionError_ReportsBitsErrorAndFails()
    {
        await using var server = new FakeBitsServer(FakeBitsBehavior.CreateSessionFails);

        var result = await RunSmokeAsync(server.BaseUrl, FunctionKey);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("Create-Session: the BITS server answered HTTP 500 with BITS-Error-Code 0x80070005 and BITS-Error-Context 0x5", result.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain(server.Requests, r => r.Header("BITS-Packet-Type") == "Fragment");
    }

    [Fact]
    public async Task Smoke_WrongReceivedRange_FailsAndCancelsSession()
    {
        await using var server = new FakeBitsServer(FakeBitsBehavior.MiscountsFragments);

        var result = await RunSmokeAsync(server.BaseUrl, FunctionKey);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("Fragment 1: BITS-Received-Content-Range is '4095', expected 4096", result.StandardError, StringComparison.Ordinal);
        var last = server.Requests.Last();
        Assert.Equal("Cancel-Session", last.Header("BITS-Packet-Type"));
        Assert.Equal(server.SessionId, last.Header("BITS-Session-Id"));
    }

    [Fact]
    public async Task Smoke_WithoutArguments_PrintsUsage()
    {
        var result = await ProcessRunner.RunAsync("bash", [RepoPaths.SmokeScript], TestContext.Current.CancellationToken);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("usage:", result.StandardError, StringComparison.Ordinal);
    }

    private static Task<ProcessResult> RunSmokeAsync(params string[] arguments) => RunSmokeAsync(arguments, []);

    private static Task<ProcessResult> RunSmokeAsync(string[] arguments, Dictionary<string, string?> extra)
    {
        var environment = new Dictionary<string, string?>
        {
            // Loopback only: never route the test through a proxy from the environment.
            ["NO_PROXY"] = "127.0.0.1,localhost",
            ["no_proxy"] = "127.0.0.1,localhost",
            ["SMOKE_INSECURE"] = null,
            ["SMOKE_USER"] = null,
            ["SMOKE_PASSWORD"] = null,
            ["SMOKE_BEARER_TOKEN"] = null,
        };
        foreach (var (name, value) in extra)
        {
            environment[name] = value;
        }

        return ProcessRunner.RunAsync("bash", [RepoPaths.SmokeScript, .. arguments], TestContext.Current.CancellationToken, environment);
    }
}
