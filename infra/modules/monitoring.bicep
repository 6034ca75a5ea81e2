// Log Analytics workspace + workspace-based Application Insights. Local (instrumentation
// key) auth is disabled, so telemetry is accepted only from Entra ID identities holding
// Monitoring Metrics Publisher (see rbac.bicep).
param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object = {}

@minValue(30)
@maxValue(730)
param retentionInDays int = 30

// A runaway log volume (a debug LOG_LEVEL left on, a retry storm) stops at the cap instead of
// at the bill. Ingestion stops until the next day once the cap is hit: alerts that read logs go
// blind, so the cap should sit well above a normal day (docs/deploy.md has the estimate).
@minValue(-1)
@description('Log Analytics daily ingestion cap in GB; -1: no cap.')
param dailyQuotaGb int = -1

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2022-10-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    workspaceCapping: {
      dailyQuotaGb: dailyQuotaGb
    }
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
    IngestionMode: 'LogAnalytics'
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

output logAnalyticsId string = logAnalytics.id
output applicationInsightsId string = applicationInsights.id
output applicationInsightsName string = applicationInsights.name
// The connection string identifies the component; with DisableLocalAuth it grants nothing
// on its own (ingestion also needs an Entra token), so it is not treated as a secret.
output connectionString string = applicationInsights.properties.ConnectionString
