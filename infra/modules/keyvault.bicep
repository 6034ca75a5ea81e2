// Key Vault for the app's secrets: the Graph app registration's credential (client secret, or a
// certificate; stored by the operator) and the push provider's secret (the Notification Hubs
// connection string or the webhook key; written by the deployment). RBAC authorization only
// (no access policies); the app reads secrets through Key Vault references resolved with its
// user-assigned identity (Key Vault Secrets User).
param name string
param location string
param tags object = {}

@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

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
    // Purge protection cannot be turned off again once enabled: a deleted vault (and the
    // Graph credential in it) stays recoverable for the whole retention period.
    enablePurgeProtection: true
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

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
