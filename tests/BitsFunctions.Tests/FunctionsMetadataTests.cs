using System.Text.Json;
using System.Text.Json.Nodes;

namespace BitsFunctions.Tests;

/// <summary>What the Functions host learns about the trigger: the generated functions.metadata and, because the worker
/// indexes its own functions (worker.config.json workerIndexing), the source-generated metadata provider.</summary>
public class FunctionsMetadataTests
{
    [Fact]
    public void FunctionsMetadata_HttpTrigger_HasNoMethods()
    {
        var path = Path.Combine(RepoFiles.FunctionsOutput, "functions.metadata");
        Assert.True(File.Exists(path), $"{path} is missing; build src/BitsFunctions first.");
        var functions = JsonNode.Parse(File.ReadAllText(path))!.AsArray();

        // Two functions: the HTTP trigger and the janitor's timer. Exactly one HTTP trigger in all.
        Assert.Equal([BitsJanitorFunction.Name, BitsUploadFunction.Name], functions.Select(f => (string?)f!["name"]).Order(StringComparer.Ordinal));
        var function = Assert.Single(functions, f => (string?)f!["name"] == BitsUploadFunction.Name)!;
        AssertSingleCatchAllTrigger(function["bindings"]!.AsArray().Select(b => b!.AsObject()));
        Assert.Single(functions.SelectMany(f => f!["bindings"]!.AsArray()), b => string.Equals((string?)b!["type"], "httpTrigger", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void FunctionsMetadata_Janitor_IsATimerTriggerOnTheFixedSchedule()
    {
        var path = Path.Combine(RepoFiles.FunctionsOutput, "functions.metadata");
        var functions = JsonNode.Parse(File.ReadAllText(path))!.AsArray();

        var function = Assert.Single(functions, f => (string?)f!["name"] == BitsJanitorFunction.Name)!;
        var trigger = Assert.Single(function["bindings"]!.AsArray())!;
        Assert.Equal("timerTrigger", (string?)trigger["type"]);
        Assert.Equal(BitsJanitorFunction.Schedule, (string?)trigger["schedule"]);
    }

    [Fact]
    public async Task GeneratedMetadataProvider_HttpTrigger_HasNoMethods()
    {
        var metadata = await new GeneratedFunctionMetadataProvider().GetFunctionMetadataAsync(RepoFiles.FunctionsOutput);

        var function = Assert.Single(metadata, f => f.Name == BitsUploadFunction.Name);
        AssertSingleCatchAllTrigger(function.RawBindings!.Select(b => JsonNode.Parse(b)!.AsObject()));
    }

    [Fact]
    public void WorkerConfig_Exists_AndPointsAtTheApp()
    {
        var path = Path.Combine(RepoFiles.FunctionsOutput, "worker.config.json");
        Assert.True(File.Exists(path), $"{path} is missing; build src/BitsFunctions first.");
        var description = JsonNode.Parse(File.ReadAllText(path))!["description"]!;

        Assert.Equal("dotnet-isolated", (string?)description["language"]);
        Assert.Equal("BitsFunctions.dll", (string?)description["defaultWorkerPath"]);
    }

    [Fact]
    public void HostJson_EmptyRoutePrefix_IsShippedWithTheApp()
    {
        var root = JsonNode.Parse(File.ReadAllText(RepoFiles.HostJson))!;
        var shipped = Path.Combine(RepoFiles.FunctionsOutput, "host.json");

        Assert.Equal("2.0", (string?)root["version"]);
        Assert.Equal(string.Empty, (string?)root["extensions"]!["http"]!["routePrefix"]);
        Assert.True(File.Exists(shipped), $"{shipped} is missing: the csproj links the root host.json into the output.");
        Assert.Equal(File.ReadAllText(RepoFiles.HostJson), File.ReadAllText(shipped));
    }

    private static void AssertSingleCatchAllTrigger(IEnumerable<JsonObject> bindings)
    {
        var trigger = Assert.Single(bindings, b => string.Equals((string?)b["type"], "httpTrigger", StringComparison.OrdinalIgnoreCase));
        Assert.Equal("uploads/{*path}", (string?)trigger["route"]);
        Assert.Equal("Function", (string?)trigger["authLevel"]);
        Assert.False(trigger.ContainsKey("methods"), $"the trigger lists methods ({trigger.ToJsonString()}); BITS_POST would be refused");
        Assert.DoesNotContain(trigger, p => string.Equals(p.Key, "methods", StringComparison.OrdinalIgnoreCase));
    }
}
