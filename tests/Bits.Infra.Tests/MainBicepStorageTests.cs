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
    public void MainBicep_Storage_CreatesTheDeploymentContainerAndEveryAppContainer()
    {
        var containers = compiled.Template.OfType("Microsoft.Storage/storageAccounts/blobServices/containers").ToList();

        Assert.Equal(2, containers.Count);
        Assert.Contains(containers, c => ((string)c["name"]!).Contains("parameters('deploymentContainerName')", StringComparison.Ordinal));
        var app = Assert.Single(containers, c => ((string)c["name"]!).Contains("parameters('appContainerNames')[copyIndex()]", StringComparison.Ordinal));
        Assert.Equal("[length(parameters('appContainerNames'))]", app.StringAt("copy.count"));
        Assert.All(containers, c => Assert.Equal("None", c.StringAt("properties.publicAccess")));
    }

    [Fact]
    public void MainBicep_Storage_ContainerSoftDeleteOn_BlobSoftDeleteAndVersioningOff()
    {
        var blobService = compiled.Template.Single("Microsoft.Storage/storageAccounts/blobServices");

        Assert.True(blobService.BoolAt("properties.containerDeleteRetentionPolicy.enabled"));
        Assert.Equal(7, (int?)blobService.At("properties.containerDeleteRetentionPolicy.days"));
        Assert.False(blobService.BoolAt("properties.deleteRetentionPolicy.enabled"));
        Assert.False(blobService.BoolAt("properties.isVersioningEnabled"));
    }

    [Fact]
    public void MainBicep_Storage_CopiesOnlyFromTheSameTenant() =>
        Assert.Equal("AAD", StorageAccount.StringAt("properties.allowedCopyScope"));

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
        var rule = Assert.Single(policy.At("properties.policy.rules")!.AsArray())!;

        Assert.True(rule.BoolAt("enabled"));
        var prefix = Assert.Single(rule.At("definition.filters.prefixMatch")!.AsArray().Select(p => (string)p!));
        Assert.Equal("[format('{0}/', parameters('stagingContainerName'))]", prefix); // "<container>/": only that container
        Assert.Equal("[variables('stagingRetentionDays')]", rule.StringAt("definition.actions.baseBlob.delete.daysAfterModificationGreaterThan"));
    }
}
