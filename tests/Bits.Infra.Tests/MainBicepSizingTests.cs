using System.Text.Json.Nodes;
using Bits.Infra.Tests.Support;

namespace Bits.Infra.Tests;

/// <summary>
/// Issue 16, point 1: Flex lets perInstanceConcurrency requests into one instance; each may hold one fragment of
/// Bits:MaxFragmentBytes, so Bits:FragmentMemoryBytes is their product (no request waits for memory and gets 503
/// while Flex sees no reason to scale out), and that product must fit in half of the instance's memory.
/// </summary>
public class MainBicepSizingTests(CompiledMainTemplate compiled)
{
    private JsonObject Site => compiled.Template.Single("Microsoft.Web/sites");

    private Dictionary<string, string> Settings => MainBicepFunctionAppTests.FixedAppSettings(compiled.Template);

    private long Default(string parameter) => (long)compiled.Template.Parameters[parameter]!["defaultValue"]!;

    [Fact]
    public void PerInstanceConcurrency_IsSetFromItsParameter()
    {
        Assert.Equal("[parameters('perInstanceConcurrency')]", Site.StringAt("properties.functionAppConfig.scaleAndConcurrency.triggers.http.perInstanceConcurrency"));
        Assert.Equal("[parameters('perInstanceConcurrency')]", compiled.Template.ModuleArgument("api", "perInstanceConcurrency")!.GetValue<string>());
    }

    [Fact]
    public void MaxFragmentBytes_IsPinned_AndFragmentMemoryIsConcurrencyTimesFragment()
    {
        Assert.Equal("[string(parameters('maxFragmentBytes'))]", Settings["Bits__MaxFragmentBytes"]);
        Assert.Equal("[string(parameters('fragmentMemoryBytes'))]", Settings["Bits__FragmentMemoryBytes"]);
        Assert.Equal("[parameters('maxFragmentBytes')]", compiled.Template.ModuleArgument("api", "maxFragmentBytes")!.GetValue<string>());
        Assert.Equal("[variables('checkedFragmentMemoryBytes')]", compiled.Template.ModuleArgument("api", "fragmentMemoryBytes")!.GetValue<string>());
        Assert.Equal("[mul(parameters('perInstanceConcurrency'), parameters('maxFragmentBytes'))]", compiled.Template.Variable("fragmentMemoryBytes")!.GetValue<string>());
    }

    [Fact]
    public void FragmentMemory_OverHalfTheInstance_FailsTheDeployment()
    {
        Assert.Equal("[div(mul(parameters('instanceMemoryMB'), 1048576), 2)]", compiled.Template.Variable("fragmentMemoryBudgetBytes")!.GetValue<string>());
        var check = compiled.Template.Variable("checkedFragmentMemoryBytes")!.GetValue<string>();
        Assert.StartsWith("[if(lessOrEquals(variables('fragmentMemoryBytes'), variables('fragmentMemoryBudgetBytes')), variables('fragmentMemoryBytes'), fail(", check, StringComparison.Ordinal);
    }

    [Fact]
    public void Defaults_FitEveryInstanceSize()
    {
        var fragmentMemory = Default("perInstanceConcurrency") * Default("maxFragmentBytes");
        var sizes = compiled.Template.Parameters["instanceMemoryMB"]!["allowedValues"]!.AsArray().Select(v => (long)v!).ToList();

        Assert.Equal([512L, 2048L, 4096L], sizes);
        Assert.All(sizes, mb => Assert.True(fragmentMemory <= mb * 1024 * 1024 / 2, $"{fragmentMemory} bytes of fragments do not fit in half of {mb} MB"));
        Assert.Equal(16, Default("perInstanceConcurrency"));
        Assert.Equal(16L * 1024 * 1024, Default("maxFragmentBytes"));
        Assert.Equal(100L * 1024 * 1024, (long)compiled.Template.Parameters["maxFragmentBytes"]!["maxValue"]!); // the app's upper bound
    }
}
