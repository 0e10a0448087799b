using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Bits.Infra.Tests.Support;

namespace Bits.Infra.Tests;

/// <summary>
/// infra/main.parameters.json is what `azd up` reads: it maps template parameters to azd environment variables
/// (<c>${NAME}</c>). azd asks for a parameter whose variable is unset when the template gives it no default (with a
/// picker for allowed values); a parameter with a default keeps it. (A main.bicepparam would make azd skip all
/// prompting, so there is none.)
/// </summary>
public partial class MainParametersTests(CompiledMainTemplate compiled)
{
    private static readonly Lazy<JsonObject> Mapped = new(() =>
        JsonNode.Parse(File.ReadAllText(RepoPaths.MainParameters))!["parameters"]!.AsObject());

    [Fact]
    public void MainBicepParam_DoesNotExist() =>
        Assert.False(File.Exists(Path.Combine(RepoPaths.Infra, "main.bicepparam")), "azd prefers main.bicepparam and then never prompts for parameters");

    [Fact]
    public void Parameters_NameOnlyTemplateParameters()
    {
        var unknown = Mapped.Value.Select(p => p.Key).Where(name => !compiled.Template.Parameters.ContainsKey(name)).ToList();
        Assert.True(unknown.Count == 0, $"main.parameters.json sets parameters main.bicep does not have: {string.Join(", ", unknown)}");
    }

    [Fact]
    public void Parameters_MapEveryParameterToAnEnvironmentVariable_ExceptLocation()
    {
        var expected = compiled.Template.Parameters.Select(p => p.Key).Where(name => name != "location").Order(StringComparer.Ordinal);
        Assert.Equal(expected, Mapped.Value.Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.All(Mapped.Value, p => Assert.Matches(@"^\$\{[A-Z][A-Z0-9_]*\}$", (string)p.Value!["value"]!));
    }

    [Fact]
    public void Location_IsNotMapped_SoItDefaultsToTheResourceGroup()
    {
        Assert.False(Mapped.Value.ContainsKey("location"));
        Assert.Equal("[resourceGroup().location]", compiled.Template.Parameters["location"].StringAt("defaultValue"));
    }

    [Fact]
    public void Authentication_HasNoDefault_SoAzdAsksWithAPicker()
    {
        var parameter = compiled.Template.Parameters["authentication"]!.AsObject();

        Assert.False(parameter.ContainsKey("defaultValue"), "authentication must not have a silent default");
        Assert.Equal(["basic", "entra", "key-only"], parameter["allowedValues"]!.AsArray().Select(v => (string)v!));
        Assert.Equal("${BITS_AUTHENTICATION}", (string?)Mapped.Value["authentication"]?["value"]);
    }

    [Fact]
    public void PrincipalId_ComesFromAzd_AndIsOnlyUsedBehindTheFlag()
    {
        Assert.Equal("${AZURE_PRINCIPAL_ID}", (string?)Mapped.Value["principalId"]?["value"]);
        Assert.False((bool?)compiled.Template.Parameters["grantDeployerAccess"]!["defaultValue"]);
        const string OnlyWithTheFlag = "[if(parameters('grantDeployerAccess'), createObject('value', parameters('principalId')), createObject('value', ''))]";
        Assert.Equal(OnlyWithTheFlag, compiled.Template.ModuleArgument("rbac", "deployerPrincipalId")!.GetValue<string>());
        Assert.Equal(OnlyWithTheFlag, compiled.Template.ModuleArgument("keyvault", "deployerPrincipalId")!.GetValue<string>());
    }

    [Fact]
    public void Readme_DocumentsEveryEnvironmentVariable()
    {
        var readme = File.ReadAllText(RepoPaths.Readme);
        var missing = Mapped.Value.Select(p => Variable().Match((string)p.Value!["value"]!).Groups["name"].Value)
            .Where(name => !readme.Contains($"`{name}`", StringComparison.Ordinal)).ToList();

        Assert.True(missing.Count == 0, $"README does not document: {string.Join(", ", missing)}");
    }

    [GeneratedRegex(@"^\$\{(?<name>[A-Z][A-Z0-9_]*)\}$")]
    private static partial Regex Variable();
}
