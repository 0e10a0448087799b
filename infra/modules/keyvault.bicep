// Optional Key Vault for Key Vault references in app settings (`@Microsoft.KeyVault(VaultName=...;SecretName=...)`),
// e.g. the Basic password hashes (Bits:Authentication:BasicUsers:<user>). Access is Azure RBAC only (no access policies): the
// app identity, which the Function App names as keyVaultReferenceIdentity, gets Key Vault Secrets User (read secret
// values) on this vault alone; the deployer may get Key Vault Secrets Officer to add the hashes.

@minLength(3)
@maxLength(24)
param name string
param location string
param tags object

@description('Resource id of the identity that resolves the references (used in the role-assignment name).')
param readerIdentityId string
param readerPrincipalId string

@description('Object id that may manage secrets (Key Vault Secrets Officer); empty for none.')
param deployerPrincipalId string = ''

var roles = {
  secretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
  secretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'
}

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, readerIdentityId, roles.secretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.secretsUser)
    principalId: readerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource secretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  name: guid(vault.id, deployerPrincipalId, roles.secretsOfficer)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.secretsOfficer)
    principalId: deployerPrincipalId
  }
}

output name string = vault.name
