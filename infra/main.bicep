// BitsFunctions infrastructure: a BITS upload server on Azure Functions (Flex Consumption, .NET 10 isolated worker).
//
// Scope: one resource group (targetScope = 'resourceGroup'), so both of these work:
//   azd up            (parameters from infra/main.parameters.json; azd asks for those without a value, e.g. authentication)
//   az deployment group create -g <rg> -f infra/main.bicep -p environmentName=<name> authentication=<choice> ...
//
// Why plain resources instead of Azure Verified Modules (AVM): AVM modules are pulled from the public Bicep
// registry (br/public:...) at restore time. This repository is built and tested offline, where that restore fails
// and `bicep build` with it. Plain resource declarations with pinned API versions need no restore, compile anywhere
// and can be asserted on by tests/Bits.Infra.Tests. The layout otherwise follows the azd Flex Consumption quickstart
// (user-assigned identities, shared keys off, identity-based settings, guid() role names).
//
// Security posture: no secrets anywhere. Storage shared-key access is disabled; two user-assigned identities split
// the work: the host identity (Functions host storage, deployment package, telemetry) and the app identity (the
// internet-facing BITS code: its containers, table and queue only, plus Key Vault references). Application Insights
// rejects instrumentation-key-only ingestion (DisableLocalAuth). Who may upload is an explicit choice
// (`authentication`, no default): Basic users whose password hashes live in Key Vault, Entra ID bearer tokens, or the
// function key alone with per-address limits.

targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('azd environment name; part of the resource-name token and the azd-env-name tag.')
param environmentName string

@description('Region for every resource: the resource group\'s by default. It must offer the Flex Consumption plan (flexConsumptionRegions below).')
param location string = resourceGroup().location

// Authentication: deliberately without a default, so `azd up` asks (and remembers the answer in the environment).
@description('Who may upload. basic: HTTP Basic users (basicUserNames) whose password hashes are Key Vault secrets, the scheme Windows BITS clients speak natively. entra: Microsoft Entra ID bearer tokens sent as a custom header. key-only: anyone holding the function key, with per-address limits.')
@allowed([
  'basic'
  'entra'
  'key-only'
])
param authentication string

@description('basic: comma-separated Basic user names (letters, digits and hyphens). Each reads its password hash from the Key Vault secret "bits-basic-<user>".')
param basicUserNames string = ''

@description('entra: token issuer, e.g. https://login.microsoftonline.com/<tenant id>/v2.0 (Bits:Authentication:BearerTokens:Authority).')
param entraAuthority string = ''

@description('entra: expected audience of the tokens, the API\'s client id or application id URI (Bits:Authentication:BearerTokens:Audience).')
param entraAudience string = ''

@description('entra (and basic): comma-separated users allowed to upload (Bits:Authentication:AllowedUsers); empty allows every authenticated user.')
param allowedUsers string = ''

@minValue(0)
@description('key-only: sessions one client address may create per minute (Bits:RateLimits:AnonymousSessionsPerAddress; 0 = off).')
param anonymousSessionsPerAddress int = 20

@description('Deploy a Key Vault for Key Vault references (always deployed when authentication is basic).')
param enableKeyVault bool = false

@minLength(3)
@maxLength(63)
@description('Blob container that receives the published uploads (BitsStorage:UploadContainer).')
param uploadContainerName string = 'uploads'

@minLength(3)
@maxLength(63)
@description('Blob container for per-session staging data (BitsStorage:StagingContainer).')
param stagingContainerName string = 'bits-staging'

@description('Comma-separated containers of upload areas (Bits:Areas:<name>:Container), created here and writable by the app identity; the app creates nothing at start-up.')
param areaContainerNames string = ''

@minLength(3)
@maxLength(63)
@description('Table holding BITS sessions and tombstones (BitsStorage:SessionTable).')
param sessionTableName string = 'bitssessions'

@minLength(3)
@maxLength(63)
@description('Storage queue receiving an event after each published upload (Bits:CompletionQueue).')
param completionQueueName string = 'bits-completed'

// Uncommitted blocks expire after 7 days, so a session may stay idle 6 days at most.
@minValue(1)
@maxValue(6)
@description('Idle days after which a session and its staged data are removed (Bits:SessionTimeout). At most 6: staged data lives as uncommitted blocks, which Azure deletes after 7 days.')
param sessionTimeoutDays int = 6

@minValue(1)
@description('Largest file a client may upload, in bytes (Bits:MaxUploadBytes; IIS BITSMaximumUploadSize). Default 10 GiB.')
param maxUploadBytes int = 10737418240

@description('Whether an upload may replace an existing blob (Bits:AllowOverwrites; IIS BITSAllowOverwrites).')
param allowOverwrites bool = false

@minValue(1048576)
@maxValue(104857600)
@description('Largest Fragment body in bytes (Bits:MaxFragmentBytes); a larger one gets 413 and Windows retries with smaller fragments. Default 16 MiB.')
param maxFragmentBytes int = 16777216

@minValue(1)
@maxValue(1000)
@description('HTTP requests Flex sends to one instance at once. Bits:FragmentMemoryBytes is set to perInstanceConcurrency x maxFragmentBytes, which must fit in half of instanceMemoryMB.')
param perInstanceConcurrency int = 16

@minValue(1)
@maxValue(1000)
@description('Flex Consumption scale-out limit.')
param maximumInstanceCount int = 100

@allowed([
  512
  2048
  4096
])
@description('Flex Consumption instance memory size in MB.')
param instanceMemoryMB int = 2048

@minValue(0)
@description('Alert when the storage account holds more than this many bytes (0 = no alert). Default 1 TiB.')
param storageCapacityAlertBytes int = 1099511627776

@description('E-mail address the storage-capacity alert goes to; empty: the alert only shows in the portal.')
param alertEmail string = ''

@description('Deploy the Azure Monitor workbook "BITS uploads" (uploads, latency, errors, 503s, sessions, janitor).')
param deployWorkbook bool = true

@description('Object id of the deploying user or service principal (azd sets AZURE_PRINCIPAL_ID).')
param principalId string = ''

@description('Give principalId data access: blob, table and queue data on the storage account, Key Vault secrets. For operators; off by default.')
param grantDeployerAccess bool = false

// Resource-name abbreviations as in the azd templates (kept inline: infra/*.json is git-ignored in this repository).
var abbrs = {
  managedIdentity: 'id-'
  storageAccount: 'st'
  logAnalytics: 'log-'
  appInsights: 'appi-'
  appServicePlan: 'plan-'
  functionApp: 'func-'
  keyVault: 'kv-'
}

// Regions offering the Flex Consumption plan (`az functionapp list-flexconsumption-locations` lists the current ones;
// add a region here when Azure adds it). The location defaults to the resource group's region, so resources never
// land somewhere else than their group by accident; a region without Flex fails the deployment with this sentence.
var flexConsumptionRegions = [
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
]
var checkedLocation = contains(flexConsumptionRegions, location)
  ? location
  : fail('The region ${location} does not offer the Flex Consumption plan: create the resource group in one of the regions listed in infra/main.bicep (flexConsumptionRegions).')

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}

var functionAppName = '${abbrs.functionApp}api-${resourceToken}'
var storageAccountName = '${abbrs.storageAccount}${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'
var keyVaultName = '${abbrs.keyVault}${resourceToken}'
var useKeyVault = enableKeyVault || authentication == 'basic'
var basicUsers = filter(map(split(basicUserNames, ','), u => trim(u)), u => !empty(u))
var allowedUserList = filter(map(split(allowedUsers, ','), u => trim(u)), u => !empty(u))
var areaContainers = filter(map(split(areaContainerNames, ','), c => trim(c)), c => !empty(c))
// Every container the app writes to: created here (the app's BitsStorage:CreateResources is false in Azure).
var appContainers = union([uploadContainerName, stagingContainerName], areaContainers)

// The authentication choice must be complete: fail the deployment with a sentence rather than deploy an app that
// refuses to start or lets nobody in.
var checkedAuthentication = authentication == 'entra' && (empty(entraAuthority) || empty(entraAudience))
  ? fail('authentication entra needs entraAuthority and entraAudience (BITS_ENTRA_AUTHORITY, BITS_ENTRA_AUDIENCE).')
  : authentication == 'basic' && empty(basicUsers)
      ? fail('authentication basic needs at least one user in basicUserNames (BITS_BASIC_USERS).')
      : authentication

// Sizing rule (docs/architecture.md, "Sizing on Flex Consumption"): every request Flex lets in at once must find its
// fragment buffer, and all of them together must leave half of the instance to the runtime and the Functions host.
var fragmentMemoryBytes = perInstanceConcurrency * maxFragmentBytes
var fragmentMemoryBudgetBytes = instanceMemoryMB * 1048576 / 2
var checkedFragmentMemoryBytes = fragmentMemoryBytes <= fragmentMemoryBudgetBytes
  ? fragmentMemoryBytes
  : fail('perInstanceConcurrency x maxFragmentBytes must fit in half of instanceMemoryMB: lower one of them or raise instanceMemoryMB.')

// The Functions host, the Flex deployment and telemetry.
resource hostIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: '${abbrs.managedIdentity}host-${resourceToken}'
  location: checkedLocation
  tags: tags
}

// The BITS app (the internet-facing code): its own containers, table and queue only.
resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: '${abbrs.managedIdentity}app-${resourceToken}'
  location: checkedLocation
  tags: tags
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: storageAccountName
    location: checkedLocation
    tags: tags
    deploymentContainerName: deploymentContainerName
    appContainerNames: appContainers
    stagingContainerName: stagingContainerName
    sessionTableName: sessionTableName
    completionQueueName: completionQueueName
    sessionTimeoutDays: sessionTimeoutDays
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: '${abbrs.logAnalytics}${resourceToken}'
    appInsightsName: '${abbrs.appInsights}${resourceToken}'
    location: checkedLocation
    tags: tags
    deployWorkbook: deployWorkbook
    workbookName: guid(resourceGroup().id, environmentName, 'bits-workbook')
  }
}

module alerts 'modules/alerts.bicep' = if (storageCapacityAlertBytes > 0) {
  name: 'alerts'
  params: {
    storageAccountName: storage.outputs.name
    namePrefix: 'bits-${resourceToken}'
    tags: tags
    capacityThresholdBytes: storageCapacityAlertBytes
    alertEmail: alertEmail
  }
}

module rbac 'modules/rbac.bicep' = {
  name: 'rbac'
  params: {
    storageAccountName: storage.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    hostIdentityId: hostIdentity.id
    hostPrincipalId: hostIdentity.properties.principalId
    appIdentityId: appIdentity.id
    appPrincipalId: appIdentity.properties.principalId
    appContainerNames: appContainers
    sessionTableName: sessionTableName
    completionQueueName: completionQueueName
    deployerPrincipalId: grantDeployerAccess ? principalId : ''
  }
}

module vault 'modules/keyvault.bicep' = if (useKeyVault) {
  name: 'keyvault'
  params: {
    name: keyVaultName
    location: checkedLocation
    tags: tags
    readerIdentityId: appIdentity.id
    readerPrincipalId: appIdentity.properties.principalId
    deployerPrincipalId: grantDeployerAccess ? principalId : ''
  }
}

module api 'modules/functionapp.bicep' = {
  name: 'api'
  params: {
    name: functionAppName
    planName: '${abbrs.appServicePlan}${resourceToken}'
    location: checkedLocation
    tags: union(tags, { 'azd-service-name': 'api' })
    hostIdentityId: hostIdentity.id
    hostIdentityClientId: hostIdentity.properties.clientId
    appIdentityId: appIdentity.id
    appIdentityClientId: appIdentity.properties.clientId
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: deploymentContainerName
    appInsightsConnectionString: monitoring.outputs.connectionString
    keyVaultName: useKeyVault ? keyVaultName : ''
    authentication: checkedAuthentication
    basicUserNames: basicUsers
    entraAuthority: entraAuthority
    entraAudience: entraAudience
    allowedUsers: allowedUserList
    anonymousSessionsPerAddress: anonymousSessionsPerAddress
    uploadContainerName: uploadContainerName
    stagingContainerName: stagingContainerName
    sessionTableName: sessionTableName
    completionQueueName: completionQueueName
    sessionTimeoutDays: sessionTimeoutDays
    maxUploadBytes: maxUploadBytes
    allowOverwrites: allowOverwrites
    maxFragmentBytes: maxFragmentBytes
    fragmentMemoryBytes: checkedFragmentMemoryBytes
    perInstanceConcurrency: perInstanceConcurrency
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
  // The host reads its storage and the deployment package with its identity from its first start, and the app
  // resolves its Key Vault references with the app identity.
  dependsOn: [
    rbac
    vault
  ]
}

output AZURE_LOCATION string = location
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output RESOURCE_GROUP string = resourceGroup().name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = appIdentity.properties.clientId
output AZURE_KEY_VAULT_NAME string = useKeyVault ? keyVaultName : ''
// BITS clients upload to <UPLOAD_BASE_URL><blob name>; the app serves the route /uploads/{*path} (host.json routePrefix "").
output UPLOAD_BASE_URL string = 'https://${api.outputs.defaultHostName}/uploads/'
