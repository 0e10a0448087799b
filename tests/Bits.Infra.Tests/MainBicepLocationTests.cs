using Bits.Infra.Tests.Support;

namespace Bits.Infra.Tests;

/// <summary>Issue 16, point 8: resources go where their resource group is, and only to regions with Flex Consumption.</summary>
public class MainBicepLocationTests(CompiledMainTemplate compiled)
{
    [Fact]
    public void Location_DefaultsToTheResourceGroup() =>
        Assert.Equal("[resourceGroup().location]", compiled.Template.Parameters["location"].StringAt("defaultValue"));

    [Fact]
    public void Location_OutsideTheFlexRegions_FailsTheDeployment()
    {
        var regions = compiled.Template.Variable("flexConsumptionRegions")!.AsArray().Select(r => (string)r!).ToList();

        Assert.Contains("westeurope", regions);
        Assert.Contains("eastus", regions);
        Assert.Equal(regions.Order(StringComparer.Ordinal), regions);
        Assert.All(regions, r => Assert.Matches("^[a-z0-9]+$", r));
        Assert.StartsWith("[if(contains(variables('flexConsumptionRegions'), parameters('location')), parameters('location'), fail(", compiled.Template.Variable("checkedLocation")!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("storage")]
    [InlineData("monitoring")]
    [InlineData("keyvault")]
    [InlineData("api")]
    public void Modules_UseTheCheckedLocation(string module) =>
        Assert.Equal("[variables('checkedLocation')]", compiled.Template.ModuleArgument(module, "location")!.GetValue<string>());
}
