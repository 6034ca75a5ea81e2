// Key Vault for the app's secrets: the Graph app registration's credential (client secret, or a
// certificate; stored by the operator), the push provider's secret (the Notification Hubs
// connection string or the webhook key; written by the deployment) and the keys of signed
// clientStates (CLIENT_STATE_KEYS, when given; written by the deployment). RBAC authorization only
// (no access policies); the app reads secrets through Key Vault references resolved with its
// user-assigned identity (Key Vault Secrets User).
param name string
param location string
param tags object = {}

@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

// Purge protection cannot be turned off again once enabled: a deleted vault (and the Graph
// credential in it) stays recoverable for the whole retention period, and its name stays taken.
// Production: true. A throw-away test environment that is deleted and recreated: false.
@description('Enable purge protection (irreversible).')
param enablePurgeProtection bool = true

@description('Log Analytics workspace for the diagnostic settings.')
param logAnalyticsWorkspaceId string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    // The API refuses an explicit false ("cannot be disabled"): leave it unset instead.
    enablePurgeProtection: enablePurgeProtection ? true : null
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

// Audit logs: every secret read (the app's Key Vault references) and write (deployments).
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vault
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
