using Bits.Infra.Tests.Support;

namespace Bits.Infra.Tests;

/// <summary>The identity gets exactly the data-plane roles it needs, with deterministic guid() names.</summary>
public class MainBicepRoleAssignmentTests(CompiledMainTemplate compiled)
{
    [Theory]
    [InlineData("b7e6dc6d-f1e8-4753-8033-0f276bb0955b", "Microsoft.Storage/storageAccounts")] // Storage Blob Data Owner (includes generateUserDelegationKey)
    [InlineData("0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3", "Microsoft.Storage/storageAccounts")] // Storage Table Data Contributor
    [InlineData("974c5e8b-45b9-4653-ba55-5f855dd0fb88", "Microsoft.Storage/storageAccounts")] // Storage Queue Data Contributor
    [InlineData("3913510d-42f4-4e42-8a64-420c390055eb", "Microsoft.Insights/components")] // Monitoring Metrics Publisher
    public void MainBicep_RoleAssignment_GrantsRoleToIdentity(string roleDefinitionGuid, string scopeType)
    {
        var assignment = Assert.Single(compiled.Template.OfType("Microsoft.Authorization/roleAssignments"),
            r => r.StringAt("properties.roleDefinitionId")!.Contains(roleDefinitionGuid, StringComparison.OrdinalIgnoreCase));

        Assert.StartsWith("[guid(", assignment.StringAt("name"), StringComparison.Ordinal);
        Assert.Contains(scopeType, assignment.StringAt("scope"), StringComparison.Ordinal);
        Assert.Equal("[parameters('identityPrincipalId')]", assignment.StringAt("properties.principalId"));
        Assert.Equal("ServicePrincipal", assignment.StringAt("properties.principalType"));
    }

    [Fact]
    public void MainBicep_RoleAssignments_AllHaveGuidNames()
    {
        var assignments = compiled.Template.OfType("Microsoft.Authorization/roleAssignments").ToList();

        Assert.Equal(4, assignments.Count);
        Assert.All(assignments, a => Assert.Matches(@"^\[guid\(.+\)\]$", a.StringAt("name")));
        Assert.Equal(assignments.Count, assignments.Select(a => a.StringAt("name")).Distinct().Count());
    }
}
