using Bits.Client;
using Bits.Testing;

namespace Bits.Cli.Tests;

/// <summary><c>bits ping</c>, <c>bits cancel</c>, <c>bits status</c> and usage errors.</summary>
public sealed class SessionCommandTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Ping_PrintsTheAckAndTheRoundTripTime()
    {
        await using var host = await CliHost.StartAsync(azurite);

        var run = await Cli.RunAsync(["ping", host.Url("any/file.bin").AbsoluteUri, "--count", "2"]);
        var json = await Cli.RunAsync(["ping", host.Url("any/file.bin").AbsoluteUri, "--json"]);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Matches(@"Ack from http://127\.0\.0\.1:\d+/uploads/any/file\.bin: HTTP 200 OK in \d+\.\d ms", run.Stdout);
        Assert.Equal(2, run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal(0, json.ExitCode);
        Assert.True((bool)json.Json["ack"]!);
        Assert.Single(json.Json["milliseconds"]!.AsArray());
    }

    [Fact]
    public async Task Ping_OutsideTheEndpoint_Exit2_SaysItIsNotABitsUrl()
    {
        await using var host = await CliHost.StartAsync(azurite);

        var run = await Cli.RunAsync(["ping", new Uri(host.UploadBase, "/elsewhere/x").AbsoluteUri]);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("HTTP 404", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("not a BITS upload endpoint", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ping_NobodyListening_Exit3()
    {
        var run = await Cli.RunAsync(["ping", "http://127.0.0.1:9/uploads/x.bin"]);

        Assert.Equal(3, run.ExitCode);
        Assert.Contains("could not be reached", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancel_BySessionId_TheServerForgetsTheSession()
    {
        await using var host = await CliHost.StartAsync(azurite);
        using var http = new HttpClient();
        var client = new BitsUploadClient(http);
        var url = host.Url("cancel/a.bin");
        var sessionId = (await client.CreateSessionAsync(url, ct: Ct)).SessionId!;

        var run = await Cli.RunAsync(["cancel", url.AbsoluteUri, "--session", sessionId]);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains($"Session {sessionId} cancelled", run.Stdout, StringComparison.Ordinal);
        var after = await client.SendFragmentAsync(url, sessionId, new byte[10], 0, 10, ct: Ct);
        Assert.Equal(BitsErrorCodes.BG_E_SESSION_NOT_FOUND, after.ErrorCode);
        Assert.Equal(0, await host.SessionRowCountAsync());
    }

    [Fact]
    public async Task Cancel_FromTheStateFile_RemovesIt_AndAnUnknownSessionIsExit2()
    {
        await using var host = await CliHost.StartAsync(azurite);
        using var folder = new TempFolder();
        var path = folder.File("s.bin");
        folder.WriteRandom("s.bin", 20_000, seed: 20);
        using var http = new HttpClient();
        var client = new BitsUploadClient(http);
        var url = host.Url("cancel/s.bin");
        var sessionId = (await client.CreateSessionAsync(url, ct: Ct)).SessionId!;
        var statePath = path + ".bits-state.json";
        UploadTests.WriteState(statePath, url, sessionId, path);

        var run = await Cli.RunAsync(["cancel", "--state", statePath]);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.False(File.Exists(statePath));
        Assert.Equal(0, await host.SessionRowCountAsync());

        var unknown = await Cli.RunAsync(["cancel", url.AbsoluteUri, "--session", "{5A1E55E5-0000-4000-8000-000000000000}"]);
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("BG_E_SESSION_NOT_FOUND", unknown.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_WithoutAStateFile_SaysSo()
    {
        using var folder = new TempFolder();
        folder.WriteRandom("n.bin", 10, seed: 21);

        var run = await Cli.RunAsync(["status", folder.File("n.bin")]);

        Assert.Equal(0, run.ExitCode);
        Assert.Contains("No interrupted upload", run.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("upload|{file}|http://127.0.0.1:9/uploads/x.bin|--fragment|12XB", "is not a size")]
    [InlineData("upload|{file}|http://127.0.0.1:9/uploads/x.bin|--min-fragment|2MiB|--max-fragment|1MiB", "larger than --max-fragment")]
    [InlineData("upload|{file}|ftp://example/x.bin", "is not an http:// or https:// URL")]
    [InlineData("upload|{missing}|http://127.0.0.1:9/uploads/x.bin", "does not exist")]
    [InlineData("upload|{file}|http://127.0.0.1:9/uploads/x.bin|--header|no-colon", "is not a header")]
    [InlineData("upload|{file}|http://127.0.0.1:9/uploads/x.bin|--retry-delay|soon", "is not a duration")]
    [InlineData("cancel|http://127.0.0.1:9/uploads/x.bin", "--session")]
    [InlineData("frobnicate", "frobnicate")]
    public async Task UsageErrors_Exit1_WithAMessage(string args, string message)
    {
        using var folder = new TempFolder();
        folder.WriteRandom("f.bin", 10, seed: 22);
        var argv = args.Replace("{file}", folder.File("f.bin"), StringComparison.Ordinal)
            .Replace("{missing}", folder.File("missing.bin"), StringComparison.Ordinal)
            .Split('|');

        var run = await Cli.RunAsync(argv);

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains(message, run.Stderr, StringComparison.Ordinal);
    }
}
