// Data-plane roles, least privilege per identity. Names are guid(scope, identity, role), so redeployments are
// idempotent and two environments never collide.
//
// Host identity (Functions host storage AzureWebJobsStorage__*, the Flex deployment container, telemetry):
//   Storage Blob Data Owner on the account (what Microsoft documents for identity-based host storage; the host
//   creates its own azure-webjobs-* containers), Monitoring Metrics Publisher on Application Insights (required with
//   DisableLocalAuth; the worker's exporter signs with the same identity, APPLICATIONINSIGHTS_AUTHENTICATION_STRING).
//
// App identity (BitsStorage:ManagedIdentityClientId, the internet-facing BITS code):
//   Storage Blob Data Contributor on each of its containers (upload, staging, areas), not on the account;
//   Storage Table Data Contributor on the session table; Storage Queue Data Message Sender on the completion queue;
//   Storage Blob Delegator on the account: the user delegation key behind the read SAS of Put Block From URL and the
//   by-reference upload-reply URLs (generateUserDelegationKey is an account-level action; Delegator grants nothing else).
//
// Deployer (optional, grantDeployerAccess): blob, table and queue data contributor on the account, to look at uploads
// and sessions. No principalType: the deployer may be a user or a service principal.

param storageAccountName string
param appInsightsName string

@description('Resource id of the host identity (stable at deployment start, used in role-assignment names).')
param hostIdentityId string
param hostPrincipalId string

@description('Resource id of the app identity.')
param appIdentityId string
param appPrincipalId string

param appContainerNames array
param sessionTableName string
param completionQueueName string

@description('Object id that gets data roles for operators; empty for none.')
param deployerPrincipalId string = ''

// Built-in role definition ids (the same in every tenant), written inline so the compiled template names them.
var roles = {
  blobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  blobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  blobDelegator: 'db58b8e5-c6ad-4a2a-8342-4190687cbf4a'
  tableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  queueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  queueMessageSender: 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
  metricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
}

resource storageAccount 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName

  resource blobService 'blobServices' existing = {
    name: 'default'
  }

  resource tableService 'tableServices' existing = {
    name: 'default'

    resource sessionTable 'tables' existing = {
      name: sessionTableName
    }
  }

  resource queueService 'queueServices' existing = {
    name: 'default'

    resource completionQueue 'queues' existing = {
      name: completionQueueName
    }
  }
}

resource appContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' existing = [
  for container in appContainerNames: {
    parent: storageAccount::blobService
    name: container
  }
]

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// --- Host identity ---

resource hostBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, hostIdentityId, roles.blobDataOwner)
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataOwner)
    principalId: hostPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource hostMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, hostIdentityId, roles.metricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.metricsPublisher)
    principalId: hostPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// --- App identity ---

resource appBlobDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (container, i) in appContainerNames: {
    name: guid(appContainers[i].id, appIdentityId, roles.blobDataContributor)
    scope: appContainers[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDataContributor)
      principalId: appPrincipalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource appBlobDelegator 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, appIdentityId, roles.blobDelegator)
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.blobDelegator)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appTableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount::tableService::sessionTable.id, appIdentityId, roles.tableDataContributor)
  scope: storageAccount::tableService::sessionTable
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.tableDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource appQueueMessageSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount::queueService::completionQueue.id, appIdentityId, roles.queueMessageSender)
  scope: storageAccount::queueService::completionQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.queueMessageSender)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// --- Deployer (optional) ---

var deployerRoles = empty(deployerPrincipalId) ? [] : [
  roles.blobDataContributor
  roles.tableDataContributor
  roles.queueDataContributor
]

resource deployerDataRoles 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in deployerRoles: {
    name: guid(storageAccount.id, deployerPrincipalId, role)
    scope: storageAccount
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
      principalId: deployerPrincipalId
    }
  }
]
