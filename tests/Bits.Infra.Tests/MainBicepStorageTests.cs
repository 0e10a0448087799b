using System.Text.Json.Nodes;
using Bits.Infra.Tests.Support;

namespace Bits.Infra.Tests;

/// <summary>The storage account is locked down to Microsoft Entra ID over TLS 1.2 and holds what the app needs.</summary>
public class MainBicepStorageTests(CompiledMainTemplate compiled)
{
    private JsonObject StorageAccount => compiled.Template.Single("Microsoft.Storage/storageAccounts");

    [Fact]
    public void MainBicep_Storage_DisallowsSharedKey() =>
        Assert.False(StorageAccount.BoolAt("properties.allowSharedKeyAccess"));

    [Fact]
    public void MainBicep_Storage_RequiresTls12() =>
        Assert.Equal("TLS1_2", StorageAccount.StringAt("properties.minimumTlsVersion"));

    [Fact]
    public void MainBicep_Storage_DisallowsPublicBlobAccess() =>
        Assert.False(StorageAccount.BoolAt("properties.allowBlobPublicAccess"));

    [Fact]
    public void MainBicep_Storage_RequiresHttps() =>
        Assert.True(StorageAccount.BoolAt("properties.supportsHttpsTrafficOnly"));

    [Fact]
    public void MainBicep_Storage_HasDeploymentUploadAndStagingContainers()
    {
        var names = compiled.Template.OfType("Microsoft.Storage/storageAccounts/blobServices/containers")
            .Select(c => (string)c["name"]!).ToList();

        Assert.Equal(3, names.Count);
        Assert.Contains(names, n => n.Contains("parameters('deploymentContainerName')", StringComparison.Ordinal));
        Assert.Contains(names, n => n.Contains("parameters('uploadContainerName')", StringComparison.Ordinal));
        Assert.Contains(names, n => n.Contains("parameters('stagingContainerName')", StringComparison.Ordinal));
        Assert.All(compiled.Template.OfType("Microsoft.Storage/storageAccounts/blobServices/containers"),
            c => Assert.Equal("None", c.StringAt("properties.publicAccess")));
    }

    [Fact]
    public void MainBicep_Storage_HasSessionTableAndCompletionQueue()
    {
        var table = compiled.Template.Single("Microsoft.Storage/storageAccounts/tableServices/tables");
        var queue = compiled.Template.Single("Microsoft.Storage/storageAccounts/queueServices/queues");

        Assert.Contains("parameters('sessionTableName')", (string)table["name"]!, StringComparison.Ordinal);
        Assert.Contains("parameters('completionQueueName')", (string)queue["name"]!, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("uploadContainerName", "uploads")]
    [InlineData("stagingContainerName", "bits-staging")]
    [InlineData("sessionTableName", "bitssessions")]
    [InlineData("completionQueueName", "bits-completed")]
    public void MainBicep_StorageNameParameters_DefaultToAppDefaults(string parameter, string expected) =>
        Assert.Equal(expected, compiled.Template.Parameters[parameter].StringAt("defaultValue"));

    [Fact]
    public void MainBicep_Storage_LifecycleRuleDeletesStaleStagingBlobs()
    {
        var policy = compiled.Template.Single("Microsoft.Storage/storageAccounts/managementPolicies");
        var rules = policy.At("properties.policy.rules")!.AsArray();
        var rule = Assert.Single(rules)!;

        Assert.True(rule.BoolAt("enabled"));
        var prefixes = rule.At("definition.filters.prefixMatch")!.AsArray().Select(p => (string)p!).ToList();
        var prefix = Assert.Single(prefixes);
        Assert.Equal("[format('{0}/', parameters('stagingContainerName'))]", prefix); // "<container>/": only that container
        var blobTypes = rule.At("definition.filters.blobTypes")!.AsArray().Select(t => (string)t!).ToList();
        Assert.Contains("appendBlob", blobTypes); // staging segments are append blobs
        Assert.Equal("[parameters('stagingRetentionDays')]", rule.StringAt("definition.actions.baseBlob.delete.daysAfterModificationGreaterThan"));
        Assert.Equal(30, (int?)compiled.Template.Parameters["stagingRetentionDays"]!["defaultValue"]);
    }
}
