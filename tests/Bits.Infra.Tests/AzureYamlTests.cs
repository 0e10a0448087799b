using System.Text.RegularExpressions;
using Bits.Infra.Tests.Support;

namespace Bits.Infra.Tests;

/// <summary>azure.yaml names an infra module and a service project that exist. (A tiny line reader stands in for a
/// YAML parser: the file is flat and kept that way.)</summary>
public partial class AzureYamlTests
{
    private static readonly Lazy<string[]> Lines = new(() => File.ReadAllLines(RepoPaths.AzureYaml));

    [Fact]
    public void AzureYaml_Name_IsBitsfunctions() =>
        Assert.Equal("bitsfunctions", Value("name"));

    [Fact]
    public void AzureYaml_Infra_PointsAtMainBicep()
    {
        Assert.Equal("bicep", Value("provider"));
        var module = Path.Combine(RepoPaths.Root, Value("path"), Value("module") + ".bicep");

        Assert.True(File.Exists(module), $"azure.yaml infra points at {module}, which does not exist.");
        Assert.Equal(Path.GetFullPath(RepoPaths.MainBicep), Path.GetFullPath(module));
    }

    [Fact]
    public void AzureYaml_ApiService_IsDotnetFunction()
    {
        Assert.Contains(Lines.Value, l => l.TrimEnd() == "  api:");
        Assert.Equal("dotnet", Value("language"));
        Assert.Equal("function", Value("host"));
    }

    /// <summary>Fails until the Functions project (src/BitsFunctions) is added by the application work.</summary>
    [Fact]
    public void AzureYaml_ApiServiceProject_Exists()
    {
        var project = Value("project");
        Assert.Equal("./src/BitsFunctions", project);

        var folder = Path.GetFullPath(Path.Combine(RepoPaths.Root, project));
        Assert.True(Directory.Exists(folder), $"azure.yaml service 'api' points at {folder}, which does not exist yet.");
        Assert.NotEmpty(Directory.GetFiles(folder, "*.csproj"));
    }

    private static string Value(string key)
    {
        var values = Lines.Value.Select(l => KeyValue().Match(l)).Where(m => m.Success && m.Groups["key"].Value == key)
            .Select(m => m.Groups["value"].Value.Trim().Trim('"', '\'')).ToList();
        Assert.True(values.Count == 1, $"azure.yaml should contain exactly one '{key}:' entry; found {values.Count}.");
        return values[0];
    }

    [GeneratedRegex(@"^\s*(?<key>[A-Za-z_]+):\s*(?<value>[^#]*?)\s*(#.*)?$")]
    private static partial Regex KeyValue();
}
