using System.Text.Json.Nodes;
using Bits.Infra.Tests.Support;

namespace Bits.Infra.Tests;

/// <summary>The Bicep files compile and lint cleanly with the pinned Bicep CLI, offline.</summary>
public class MainBicepBuildTests(CompiledMainTemplate compiled)
{
    [Fact]
    public async Task BicepCli_Version_Runs()
    {
        var result = await BicepCli.RunAsync(TestContext.Current.CancellationToken, "--version");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("Bicep CLI version", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public void MainBicep_Build_Succeeds()
    {
        Assert.True(compiled.BuildResult.ExitCode == 0, compiled.BuildResult.ToString());
        Assert.True(string.IsNullOrWhiteSpace(compiled.BuildResult.StandardError), $"bicep build reported diagnostics:\n{compiled.BuildResult.StandardError}");
        Assert.Equal("resourceGroup", ScopeOf(compiled.Template.Root));
    }

    [Fact]
    public async Task MainBicep_Lint_ReportsNothing()
    {
        // bicep lint exits 0 even with warnings, so the output itself must be empty.
        var result = await BicepCli.RunAsync(TestContext.Current.CancellationToken, "lint", RepoPaths.MainBicep);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.True(string.IsNullOrWhiteSpace(result.StandardOutput + result.StandardError), $"bicep lint reported diagnostics:\n{result}");
    }

    [Theory]
    [InlineData("storage.bicep")]
    [InlineData("monitoring.bicep")]
    [InlineData("alerts.bicep")]
    [InlineData("rbac.bicep")]
    [InlineData("keyvault.bicep")]
    [InlineData("functionapp.bicep")]
    public async Task Module_Lint_ReportsNothing(string module)
    {
        var result = await BicepCli.RunAsync(TestContext.Current.CancellationToken, "lint", Path.Combine(RepoPaths.Infra, "modules", module));

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.True(string.IsNullOrWhiteSpace(result.StandardOutput + result.StandardError), $"bicep lint reported diagnostics:\n{result}");
    }

    private static string ScopeOf(JsonObject template)
    {
        // Resource-group templates use the deploymentTemplate schema (subscription ones use subscriptionDeploymentTemplate).
        var schema = (string?)template["$schema"] ?? "";
        return schema.Contains("/deploymentTemplate.json", StringComparison.OrdinalIgnoreCase) ? "resourceGroup" : schema;
    }
}
