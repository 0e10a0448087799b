using System.Text.Json.Nodes;
using Bits.Infra.Tests.Support;

namespace Bits.Infra.Tests;

/// <summary>
/// Least privilege (issue 16, point 4): the host identity keeps host storage, deployment and telemetry; the app
/// identity (the internet-facing code) gets data roles on its own containers, table and queue only, plus Storage Blob
/// Delegator for user-delegation SAS. Names are deterministic guid()s.
/// </summary>
public class MainBicepRoleAssignmentTests(CompiledMainTemplate compiled)
{
    private const string BlobDataOwner = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";
    private const string BlobDataContributor = "ba92f5b4-2d11-453d-a403-e96b0029c9fe";
    private const string BlobDelegator = "db58b8e5-c6ad-4a2a-8342-4190687cbf4a";
    private const string TableDataContributor = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3";
    private const string QueueDataContributor = "974c5e8b-45b9-4653-ba55-5f855dd0fb88";
    private const string QueueMessageSender = "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a";
    private const string MetricsPublisher = "3913510d-42f4-4e42-8a64-420c390055eb";

    private JsonObject Rbac => compiled.Template.ModuleTemplate("rbac");

    private List<JsonObject> Assignments => Rbac["resources"]!.AsArray().OfType<JsonObject>()
        .Where(r => (string?)r["type"] == "Microsoft.Authorization/roleAssignments").ToList();

    private string RoleOf(JsonObject assignment)
    {
        // roleDefinitionId is subscriptionResourceId(..., variables('roles').<key>): resolve the key.
        var expression = assignment.StringAt("properties.roleDefinitionId")!;
        var roles = Rbac["variables"]!["roles"]!.AsObject();
        var key = roles.Select(p => p.Key).SingleOrDefault(k => expression.Contains($"variables('roles').{k})", StringComparison.Ordinal));
        return key is null ? expression : (string)roles[key]!;
    }

    private JsonObject For(string principal, string role) =>
        Assert.Single(Assignments, a => a.StringAt("properties.principalId") == $"[parameters('{principal}')]" && RoleOf(a) == role);

    [Theory]
    [InlineData("hostPrincipalId", BlobDataOwner, "resourceId('Microsoft.Storage/storageAccounts', parameters('storageAccountName'))")]
    [InlineData("hostPrincipalId", MetricsPublisher, "resourceId('Microsoft.Insights/components', parameters('appInsightsName'))")]
    [InlineData("appPrincipalId", BlobDataContributor, "resourceId('Microsoft.Storage/storageAccounts/blobServices/containers', parameters('storageAccountName'), 'default', parameters('appContainerNames')[copyIndex()])")]
    [InlineData("appPrincipalId", BlobDelegator, "resourceId('Microsoft.Storage/storageAccounts', parameters('storageAccountName'))")]
    [InlineData("appPrincipalId", TableDataContributor, "resourceId('Microsoft.Storage/storageAccounts/tableServices/tables', parameters('storageAccountName'), 'default', parameters('sessionTableName'))")]
    [InlineData("appPrincipalId", QueueMessageSender, "resourceId('Microsoft.Storage/storageAccounts/queueServices/queues', parameters('storageAccountName'), 'default', parameters('completionQueueName'))")]
    public void RoleAssignment_GrantsExactlyThisRoleAtThisScope(string principal, string role, string scope)
    {
        var assignment = For(principal, role);

        Assert.Equal($"[{scope}]", assignment.StringAt("scope"));
        Assert.StartsWith("[guid(", assignment.StringAt("name"), StringComparison.Ordinal);
        Assert.Equal("ServicePrincipal", assignment.StringAt("properties.principalType"));
    }

    [Fact]
    public void AppIdentity_HasNoAccountWideDataRole()
    {
        var app = Assignments.Where(a => a.StringAt("properties.principalId") == "[parameters('appPrincipalId')]").ToList();

        Assert.Equal(4, app.Count);
        Assert.DoesNotContain(app, a => RoleOf(a) is BlobDataOwner or QueueDataContributor);
        // Only the Delegator (an account-level action by nature) sits on the account.
        Assert.All(app.Where(a => a.StringAt("scope") == "[resourceId('Microsoft.Storage/storageAccounts', parameters('storageAccountName'))]"),
            a => Assert.Equal(BlobDelegator, RoleOf(a)));
    }

    [Fact]
    public void AppContainerRoles_CoverEveryContainerTheStorageModuleCreates()
    {
        var perContainer = For("appPrincipalId", BlobDataContributor);

        Assert.Equal("[length(parameters('appContainerNames'))]", perContainer.StringAt("copy.count"));
        Assert.Equal("[variables('appContainers')]", compiled.Template.ModuleArgument("rbac", "appContainerNames")!.GetValue<string>());
        Assert.Equal("[variables('appContainers')]", compiled.Template.ModuleArgument("storage", "appContainerNames")!.GetValue<string>());
        Assert.Equal(
            "[union(createArray(parameters('uploadContainerName'), parameters('stagingContainerName')), variables('areaContainers'))]",
            compiled.Template.Variable("appContainers")!.GetValue<string>());
    }

    [Fact]
    public void HostIdentity_HasOnlyHostRoles()
    {
        var host = Assignments.Where(a => a.StringAt("properties.principalId") == "[parameters('hostPrincipalId')]").Select(RoleOf).Order().ToList();

        Assert.Equal(new[] { MetricsPublisher, BlobDataOwner }.Order(), host);
    }

    [Fact]
    public void Deployer_GetsDataRolesOnlyWhenGiven()
    {
        var deployer = Assert.Single(Assignments, a => a.StringAt("properties.principalId") == "[parameters('deployerPrincipalId')]");

        Assert.Equal("[length(variables('deployerRoles'))]", deployer.StringAt("copy.count"));
        Assert.StartsWith("[if(empty(parameters('deployerPrincipalId')), createArray(), createArray(", Rbac["variables"]!["deployerRoles"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Null(deployer.StringAt("properties.principalType")); // a user or a service principal
    }

    [Fact]
    public void RoleAssignments_AllHaveDistinctGuidNames()
    {
        var names = compiled.Template.OfType("Microsoft.Authorization/roleAssignments").Select(a => a.StringAt("name")).ToList();

        Assert.All(names, n => Assert.Matches(@"^\[guid\(.+\)\]$", n));
        Assert.Equal(names.Count, names.Distinct().Count());
    }
}
