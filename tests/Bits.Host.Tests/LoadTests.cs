using Bits.Load;
using Bits.Testing;

namespace Bits.Host.Tests;

/// <summary>
/// A small run of the load test (<c>./load.sh</c> runs the big one): 8 concurrent sessions of up to 4 MiB through one
/// host and through two hosts sharing Azurite with packets alternating, fragments of 5 KiB..1 MiB (so every upload
/// takes several) with 20% retransmits and overlaps. Every file must arrive byte-identical, nothing may stay in staging.
/// </summary>
public class LoadTests(AzuriteFixture azurite)
{
    [Theory]
    [InlineData(LoadTopology.OneHost)]
    [InlineData(LoadTopology.TwoHosts)]
    public async Task Load_ConcurrentSessionsWithFaults_AllCompleteIntactAndLeaveNothingStaged(LoadTopology topology)
    {
        var options = new LoadOptions
        {
            Sessions = 8,
            MaxSize = 4L * 1024 * 1024,
            MinFragment = 5 * 1024,
            MaxFragment = 1024 * 1024,
            FaultRate = 0.2,
            Seed = 11,
            Timeout = TimeSpan.FromMinutes(3),
        };

        var report = await LoadRunner.RunAsync(azurite.ConnectionString, topology, options, cancellationToken: TestContext.Current.CancellationToken);

        var details = string.Join("\n", report.Failures);
        Assert.True(report.Completed == options.Sessions, $"{report.Completed} of {options.Sessions} sessions completed\n{details}");
        Assert.True(report.Corrupt == 0, $"{report.Corrupt} corrupt files\n{details}");
        Assert.Equal(0, report.StagedLeftovers);
        Assert.Equal(0, report.SessionRowLeftovers);
        Assert.True(report.InjectedRetransmits > 0 && report.InjectedOverlaps > 0, $"{report.InjectedRetransmits} retransmits, {report.InjectedOverlaps} overlaps injected");
        Assert.True(report.Passed);
    }

    [Fact]
    public void HostSettings_CarryTheSizingOptions_OnlyWhenGiven()
    {
        Assert.Empty(LoadRunner.HostSettings(new LoadOptions()));

        var settings = LoadRunner.HostSettings(new LoadOptions { FragmentMemoryBytes = 256L * 1024 * 1024, MaxFragmentBytes = 16L * 1024 * 1024 });

        Assert.Equal("268435456", settings["Bits:FragmentMemoryBytes"]);
        Assert.Equal("16777216", settings["Bits:MaxFragmentBytes"]);
    }
}
