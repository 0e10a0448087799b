// Data-plane roles for the app's user-assigned identity. Names are guid(scope, identity, role), so redeployments
// are idempotent and two environments never collide.
//
// Blob: Storage Blob Data Owner on the account. It covers
//   - Functions host storage (AzureWebJobsStorage over identity; Microsoft documents Owner for the host),
//   - the Flex Consumption deployment container,
//   - the uploads and bits-staging containers used by the app.
// User-delegation SAS: the app signs short-lived read SAS URLs for Put Block From URL with a user delegation key.
// Getting that key needs the control-plane action
//   Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action,
// which the built-in roles Storage Blob Data Owner, Contributor and Reader all include (as does Storage Blob
// Delegator, which holds nothing else). So no separate Delegator assignment is needed.
//
// Table: Storage Table Data Contributor (session rows, tombstones; the app may create the table at start-up).
// Queue: Storage Queue Data Contributor (host storage needs and the bits-completed queue).
// Application Insights: Monitoring Metrics Publisher, required when DisableLocalAuth is true.

param storageAccountName string
param appInsightsName string

@description('Resource id of the user-assigned identity (stable at deployment start, used in role-assignment names).')
param identityId string

@description('Principal (object) id of the user-assigned identity.')
param identityPrincipalId string

// Built-in role definition ids (the same in every tenant), written inline so the compiled template names them.
//   b7e6dc6d-f1e8-4753-8033-0f276bb0955b  Storage Blob Data Owner
//   0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3  Storage Table Data Contributor
//   974c5e8b-45b9-4653-ba55-5f855dd0fb88  Storage Queue Data Contributor
//   3913510d-42f4-4e42-8a64-420c390055eb  Monitoring Metrics Publisher

resource storageAccount 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource blobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, identityId, 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b')
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b')
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource tableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, identityId, '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3')
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3')
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource queueDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, identityId, '974c5e8b-45b9-4653-ba55-5f855dd0fb88')
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '974c5e8b-45b9-4653-ba55-5f855dd0fb88')
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identityId, '3913510d-42f4-4e42-8a64-420c390055eb')
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '3913510d-42f4-4e42-8a64-420c390055eb')
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}
