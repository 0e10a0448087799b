using System.Text.Json.Nodes;

namespace Bits.Infra.Tests.Support;

/// <summary>infra/main.bicep compiled once per test run (bicep build --stdout).</summary>
public sealed class CompiledMainTemplate : IAsyncLifetime
{
    private ArmTemplate? _template;

    internal ArmTemplate Template => _template ?? throw new InvalidOperationException($"infra/main.bicep did not compile: {BuildResult}");

    internal ProcessResult BuildResult { get; private set; } = new(-1, "", "");

    public async ValueTask InitializeAsync()
    {
        BuildResult = await BicepCli.RunAsync(CancellationToken.None, "build", RepoPaths.MainBicep, "--stdout");
        if (BuildResult.ExitCode == 0 && JsonNode.Parse(BuildResult.StandardOutput) is JsonObject root)
        {
            _template = new ArmTemplate(root);
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
