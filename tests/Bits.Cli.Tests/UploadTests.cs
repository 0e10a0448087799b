using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Bits.Client;
using Bits.Testing;

namespace Bits.Cli.Tests;

/// <summary><c>bits upload</c> against the Kestrel host on Azurite: whole uploads, refusals, resume from a state file.</summary>
public sealed class UploadTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Upload_PublishesTheFileByteForByte_AndRemovesTheStateFile()
    {
        await using var host = await CliHost.StartAsync(azurite);
        using var folder = new TempFolder();
        var file = folder.WriteRandom("report.bin", 700_000, seed: 1);

        var run = await Cli.RunAsync(["upload", folder.File("report.bin"), host.Url("reports/report.bin").AbsoluteUri, "--fragment", "64KiB", "--json"]);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(file, await host.ReadPublishedAsync("reports/report.bin"));
        var json = run.Json;
        Assert.True((bool)json["ok"]!);
        Assert.Equal(700_000, (long)json["bytes"]!);
        Assert.Equal(11, (int)json["fragments"]!);
        Assert.False((bool)json["resumed"]!);
        Assert.StartsWith("{", (string)json["sessionId"]!, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(folder.Path, "*.bits-state.json"));
        Assert.Equal(0, await host.SessionRowCountAsync());
    }

    [Fact]
    public async Task Upload_PlainOutput_SaysWhatHappened()
    {
        await using var host = await CliHost.StartAsync(azurite);
        using var folder = new TempFolder();
        folder.WriteRandom("a.bin", 300_000, seed: 2);

        var run = await Cli.RunAsync(["upload", folder.File("a.bin"), host.Url("a.bin").AbsoluteUri, "--fragment", "100KB"]);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("Uploading a.bin (293.0 KiB)", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("Uploaded 293.0 KiB in 3 fragments", run.Stdout, StringComparison.Ordinal);
        Assert.Empty(run.Stderr);
    }

    [Fact]
    public async Task ExistingDestination_Exit2_WithTheErrorNameAndAHint()
    {
        await using var host = await CliHost.StartAsync(azurite);
        using var folder = new TempFolder();
        folder.WriteRandom("dup.bin", 1000, seed: 3);
        var url = host.Url("dup.bin").AbsoluteUri;
        Assert.Equal(0, (await Cli.RunAsync(["upload", folder.File("dup.bin"), url, "--quiet"])).ExitCode);

        var again = await Cli.RunAsync(["upload", folder.File("dup.bin"), url]);
        var json = await Cli.RunAsync(["upload", folder.File("dup.bin"), url, "--json"]);

        Assert.Equal(ExitCodeServerRefused, again.ExitCode);
        Assert.Contains("E_ACCESSDENIED", again.Stderr, StringComparison.Ordinal);
        Assert.Contains("HTTP 403", again.Stderr, StringComparison.Ordinal);
        Assert.Contains("already exists", again.Stderr, StringComparison.Ordinal);
        Assert.Equal(ExitCodeServerRefused, json.ExitCode);
        var error = json.Json["error"]!;
        Assert.Equal("E_ACCESSDENIED", (string)error["errorName"]!);
        Assert.Equal("0x80070005", (string)error["errorCode"]!);
        Assert.Equal(403, (int)error["httpStatus"]!);
        Assert.Equal("Create-Session", (string)error["packet"]!);
        Assert.Empty(Directory.GetFiles(folder.Path, "*.bits-state.json"));
    }

    [Fact]
    public async Task InterruptedUpload_ResumesTheSessionFromItsStateFile()
    {
        await using var host = await CliHost.StartAsync(azurite);
        using var folder = new TempFolder();
        var path = folder.File("big.bin");
        var file = folder.WriteRandom("big.bin", 2_600_000, seed: 4);
        var url = host.Url("resume/big.bin");

        // An earlier run: created the session and sent the first 1,000,000 bytes, then stopped.
        using var http = new HttpClient();
        var client = new BitsUploadClient(http);
        var sessionId = (await client.CreateSessionAsync(url, ct: Ct)).SessionId!;
        Assert.Equal(200, (await client.SendFragmentAsync(url, sessionId, file.AsMemory(0, 1_000_000), 0, file.Length, ct: Ct)).StatusCode);
        WriteState(path + ".bits-state.json", url, sessionId, path);

        var run = await Cli.RunAsync(["upload", path, url.AbsoluteUri, "--json"]);

        Assert.True(run.ExitCode == 0, run.ToString());
        var json = run.Json;
        Assert.Equal(sessionId, (string)json["sessionId"]!);
        Assert.True((bool)json["resumed"]!);
        Assert.Equal(file, await host.ReadPublishedAsync("resume/big.bin"));
        Assert.False(File.Exists(path + ".bits-state.json"));
    }

    [Fact]
    public async Task StateFileOfAChangedSource_StartsOver_AndCancelsTheOldSession()
    {
        await using var host = await CliHost.StartAsync(azurite);
        using var folder = new TempFolder();
        var path = folder.File("c.bin");
        var file = folder.WriteRandom("c.bin", 50_000, seed: 5);
        var url = host.Url("changed/c.bin");
        using var http = new HttpClient();
        var client = new BitsUploadClient(http);
        var oldSession = (await client.CreateSessionAsync(url, ct: Ct)).SessionId!;
        WriteState(path + ".bits-state.json", url, oldSession, path, hash: new string('0', 64));

        var run = await Cli.RunAsync(["upload", path, url.AbsoluteUri]);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("changed since the interrupted upload", run.Stdout, StringComparison.Ordinal);
        var closed = System.Text.RegularExpressions.Regex.Match(run.Stdout, @"session (\{[0-9A-Fa-f-]+\}) closed");
        Assert.True(closed.Success, run.ToString());
        Assert.NotEqual(oldSession, closed.Groups[1].Value);
        Assert.Equal(file, await host.ReadPublishedAsync("changed/c.bin"));
        var stale = await client.SendFragmentAsync(url, oldSession, file.AsMemory(0, 10), 0, file.Length, ct: Ct);
        Assert.Equal(BitsErrorCodes.BG_E_SESSION_NOT_FOUND, stale.ErrorCode);
    }

    [Fact]
    public async Task CtrlC_LeavesTheStateFile_AndTheNextRunResumes()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "Sends SIGINT with kill(1).");
        await using var host = await CliHost.StartAsync(azurite);
        using var folder = new TempFolder();
        var path = folder.File("slow.bin");
        var file = folder.WriteRandom("slow.bin", 6_000_000, seed: 6);
        var url = host.Url("ctrlc/slow.bin").AbsoluteUri;
        var statePath = path + ".bits-state.json";

        // Small fragments make the first run slow enough to interrupt once its session is recorded and bytes are in.
        using (var process = Cli.Start(["upload", path, url, "--fragment", "8KiB"]))
        {
            process.StandardInput.Close();
            var stderr = process.StandardError.ReadToEndAsync(Ct);
            // The first progress line ("10%") is printed once that much is acknowledged, after the state file was written.
            var (progressed, before) = await Cli.ReadUntilAsync(process.StandardOutput, line => line.TrimStart().StartsWith("10%", StringComparison.Ordinal));
            Assert.True(progressed, "no progress line before the upload ended:\n" + before);
            var stdout = RestAsync(before, process.StandardOutput.ReadToEndAsync(Ct));
            Assert.True(File.Exists(statePath), "the state file was not written");
            using (var kill = System.Diagnostics.Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync(Ct);
            }

            var interrupted = await Cli.WaitAsync(process, stdout, stderr);
            Assert.True(interrupted.ExitCode == 130, interrupted.ToString());
            Assert.Contains("cancelled", interrupted.Stderr, StringComparison.Ordinal);
            Assert.Contains("run the same command again to resume", interrupted.Stderr, StringComparison.Ordinal);
        }

        var state = JsonNode.Parse(await File.ReadAllTextAsync(statePath, Ct))!;
        var sessionId = (string)state["sessionId"]!;
        Assert.InRange((long)state["bytesAcknowledged"]!, 1, file.Length - 1);

        var status = await Cli.RunAsync(["status", path]);
        Assert.Equal(0, status.ExitCode);
        Assert.Contains(sessionId, status.Stdout, StringComparison.Ordinal);
        Assert.Contains("unchanged", status.Stdout, StringComparison.Ordinal);

        var resumed = await Cli.RunAsync(["upload", path, url]);

        Assert.True(resumed.ExitCode == 0, resumed.ToString());
        Assert.Contains($"Resuming session {sessionId}", resumed.Stdout, StringComparison.Ordinal);
        Assert.Equal(file, await host.ReadPublishedAsync("ctrlc/slow.bin"));
        Assert.False(File.Exists(statePath));
    }

    private const int ExitCodeServerRefused = 2;

    private static async Task<string> RestAsync(string head, Task<string> rest) => head + await rest;

    /// <summary>Writes a state file as the CLI documents it: SHA-256 over the first and the last MiB.</summary>
    internal static void WriteState(string statePath, Uri url, string sessionId, string file, string? hash = null)
    {
        var bytes = File.ReadAllBytes(file);
        var edge = Math.Min(bytes.Length, 1024 * 1024);
        hash ??= Convert.ToHexStringLower(SHA256.HashData([.. bytes.AsSpan(0, edge), .. bytes.AsSpan(bytes.Length - edge)]));
        var state = new JsonObject
        {
            ["version"] = 1,
            ["url"] = url.AbsoluteUri,
            ["sessionId"] = sessionId,
            ["file"] = file,
            ["size"] = bytes.Length,
            ["lastWriteTimeUtc"] = File.GetLastWriteTimeUtc(file),
            ["sha256FirstLastMiB"] = hash,
        };
        File.WriteAllText(statePath, state.ToJsonString());
    }
}
