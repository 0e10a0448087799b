// Storage account for everything: Functions host storage, the Flex deployment package, BITS staging data,
// published uploads, the session table and the completion queue. Shared-key access is off: every caller uses
// Microsoft Entra ID (the host's and the app's user-assigned identities), SAS tokens can only be user-delegation SAS,
// and copy operations accept only sources in the same Entra tenant (allowedCopyScope AAD).
//
// Data protection: container soft delete (7 days; an account-wide setting) protects against a deleted container.
// Blob soft delete and versioning stay off on purpose: every deleted or replaced staging blob would be kept and billed.

@description('Storage account name (3-24 lower-case letters and digits).')
@minLength(3)
@maxLength(24)
param name string

param location string
param tags object

@description('Container the Flex Consumption plan deploys the app package from.')
param deploymentContainerName string

@description('Every container the BITS app writes to: the upload, staging and area containers.')
param appContainerNames array

param stagingContainerName string
param sessionTableName string
param completionQueueName string

@minValue(1)
@maxValue(6)
@description('Bits:SessionTimeout in days; the staging lifecycle rule deletes only what is older than that.')
param sessionTimeoutDays int

// A staging blob older than the session timeout belongs to a session the janitor should have removed; one day more
// keeps the safety net from ever touching a live (idle but unexpired) session.
var stagingRetentionDays = sessionTimeoutDays + 1

resource storageAccount 'Microsoft.Storage/storageAccounts@2025-01-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    allowedCopyScope: 'AAD'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-01-01' = {
  parent: storageAccount
  name: 'default'
  properties: {
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    deleteRetentionPolicy: {
      enabled: false
    }
    isVersioningEnabled: false
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource appContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' = [
  for container in appContainerNames: {
    parent: blobService
    name: container
    properties: {
      publicAccess: 'None'
    }
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2025-01-01' = {
  parent: storageAccount
  name: 'default'
}

resource sessionTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2025-01-01' = {
  parent: tableService
  name: sessionTableName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2025-01-01' = {
  parent: storageAccount
  name: 'default'
}

resource completionQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2025-01-01' = {
  parent: queueService
  name: completionQueueName
}

// Safety net for abandoned sessions: the app deletes staging data when a session is closed, cancelled or expires;
// anything it missed (crash, lost cleanup) in the staging container is removed here, one day after the session
// timeout. Staged data kept as uncommitted blocks on the destination blob needs no rule: Azure drops uncommitted
// blocks after 7 days, which is why the session timeout is at most 6 days. The policy runs about once a day.
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2025-01-01' = {
  parent: storageAccount
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'delete-stale-bits-staging'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'appendBlob'
                'blockBlob'
              ]
              prefixMatch: [
                '${stagingContainerName}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: stagingRetentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
  dependsOn: [
    appContainers
  ]
}

output name string = storageAccount.name
output id string = storageAccount.id
output blobEndpoint string = storageAccount.properties.primaryEndpoints.blob
output queueEndpoint string = storageAccount.properties.primaryEndpoints.queue
output tableEndpoint string = storageAccount.properties.primaryEndpoints.table
