using System.Diagnostics;
using Bits.Testing;

namespace Bits.Host.Tests;

/// <summary>infra/smoke.sh, the post-deploy check, run against the local host so it never rots.</summary>
public class SmokeScriptTests(AzuriteFixture azurite)
{
    private static async Task<(int ExitCode, string Output)> RunSmokeAsync(string baseUrl)
    {
        var script = Path.Combine(RepositoryRoot.Find(), "infra", "smoke.sh");
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(baseUrl);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return (process.ExitCode, await stdout + await stderr);
    }

    [Fact]
    public async Task SmokeScript_AgainstLocalHost_Passes()
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using var host = await TestHost.StartAsync(storage);

        var (exitCode, output) = await RunSmokeAsync(host.UploadBase.ToString());

        Assert.True(exitCode == 0, output);
        Assert.Contains("smoke test passed", output, StringComparison.Ordinal);
        Assert.Equal(0, await storage.StagedBlobCountAsync());
    }

    [Fact]
    public async Task SmokeScript_AgainstAUrlThatIsNoUploadEndpoint_SaysWhatFailed()
    {
        await using var host = await TestHost.StartAsync(StorageNames.Unique(azurite.ConnectionString));

        var (exitCode, output) = await RunSmokeAsync(new Uri(host.Root, "not-uploads/").ToString());

        Assert.NotEqual(0, exitCode);
        Assert.Contains("BITS_POST", output, StringComparison.Ordinal);
    }
}
