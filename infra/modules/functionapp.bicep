// Flex Consumption (FC1, Linux) plan and the Function App running the .NET 10 isolated worker.
// All settings are identity-based: no connection strings with keys, no SAS tokens.

param name string
param planName string
param location string
param tags object

@description('Resource id of the host identity (Functions host storage, deployment, telemetry).')
param hostIdentityId string
param hostIdentityClientId string

@description('Resource id of the app identity (the BITS code\'s storage calls, Key Vault references).')
param appIdentityId string
param appIdentityClientId string

param blobEndpoint string
param queueEndpoint string
param tableEndpoint string
param deploymentContainerName string
param appInsightsConnectionString string

@description('Key Vault holding the Basic password hashes; empty when none is deployed.')
param keyVaultName string

@allowed([
  'basic'
  'entra'
  'key-only'
])
param authentication string
param basicUserNames array
param entraAuthority string
param entraAudience string
param allowedUsers array

@minValue(0)
param anonymousSessionsPerAddress int

param uploadContainerName string
param stagingContainerName string
param sessionTableName string
param completionQueueName string

@minValue(1)
@maxValue(6)
param sessionTimeoutDays int

@minValue(1)
param maxUploadBytes int
param allowOverwrites bool

@minValue(1048576)
@maxValue(104857600)
param maxFragmentBytes int

@description('perInstanceConcurrency x maxFragmentBytes, checked against instanceMemoryMB in main.bicep.')
param fragmentMemoryBytes int

@minValue(1)
@maxValue(1000)
param perInstanceConcurrency int

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int

// The settings every deployment has. Values come from parameters only, so the compiled template lists them as
// they are (tests/Bits.Infra.Tests reads them there).
var fixedAppSettings = [
  // Functions host storage over the host identity (no AzureWebJobsStorage connection string).
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: hostIdentityClientId
  }
  {
    name: 'AzureWebJobsStorage__blobServiceUri'
    value: blobEndpoint
  }
  {
    name: 'AzureWebJobsStorage__queueServiceUri'
    value: queueEndpoint
  }
  {
    name: 'AzureWebJobsStorage__tableServiceUri'
    value: tableEndpoint
  }
  // Application Insights with Microsoft Entra authentication (local auth is disabled on the component).
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsightsConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${hostIdentityClientId};Authorization=AAD'
  }
  // The BITS app's storage, with the app identity. The Bicep creates every container, the table and the queue, so
  // the app makes no storage calls before serving (CreateResources false).
  {
    name: 'BitsStorage__BlobServiceUri'
    value: blobEndpoint
  }
  {
    name: 'BitsStorage__TableServiceUri'
    value: tableEndpoint
  }
  {
    name: 'BitsStorage__QueueServiceUri'
    value: queueEndpoint
  }
  {
    name: 'BitsStorage__ManagedIdentityClientId'
    value: appIdentityClientId
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
    name: 'BitsStorage__CreateResources'
    value: 'false'
  }
  // Protocol settings.
  {
    name: 'Bits__PublicBaseUrl'
    value: 'https://${name}.azurewebsites.net/'
  }
  {
    name: 'Bits__CompletionQueue'
    value: completionQueueName
  }
  {
    name: 'Bits__SessionTimeout'
    value: '${sessionTimeoutDays}.00:00:00'
  }
  {
    name: 'Bits__MaxUploadBytes'
    value: string(maxUploadBytes)
  }
  {
    name: 'Bits__AllowOverwrites'
    value: allowOverwrites ? 'true' : 'false'
  }
  // Sizing (docs/architecture.md, "Sizing on Flex Consumption"): perInstanceConcurrency requests, each holding at
  // most one fragment of MaxFragmentBytes, all fit in FragmentMemoryBytes, so none waits for memory.
  {
    name: 'Bits__MaxFragmentBytes'
    value: string(maxFragmentBytes)
  }
  {
    name: 'Bits__FragmentMemoryBytes'
    value: string(fragmentMemoryBytes)
  }
  // No Bits__ForwardedHeaders__*: the Functions host replaces X-Forwarded-For with the address it received the request
  // from and the worker applies it, so the app already sees the client's address. Only a front end added before the
  // app (Azure Front Door: its ranges and X-Azure-ClientIP) needs them; see the README.
  // Who may upload (the `authentication` parameter). key-only: the function key alone, anonymous to the app, limited
  // per client address.
  {
    name: 'Bits__Authentication__AllowAnonymous'
    value: authentication == 'key-only' ? 'true' : 'false'
  }
  {
    name: 'Bits__Authentication__Basic'
    value: authentication == 'basic' ? 'true' : 'false'
  }
  {
    name: 'Bits__Authentication__Bearer'
    value: authentication == 'entra' ? 'true' : 'false'
  }
  {
    name: 'Bits__Authentication__BearerTokens__Authority'
    value: authentication == 'entra' ? entraAuthority : ''
  }
  {
    name: 'Bits__Authentication__BearerTokens__Audience'
    value: authentication == 'entra' ? entraAudience : ''
  }
  {
    name: 'Bits__RateLimits__AnonymousSessionsPerAddress'
    value: string(authentication == 'key-only' ? anonymousSessionsPerAddress : 0)
  }
]

var allowedUserSettings = [
  for (user, i) in allowedUsers: {
    name: 'Bits__Authentication__AllowedUsers__${i}'
    value: user
  }
]

// Basic users: each password hash is a Key Vault reference, resolved by the app identity (keyVaultReferenceIdentity).
var basicUserSettings = [
  for user in (authentication == 'basic' ? basicUserNames : []): {
    name: 'Bits__Authentication__BasicUsers__${user}'
    value: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=bits-basic-${user})'
  }
]

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
      '${hostIdentityId}': {}
      '${appIdentityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientAffinityEnabled: false
    publicNetworkAccess: 'Enabled'
    // Key Vault references in app settings (the Basic password hashes) resolve with the app identity.
    keyVaultReferenceIdentity: appIdentityId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${blobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: hostIdentityId
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
        triggers: {
          http: {
            perInstanceConcurrency: perInstanceConcurrency
          }
        }
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: concat(fixedAppSettings, allowedUserSettings, basicUserSettings)
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
