// Log Analytics workspace plus workspace-based Application Insights. Local (instrumentation-key) authentication is
// disabled: telemetry is accepted only with a Microsoft Entra token, which the app obtains with its identity
// (APPLICATIONINSIGHTS_AUTHENTICATION_STRING) and which requires Monitoring Metrics Publisher (see rbac.bicep).

param logAnalyticsName string
param appInsightsName string
param location string
param tags object

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

output appInsightsName string = appInsights.name
