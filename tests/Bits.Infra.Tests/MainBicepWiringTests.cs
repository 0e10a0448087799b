using Bits.Infra.Tests.Support;

namespace Bits.Infra.Tests;

/// <summary>Issue 16, points 5 and 6: no storage calls before serving, the public URL, the completion queue and a
/// session timeout that agrees with the staging lifecycle rule and the 7-day life of uncommitted blocks.</summary>
public class MainBicepWiringTests(CompiledMainTemplate compiled)
{
    private Dictionary<string, string> Settings => MainBicepFunctionAppTests.FixedAppSettings(compiled.Template);

    [Fact]
    public void CreateResources_IsOff_BecauseTheBicepCreatesEverything() =>
        Assert.Equal("false", Settings["BitsStorage__CreateResources"]);

    [Fact]
    public void PublicBaseUrl_IsTheAppsHttpsUrl() =>
        Assert.Equal("[format('https://{0}.azurewebsites.net/', parameters('name'))]", Settings["Bits__PublicBaseUrl"]);

    [Fact]
    public void CompletionQueue_IsTheQueueTheStorageModuleCreates()
    {
        Assert.Equal("[parameters('completionQueueName')]", Settings["Bits__CompletionQueue"]);
        Assert.Equal("[parameters('completionQueueName')]", compiled.Template.ModuleArgument("api", "completionQueueName")!.GetValue<string>());
        Assert.Equal("[parameters('completionQueueName')]", compiled.Template.ModuleArgument("storage", "completionQueueName")!.GetValue<string>());
        Assert.Equal("[parameters('completionQueueName')]", compiled.Template.ModuleArgument("rbac", "completionQueueName")!.GetValue<string>());
    }

    [Fact]
    public void SessionTimeout_AndStagingLifecycleRule_Agree()
    {
        // Both modules get the same parameter...
        Assert.Equal("[parameters('sessionTimeoutDays')]", compiled.Template.ModuleArgument("api", "sessionTimeoutDays")!.GetValue<string>());
        Assert.Equal("[parameters('sessionTimeoutDays')]", compiled.Template.ModuleArgument("storage", "sessionTimeoutDays")!.GetValue<string>());

        // ...the app setting is that many days, the rule deletes only what is older than that plus a margin...
        const string setting = "[format('{0}.00:00:00', parameters('sessionTimeoutDays'))]";
        Assert.Equal(setting, Settings["Bits__SessionTimeout"]);
        var retention = compiled.Template.ModuleTemplate("storage")["variables"]!["stagingRetentionDays"]!.GetValue<string>();
        var margin = System.Text.RegularExpressions.Regex.Match(retention, @"^\[add\(parameters\('sessionTimeoutDays'\), (?<days>\d+)\)\]$");
        Assert.True(margin.Success, $"the staging lifecycle rule must be derived from the session timeout, not '{retention}'");

        // ...and every allowed value stays below the 7 days after which Azure drops uncommitted blocks.
        var parameter = compiled.Template.Parameters["sessionTimeoutDays"]!;
        var (min, max) = ((int)parameter["minValue"]!, (int)parameter["maxValue"]!);
        Assert.Equal(6, (int)parameter["defaultValue"]!);
        for (var days = min; days <= max; days++)
        {
            var timeout = TimeSpan.Parse(string.Format(System.Globalization.CultureInfo.InvariantCulture, "{0}.00:00:00", days), System.Globalization.CultureInfo.InvariantCulture);
            var ruleDays = days + int.Parse(margin.Groups["days"].Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(ruleDays > timeout.TotalDays, $"a {days}-day timeout would have live staging data deleted after {ruleDays} days");
            Assert.True(timeout < TimeSpan.FromDays(7), $"a {days}-day timeout outlives uncommitted blocks (7 days)");
        }
    }
}
