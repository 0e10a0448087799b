// An alert on the storage account's used capacity: with key-only authentication anyone holding the one function key
// can fill the account, and even with user authentication a forgotten area or a runaway client shows up here first.
// UsedCapacity is emitted about once an hour, hence the hourly evaluation over a six-hour window.

param storageAccountName string
param namePrefix string
param tags object

param capacityThresholdBytes int

@description('E-mail receiver; empty: the alert fires without notifying anyone (visible in the portal).')
param alertEmail string = ''

resource storageAccount 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: '${namePrefix}-alerts'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'bits'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

resource capacityAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-storage-capacity'
  location: 'global'
  tags: tags
  properties: {
    description: 'The BITS storage account holds more data than expected.'
    severity: 2
    enabled: true
    scopes: [
      storageAccount.id
    ]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT6H'
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
      allOf: [
        {
          criterionType: 'StaticThresholdCriterion'
          name: 'UsedCapacity'
          metricNamespace: 'Microsoft.Storage/storageAccounts'
          metricName: 'UsedCapacity'
          operator: 'GreaterThan'
          threshold: capacityThresholdBytes
          timeAggregation: 'Average'
        }
      ]
    }
    actions: empty(alertEmail) ? [] : [
      {
        actionGroupId: actionGroup.id
      }
    ]
  }
}
