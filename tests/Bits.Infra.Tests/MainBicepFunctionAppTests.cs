using System.Text.Json.Nodes;
using Bits.Infra.Tests.Support;

namespace Bits.Infra.Tests;

/// <summary>The Function App runs .NET 10 isolated on Flex Consumption, HTTPS only, with identity-based settings.</summary>
public class MainBicepFunctionAppTests(CompiledMainTemplate compiled)
{
    /// <summary>The app-setting contract between infra and the Functions app (src/BitsFunctions).</summary>
    public static readonly string[] ExpectedAppSettings =
    [
        "AzureWebJobsStorage__credential",
        "AzureWebJobsStorage__clientId",
        "AzureWebJobsStorage__blobServiceUri",
        "AzureWebJobsStorage__queueServiceUri",
        "AzureWebJobsStorage__tableServiceUri",
        "APPLICATIONINSIGHTS_CONNECTION_STRING",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        "BitsStorage__BlobServiceUri",
        "BitsStorage__TableServiceUri",
        "BitsStorage__QueueServiceUri",
        "BitsStorage__ManagedIdentityClientId",
        "BitsStorage__UploadContainer",
        "BitsStorage__StagingContainer",
        "BitsStorage__SessionTable",
        "BitsStorage__CreateResources",
        "Bits__PublicBaseUrl",
        "Bits__CompletionQueue",
        "Bits__SessionTimeout",
        "Bits__MaxUploadBytes",
        "Bits__AllowOverwrites",
        "Bits__MaxFragmentBytes",
        "Bits__FragmentMemoryBytes",
        "Bits__Authentication__AllowAnonymous",
        "Bits__Authentication__Basic",
        "Bits__Authentication__Bearer",
        "Bits__Authentication__BearerTokens__Authority",
        "Bits__Authentication__BearerTokens__Audience",
        "Bits__RateLimits__AnonymousSessionsPerAddress",
    ];

    private JsonObject Site => compiled.Template.Single("Microsoft.Web/sites");

    /// <summary>The settings every deployment has (variable fixedAppSettings of the api module).</summary>
    private Dictionary<string, string> AppSettings => FixedAppSettings(compiled.Template);

    internal static Dictionary<string, string> FixedAppSettings(ArmTemplate template) =>
        template.ModuleTemplate("api")["variables"]!["fixedAppSettings"]!.AsArray()
            .ToDictionary(s => (string)s!["name"]!, s => (string)s!["value"]!);

    [Fact]
    public void MainBicep_FunctionApp_AppSettingsAreTheFixedOnesPlusUsers() =>
        Assert.Equal(
            "[concat(variables('fixedAppSettings'), variables('allowedUserSettings'), variables('basicUserSettings'))]",
            Site.StringAt("properties.siteConfig.appSettings"));

    [Fact]
    public void MainBicep_FunctionApp_IsHttpsOnly() =>
        Assert.True(Site.BoolAt("properties.httpsOnly"));

    [Fact]
    public void MainBicep_FunctionApp_RequiresTls12() =>
        Assert.Equal("1.2", Site.StringAt("properties.siteConfig.minTlsVersion"));

    [Fact]
    public void MainBicep_FunctionApp_DisablesFtps() =>
        Assert.Equal("Disabled", Site.StringAt("properties.siteConfig.ftpsState"));

    [Fact]
    public void MainBicep_FunctionApp_DisablesBasicPublishingCredentials()
    {
        var policies = compiled.Template.OfType("Microsoft.Web/sites/basicPublishingCredentialsPolicies").ToList();

        Assert.Equal(2, policies.Count);
        Assert.Contains(policies, p => ((string)p["name"]!).Contains("'ftp'", StringComparison.Ordinal));
        Assert.Contains(policies, p => ((string)p["name"]!).Contains("'scm'", StringComparison.Ordinal));
        Assert.All(policies, p => Assert.False(p.BoolAt("properties.allow")));
    }

    [Fact]
    public void MainBicep_FunctionApp_UsesHostAndAppIdentities()
    {
        Assert.Equal("UserAssigned", Site.StringAt("identity.type"));
        Assert.Equal(
            ["[format('{0}', parameters('appIdentityId'))]", "[format('{0}', parameters('hostIdentityId'))]"],
            Site.At("identity.userAssignedIdentities")!.AsObject().Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.Equal(2, compiled.Template.OfType("Microsoft.ManagedIdentity/userAssignedIdentities").Count());
    }

    [Fact]
    public void MainBicep_FunctionApp_RunsOnFlexConsumptionLinux()
    {
        var plan = compiled.Template.Single("Microsoft.Web/serverfarms");

        Assert.Equal("FC1", plan.StringAt("sku.name"));
        Assert.Equal("FlexConsumption", plan.StringAt("sku.tier"));
        Assert.True(plan.BoolAt("properties.reserved"));
        Assert.Equal("functionapp,linux", Site.StringAt("kind"));
    }

    [Fact]
    public void MainBicep_FunctionApp_RunsDotnetIsolated10()
    {
        Assert.Equal("dotnet-isolated", Site.StringAt("properties.functionAppConfig.runtime.name"));
        Assert.Equal("10.0", Site.StringAt("properties.functionAppConfig.runtime.version"));
    }

    [Fact]
    public void MainBicep_FunctionApp_DeploysFromBlobContainerWithIdentity()
    {
        var storage = Site.At("properties.functionAppConfig.deployment.storage");

        Assert.Equal("blobContainer", storage.StringAt("type"));
        Assert.Contains("parameters('deploymentContainerName')", storage.StringAt("value"), StringComparison.Ordinal);
        Assert.Equal("UserAssignedIdentity", storage.StringAt("authentication.type"));
        Assert.Equal("[parameters('hostIdentityId')]", storage.StringAt("authentication.userAssignedIdentityResourceId"));
    }

    [Fact]
    public void MainBicep_FunctionApp_IsTaggedAsAzdServiceApi()
    {
        var tags = compiled.Template.Module("api").StringAt("properties.parameters.tags.value");

        Assert.Contains("'azd-service-name', 'api'", tags, StringComparison.Ordinal);
        Assert.Equal("[parameters('tags')]", Site.StringAt("tags"));
    }

    [Fact]
    public void MainBicep_FunctionApp_HasExactlyTheExpectedAppSettings() =>
        Assert.Equal(ExpectedAppSettings.Order(StringComparer.Ordinal), AppSettings.Keys.Order(StringComparer.Ordinal));

    [Fact]
    public void MainBicep_FunctionApp_AppSettingsContainNoSecrets()
    {
        Assert.DoesNotContain("AzureWebJobsStorage", AppSettings.Keys); // a connection string would carry a key
        Assert.All(AppSettings, setting =>
        {
            Assert.DoesNotContain("AccountKey=", setting.Value, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("SharedAccessSignature", setting.Value, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("listKeys", setting.Value, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("InstrumentationKey", setting.Value, StringComparison.OrdinalIgnoreCase);
        });
    }

    [Fact]
    public void MainBicep_FunctionApp_HostStorageUsesHostIdentity_AppUsesAppIdentity()
    {
        Assert.Equal("managedidentity", AppSettings["AzureWebJobsStorage__credential"]);
        Assert.Equal("[parameters('hostIdentityClientId')]", AppSettings["AzureWebJobsStorage__clientId"]);
        Assert.Equal("[parameters('appIdentityClientId')]", AppSettings["BitsStorage__ManagedIdentityClientId"]);

        // main.bicep passes two different identities.
        Assert.Contains("host-", compiled.Template.ModuleArgument("api", "hostIdentityClientId")!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Contains("app-", compiled.Template.ModuleArgument("api", "appIdentityClientId")!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public void MainBicep_FunctionApp_AppInsightsUsesEntraAuthentication()
    {
        Assert.Equal("[format('ClientId={0};Authorization=AAD', parameters('hostIdentityClientId'))]", AppSettings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]);

        var component = compiled.Template.Single("Microsoft.Insights/components");
        Assert.True(component.BoolAt("properties.DisableLocalAuth"));
        Assert.NotNull(component.StringAt("properties.WorkspaceResourceId"));
        Assert.Single(compiled.Template.OfType("Microsoft.OperationalInsights/workspaces"));
    }

    [Fact]
    public void MainBicep_Outputs_AreUpperSnakeCaseAndIncludeUploadBaseUrl()
    {
        var outputs = compiled.Template.Outputs;

        Assert.All(outputs, o => Assert.Matches("^[A-Z][A-Z0-9_]*$", o.Key));
        foreach (var name in new[] { "AZURE_LOCATION", "AZURE_FUNCTION_APP_NAME", "AZURE_STORAGE_ACCOUNT_NAME", "RESOURCE_GROUP", "UPLOAD_BASE_URL" })
        {
            Assert.True(outputs.ContainsKey(name), $"output {name} is missing");
        }

        var uploadBaseUrl = outputs["UPLOAD_BASE_URL"].StringAt("value");
        Assert.StartsWith("[format('https://{0}/uploads/'", uploadBaseUrl, StringComparison.Ordinal);
        Assert.Contains("defaultHostName", uploadBaseUrl, StringComparison.Ordinal);
    }
}
