// Log Analytics workspace plus workspace-based Application Insights. Local (instrumentation-key) authentication is
// disabled: telemetry is accepted only with a Microsoft Entra token, which the app obtains with its identity
// (APPLICATIONINSIGHTS_AUTHENTICATION_STRING) and which requires Monitoring Metrics Publisher (see rbac.bicep).

param logAnalyticsName string
param appInsightsName string
param location string
param tags object

@description('Deploy the "BITS uploads" workbook (infra/workbook/bits-uploads.workbook.json) on Application Insights.')
param deployWorkbook bool = true

@description('Resource name of the workbook (a GUID).')
param workbookName string

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: appInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

// Operators look, they do not query: the workbook charts the app's own OpenTelemetry metrics (customMetrics) and
// spans (dependencies). tests/Bits.Infra.Tests checks that every name it queries is one the code emits.
resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = if (deployWorkbook) {
  name: workbookName
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'BITS uploads'
    category: 'workbook'
    sourceId: appInsights.id
    serializedData: loadTextContent('../workbook/bits-uploads.workbook.json')
  }
}

output appInsightsName string = appInsights.name
output connectionString string = appInsights.properties.ConnectionString
