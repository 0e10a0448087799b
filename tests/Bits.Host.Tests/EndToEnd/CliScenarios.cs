using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using Bits.Testing;

namespace Bits.Host.Tests.EndToEnd;

/// <summary>The <c>bits</c> CLI (built with the solution, run as a process) against both hosts.</summary>
public class CliScenarios(AzuriteFixture azurite, EndToEndHosts hosts) : Scenario(azurite, hosts)
{
    private static readonly string CliDll = Path.Combine(
        RepositoryRoot.Find(), "src", "Bits.Cli", "bin", Path.GetFileName(Path.GetDirectoryName(FunctionsApp.OutputDirectory))!, Path.GetFileName(FunctionsApp.OutputDirectory), "Bits.Cli.dll");

    [Theory]
    [MemberData(nameof(EndToEnd.Hosts.Both), MemberType = typeof(EndToEnd.Hosts))]
    public async Task Cli_PingAndUpload_WithTheKeyAsAHeader(HostKind kind)
    {
        var host = await HostAsync(kind);
        var folder = Directory.CreateTempSubdirectory("bits-cli-e2e-").FullName;
        try
        {
            var file = SeededStream.Bytes(700_000, 11);
            var path = Path.Combine(folder, "report.bin");
            await File.WriteAllBytesAsync(path, file, Ct);
            var n = Unique();
            var keyArgs = host.KeyHeaders.SelectMany(h => new[] { "-H", $"{h.Name}: {h.Value}" }).ToArray();

            var ping = await RunAsync(["ping", host.Url("cli/ping.bin").AbsoluteUri, "--json", .. keyArgs]);
            var upload = await RunAsync(["upload", path, host.Url($"cli/{n}/report.bin").AbsoluteUri, "--fragment", "64KiB", "--json", .. keyArgs]);

            Assert.True(ping.ExitCode == 0, ping.ToString());
            Assert.True(upload.ExitCode == 0, upload.ToString());
            var json = upload.Json;
            Assert.True((bool)json["ok"]!);
            Assert.Equal(700_000, (long)json["bytes"]!);
            Assert.Equal(11, (int)json["fragments"]!);
            Assert.Equal(file, await host.Storage.ReadPublishedAsync($"cli/{n}/report.bin"));
            await AssertNothingLeftAsync(host, (string)json["sessionId"]!);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public async Task Cli_WithoutTheKey_ReportsTheFunctionsHosts401()
    {
        var host = await HostAsync(HostKind.Functions);

        var ping = await RunAsync(["ping", host.Url("cli/ping.bin").AbsoluteUri]);

        Assert.NotEqual(0, ping.ExitCode);
        Assert.Contains("401", ping.Stdout + ping.Stderr, StringComparison.Ordinal);
    }

    private static async Task<Result> RunAsync(string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            WorkingDirectory = Path.GetTempPath(),
        };
        info.ArgumentList.Add(CliDll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment.Remove("BITS_PASSWORD");
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start.");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return new Result(process.ExitCode, await stdout, await stderr);
    }

    private sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public JsonObject Json => JsonNode.Parse(Stdout.TrimEnd().Split('\n')[^1])!.AsObject();

        public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
    }
}
