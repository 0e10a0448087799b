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

    [Fact]
    public async Task MainBicepParam_Lint_ReportsNothing()
    {
        var result = await BicepCli.RunAsync(TestContext.Current.CancellationToken, "lint", RepoPaths.MainBicepParam);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.True(string.IsNullOrWhiteSpace(result.StandardOutput + result.StandardError), $"bicep lint reported diagnostics:\n{result}");
    }

    [Fact]
    public async Task MainBicepParam_BuildWithoutEnvironment_UsesDefaults()
    {
        var parameters = await BuildParamsAsync(new Dictionary<string, string?>());

        Assert.Equal("dev", (string?)parameters["environmentName"]?["value"]);
        Assert.Equal("westeurope", (string?)parameters["location"]?["value"]);
        Assert.Equal("uploads", (string?)parameters["uploadContainerName"]?["value"]);
        Assert.Equal("bits-staging", (string?)parameters["stagingContainerName"]?["value"]);
        Assert.Equal("bitssessions", (string?)parameters["sessionTableName"]?["value"]);
        Assert.Equal("bits-completed", (string?)parameters["completionQueueName"]?["value"]);
        Assert.Equal(30, (int?)parameters["stagingRetentionDays"]?["value"]);
        Assert.Equal(10L * 1024 * 1024 * 1024, (long?)parameters["maxUploadBytes"]?["value"]);
        Assert.False((bool?)parameters["allowOverwrites"]?["value"]);
    }

    [Fact]
    public async Task MainBicepParam_BuildWithEnvironment_ReadsVariables()
    {
        var parameters = await BuildParamsAsync(new Dictionary<string, string?>
        {
            ["AZURE_ENV_NAME"] = "bits-test",
            ["AZURE_LOCATION"] = "swedencentral",
            ["BITS_ALLOW_OVERWRITES"] = "true",
            ["BITS_MAX_UPLOAD_BYTES"] = "5000000000000",
            ["BITS_STAGING_RETENTION_DAYS"] = "7",
        });

        Assert.Equal("bits-test", (string?)parameters["environmentName"]?["value"]);
        Assert.Equal("swedencentral", (string?)parameters["location"]?["value"]);
        Assert.True((bool?)parameters["allowOverwrites"]?["value"]);
        Assert.Equal(5_000_000_000_000L, (long?)parameters["maxUploadBytes"]?["value"]);
        Assert.Equal(7, (int?)parameters["stagingRetentionDays"]?["value"]);
    }

    [Fact]
    public async Task MainBicepParam_Build_SetsEveryTemplateParameter()
    {
        var parameters = await BuildParamsAsync(new Dictionary<string, string?>());

        var missing = compiled.Template.Parameters.Select(p => p.Key).Where(name => !parameters.ContainsKey(name)).ToList();
        Assert.True(missing.Count == 0, $"main.bicepparam does not set: {string.Join(", ", missing)}");
    }

    private static async Task<JsonObject> BuildParamsAsync(IReadOnlyDictionary<string, string?> environment)
    {
        var result = await BicepCli.RunAsync(["build-params", RepoPaths.MainBicepParam, "--stdout"], environment, TestContext.Current.CancellationToken);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.True(string.IsNullOrWhiteSpace(result.StandardError), $"bicep build-params reported diagnostics:\n{result.StandardError}");

        // --stdout wraps the parameters file as a JSON string in "parametersJson".
        var wrapper = JsonNode.Parse(result.StandardOutput)!.AsObject();
        var parametersFile = JsonNode.Parse((string)wrapper["parametersJson"]!)!.AsObject();
        return parametersFile["parameters"]!.AsObject();
    }

    private static string ScopeOf(JsonObject template)
    {
        // Resource-group templates use the deploymentTemplate schema (subscription ones use subscriptionDeploymentTemplate).
        var schema = (string?)template["$schema"] ?? "";
        return schema.Contains("/deploymentTemplate.json", StringComparison.OrdinalIgnoreCase) ? "resourceGroup" : schema;
    }
}
