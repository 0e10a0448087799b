// BitsFunctions infrastructure: a BITS upload server on Azure Functions (Flex Consumption, .NET 10 isolated worker).
//
// Scope: one resource group (targetScope = 'resourceGroup'), so both of these work:
//   az deployment group create -g <rg> -f infra/main.bicep -p infra/main.bicepparam
//   azd up            (azd deploys at resource-group scope when AZURE_RESOURCE_GROUP is set, or prompts for one)
//
// Why plain resources instead of Azure Verified Modules (AVM): AVM modules are pulled from the public Bicep
// registry (br/public:...) at restore time. This repository is built and tested offline, where that restore fails
// and `bicep build` with it. Plain resource declarations with pinned API versions need no restore, compile anywhere
// and can be asserted on by tests/Bits.Infra.Tests. The layout and settings otherwise follow the azd Flex
// Consumption quickstart (user-assigned identity, shared keys off, identity-based settings, guid() role names).
//
// Security posture: no secrets anywhere. Storage shared-key access is disabled, so the app, the Functions host and
// the Flex deployment all authenticate with the user-assigned identity; Application Insights rejects
// instrumentation-key-only ingestion (DisableLocalAuth) and the app authenticates to it with the same identity.

targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('azd environment name; part of the resource-name token and the azd-env-name tag.')
param environmentName string

@minLength(1)
@description('Region for every resource. It must offer the Flex Consumption plan.')
param location string = resourceGroup().location

@minLength(3)
@maxLength(63)
@description('Blob container that receives the published uploads (BitsStorage:UploadContainer).')
param uploadContainerName string = 'uploads'

@minLength(3)
@maxLength(63)
@description('Blob container for per-session staging segments (BitsStorage:StagingContainer).')
param stagingContainerName string = 'bits-staging'

@minLength(3)
@maxLength(63)
@description('Table holding BITS sessions and tombstones (BitsStorage:SessionTable).')
param sessionTableName string = 'bitssessions'

@minLength(3)
@maxLength(63)
@description('Storage queue for upload-completed events (reserved for later use).')
param completionQueueName string = 'bits-completed'

@minValue(1)
@description('Safety net: the lifecycle policy deletes staging blobs not modified for this many days. Keep it above the BITS session timeout.')
param stagingRetentionDays int = 30

@minValue(1)
@description('Largest file a client may upload, in bytes (Bits:MaxUploadBytes; IIS BITSMaximumUploadSize). Default 10 GiB.')
param maxUploadBytes int = 10737418240

@description('Whether an upload may replace an existing blob (Bits:AllowOverwrites; IIS BITSAllowOverwrites).')
param allowOverwrites bool = false

@minValue(1)
@maxValue(1000)
@description('Flex Consumption scale-out limit.')
param maximumInstanceCount int = 100

@minValue(512)
@maxValue(4096)
@description('Flex Consumption instance memory size in MB: 512, 2048 or 4096 (checked by Azure; a plain int so main.bicepparam can read it from the environment).')
param instanceMemoryMB int = 2048

// Resource-name abbreviations as in the azd templates (kept inline: infra/*.json is git-ignored in this repository).
var abbrs = {
  managedIdentity: 'id-'
  storageAccount: 'st'
  logAnalytics: 'log-'
  appInsights: 'appi-'
  appServicePlan: 'plan-'
  functionApp: 'func-'
}

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}

var functionAppName = '${abbrs.functionApp}api-${resourceToken}'
var storageAccountName = '${abbrs.storageAccount}${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'

// Identity used by the Functions host, the Flex deployment and the BITS app for every data-plane call.
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: '${abbrs.managedIdentity}api-${resourceToken}'
  location: location
  tags: tags
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: storageAccountName
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    uploadContainerName: uploadContainerName
    stagingContainerName: stagingContainerName
    sessionTableName: sessionTableName
    completionQueueName: completionQueueName
    stagingRetentionDays: stagingRetentionDays
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: '${abbrs.logAnalytics}${resourceToken}'
    appInsightsName: '${abbrs.appInsights}${resourceToken}'
    location: location
    tags: tags
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  params: {
    storageAccountName: storage.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    identityId: identity.id
    identityPrincipalId: identity.properties.principalId
  }
}

module api 'modules/functionapp.bicep' = {
  name: 'api'
  params: {
    name: functionAppName
    planName: '${abbrs.appServicePlan}${resourceToken}'
    location: location
    tags: union(tags, { 'azd-service-name': 'api' })
    identityId: identity.id
    identityClientId: identity.properties.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    appInsightsName: monitoring.outputs.appInsightsName
    uploadContainerName: uploadContainerName
    stagingContainerName: stagingContainerName
    sessionTableName: sessionTableName
    maxUploadBytes: maxUploadBytes
    allowOverwrites: allowOverwrites
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
  // The host reads its storage and the deployment package with the identity from its first start.
  dependsOn: [
    rbac
  ]
}

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output RESOURCE_GROUP string = resourceGroup().name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.properties.clientId
// BITS clients upload to <UPLOAD_BASE_URL><blob name>; the app serves the route /uploads/{*path} (host.json routePrefix "").
output UPLOAD_BASE_URL string = 'https://${api.outputs.defaultHostName}/uploads/'
