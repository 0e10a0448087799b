// Flex Consumption (FC1, Linux) plan and the Function App running the .NET 10 isolated worker.
// All settings are identity-based: no connection strings with keys, no SAS tokens.

param name string
param planName string
param location string
param tags object

@description('Resource id of the user-assigned identity.')
param identityId string

@description('Client id of the user-assigned identity.')
param identityClientId string

param storageAccountName string
param deploymentContainerName string
param appInsightsName string

param uploadContainerName string
param stagingContainerName string
param sessionTableName string

@minValue(1)
param maxUploadBytes int
param allowOverwrites bool

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@minValue(512)
@maxValue(4096)
param instanceMemoryMB int

resource storageAccount 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true // Linux
  }
}

resource functionApp 'Microsoft.Web/sites@2024-11-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientAffinityEnabled: false
    publicNetworkAccess: 'Enabled'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageAccount.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      runtime: {
        name: 'dotnet-isolated'
        version: '10.0'
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: [
        // Functions host storage over the identity (no AzureWebJobsStorage connection string).
        {
          name: 'AzureWebJobsStorage__credential'
          value: 'managedidentity'
        }
        {
          name: 'AzureWebJobsStorage__clientId'
          value: identityClientId
        }
        {
          name: 'AzureWebJobsStorage__blobServiceUri'
          value: storageAccount.properties.primaryEndpoints.blob
        }
        {
          name: 'AzureWebJobsStorage__queueServiceUri'
          value: storageAccount.properties.primaryEndpoints.queue
        }
        {
          name: 'AzureWebJobsStorage__tableServiceUri'
          value: storageAccount.properties.primaryEndpoints.table
        }
        // Application Insights with Microsoft Entra authentication (local auth is disabled on the component).
        {
          name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
          value: appInsights.properties.ConnectionString
        }
        {
          name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
          value: 'ClientId=${identityClientId};Authorization=AAD'
        }
        // The BITS app (sections BitsStorage and Bits).
        {
          name: 'BitsStorage__BlobServiceUri'
          value: storageAccount.properties.primaryEndpoints.blob
        }
        {
          name: 'BitsStorage__TableServiceUri'
          value: storageAccount.properties.primaryEndpoints.table
        }
        {
          name: 'BitsStorage__QueueServiceUri'
          value: storageAccount.properties.primaryEndpoints.queue
        }
        {
          name: 'BitsStorage__ManagedIdentityClientId'
          value: identityClientId
        }
        {
          name: 'BitsStorage__UploadContainer'
          value: uploadContainerName
        }
        {
          name: 'BitsStorage__StagingContainer'
          value: stagingContainerName
        }
        {
          name: 'BitsStorage__SessionTable'
          value: sessionTableName
        }
        {
          name: 'Bits__MaxUploadBytes'
          value: string(maxUploadBytes)
        }
        {
          name: 'Bits__AllowOverwrites'
          value: allowOverwrites ? 'true' : 'false'
        }
      ]
    }
  }
}

// Turn off basic (user name + password) publishing credentials for FTP and SCM; deployments use Microsoft Entra ID.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
