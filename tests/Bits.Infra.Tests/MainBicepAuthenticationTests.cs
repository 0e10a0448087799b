using System.Text.Json.Nodes;
using Bits.Infra.Tests.Support;

namespace Bits.Infra.Tests;

/// <summary>Issue 16, points 2 and 3: an explicit authentication choice, Basic hashes as Key Vault references read
/// with the app identity, key-only limited per client address, and an alert on storage capacity.</summary>
public class MainBicepAuthenticationTests(CompiledMainTemplate compiled)
{
    private Dictionary<string, string> Settings => MainBicepFunctionAppTests.FixedAppSettings(compiled.Template);

    private JsonObject Site => compiled.Template.Single("Microsoft.Web/sites");

    [Theory]
    [InlineData("Bits__Authentication__AllowAnonymous", "[if(equals(parameters('authentication'), 'key-only'), 'true', 'false')]")]
    [InlineData("Bits__Authentication__Basic", "[if(equals(parameters('authentication'), 'basic'), 'true', 'false')]")]
    [InlineData("Bits__Authentication__Bearer", "[if(equals(parameters('authentication'), 'entra'), 'true', 'false')]")]
    [InlineData("Bits__Authentication__BearerTokens__Authority", "[if(equals(parameters('authentication'), 'entra'), parameters('entraAuthority'), '')]")]
    [InlineData("Bits__Authentication__BearerTokens__Audience", "[if(equals(parameters('authentication'), 'entra'), parameters('entraAudience'), '')]")]
    [InlineData("Bits__RateLimits__AnonymousSessionsPerAddress", "[string(if(equals(parameters('authentication'), 'key-only'), parameters('anonymousSessionsPerAddress'), 0))]")]
    public void Setting_FollowsTheAuthenticationChoice(string name, string expected) =>
        Assert.Equal(expected, Settings[name]);

    [Fact]
    public void IncompleteChoices_FailTheDeployment()
    {
        var check = compiled.Template.Variable("checkedAuthentication")!.GetValue<string>();

        Assert.Contains("and(equals(parameters('authentication'), 'entra'), or(empty(parameters('entraAuthority')), empty(parameters('entraAudience'))))", check, StringComparison.Ordinal);
        Assert.Contains("and(equals(parameters('authentication'), 'basic'), empty(variables('basicUsers')))", check, StringComparison.Ordinal);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Count(check, @"fail\('"));
        Assert.Equal("[variables('checkedAuthentication')]", compiled.Template.ModuleArgument("api", "authentication")!.GetValue<string>());
    }

    [Fact]
    public void ForwardedHeaders_AreTrustedFromNobody_TheFunctionsHostAlreadyGivesTheClientAddress()
    {
        // The host sets X-Forwarded-For to its own peer and the worker applies it (ClientAddressScenarios): trusting
        // loopback would add nothing, and anything wider would let callers choose their address.
        Assert.DoesNotContain(Settings.Keys, k => k.StartsWith("Bits__ForwardedHeaders__", StringComparison.Ordinal));
    }

    [Fact]
    public void BasicUsers_AreKeyVaultReferences()
    {
        var users = compiled.Template.ModuleCopyVariable("api", "basicUserSettings");

        Assert.Equal("[length(if(equals(parameters('authentication'), 'basic'), parameters('basicUserNames'), createArray()))]", users.StringAt("count"));
        Assert.StartsWith("[format('Bits__Authentication__BasicUsers__{0}', ", users.StringAt("input.name"), StringComparison.Ordinal);
        Assert.StartsWith("[format('@Microsoft.KeyVault(VaultName={0};SecretName=bits-basic-{1})', parameters('keyVaultName'), ", users.StringAt("input.value"), StringComparison.Ordinal);
    }

    [Fact]
    public void AllowedUsers_AreIndexedSettings()
    {
        var users = compiled.Template.ModuleCopyVariable("api", "allowedUserSettings");

        Assert.Equal("[length(parameters('allowedUsers'))]", users.StringAt("count"));
        Assert.Equal("[format('Bits__Authentication__AllowedUsers__{0}', copyIndex('allowedUserSettings'))]", users.StringAt("input.name"));
    }

    [Fact]
    public void KeyVault_IsDeployedForBasicOrOnRequest_WithRbacAndTheAppIdentityAsReader()
    {
        Assert.Equal("[variables('useKeyVault')]", compiled.Template.Module("keyvault").StringAt("condition"));
        Assert.Equal("[or(parameters('enableKeyVault'), equals(parameters('authentication'), 'basic'))]", compiled.Template.Variable("useKeyVault")!.GetValue<string>());

        var vault = compiled.Template.Single("Microsoft.KeyVault/vaults");
        Assert.True(vault.BoolAt("properties.enableRbacAuthorization"));
        Assert.True(vault.BoolAt("properties.enableSoftDelete"));

        var secretsUser = Assert.Single(compiled.Template.ModuleTemplate("keyvault")["resources"]!.AsArray().OfType<JsonObject>(),
            r => r.StringAt("properties.principalId") == "[parameters('readerPrincipalId')]");
        Assert.Equal("[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', variables('roles').secretsUser)]", secretsUser.StringAt("properties.roleDefinitionId"));
        Assert.Equal("4633458b-17de-408a-b874-0445c86b69e6", compiled.Template.ModuleTemplate("keyvault")["variables"]!["roles"]!["secretsUser"]!.GetValue<string>());
    }

    [Fact]
    public void KeyVaultReferences_ResolveWithTheAppIdentity()
    {
        Assert.Equal("[parameters('appIdentityId')]", Site.StringAt("properties.keyVaultReferenceIdentity"));
        // The identity named there is the one the vault grants Key Vault Secrets User.
        Assert.Equal(
            compiled.Template.ModuleArgument("api", "appIdentityId")!.GetValue<string>(),
            compiled.Template.ModuleArgument("keyvault", "readerIdentityId")!.GetValue<string>());
        Assert.Contains("app-", compiled.Template.ModuleArgument("keyvault", "readerIdentityId")!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public void StorageCapacity_HasAnAlert()
    {
        var alert = compiled.Template.Single("Microsoft.Insights/metricAlerts");
        var criterion = Assert.Single(alert.At("properties.criteria.allOf")!.AsArray())!;

        Assert.Equal("UsedCapacity", criterion.StringAt("metricName"));
        Assert.Equal("Microsoft.Storage/storageAccounts", criterion.StringAt("metricNamespace"));
        Assert.Equal("[parameters('capacityThresholdBytes')]", criterion.StringAt("threshold"));
        Assert.Equal("[greater(parameters('storageCapacityAlertBytes'), 0)]", compiled.Template.Module("alerts").StringAt("condition"));
        Assert.Equal(1L << 40, (long)compiled.Template.Parameters["storageCapacityAlertBytes"]!["defaultValue"]!);
    }
}
