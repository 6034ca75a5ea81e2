// Notification Hubs namespace + hub for PUSH_PROVIDER=notification-hubs.
// The app registers installations and sends through the hub with @azure/notification-hubs, which
// only authenticates with a SAS connection string (no Entra ID for the data plane). So the hub
// gets one access policy with exactly the rights the app uses, and its connection string goes
// straight into Key Vault: it is never an output, a parameter or a plain app setting; the app
// reads it through a Key Vault reference resolved with its managed identity.
// APNs and FCM v1 credentials are not set here: the operator uploads them (infra/README.md).
param namespaceName string
param hubName string
param location string
param tags object = {}

@allowed(['Free', 'Basic', 'Standard'])
@description('Free: 500 active devices and 1 million pushes a month per namespace, no SLA (pilot only).')
param skuName string = 'Free'

@description('Key Vault that receives the connection string (the vault of keyvault.bicep).')
param keyVaultName string
@description('Name of the Key Vault secret that holds the hub connection string.')
param connectionStringSecretName string

@description('Name of the hub access policy the app uses.')
param authorizationRuleName string = 'mail-push-backend'

resource hubNamespace 'Microsoft.NotificationHubs/namespaces@2023-09-01' = {
  name: namespaceName
  location: location
  tags: tags
  sku: {
    name: skuName
  }
  properties: {
    namespaceType: 'NotificationHub'
    // Availability zones cost extra and can only be chosen when the namespace is created.
    zoneRedundancy: 'Disabled'
  }

  resource hub 'notificationHubs' = {
    name: hubName
    location: location
    tags: tags
    properties: {}
  }
}

// Listen: create, read and delete installations (POST/DELETE /api/devices, the daily channel
// check before a push). Send: the pushes. No Manage: the app never changes the hub itself.
// (The hub's own DefaultFullSharedAccessSignature also has Manage; the app does not use it.)
resource appRule 'Microsoft.NotificationHubs/namespaces/notificationHubs/authorizationRules@2023-09-01' = {
  parent: hubNamespace::hub
  name: authorizationRuleName
  properties: {
    rights: [
      'Listen'
      'Send'
    ]
  }
}

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

// Rewritten on every deployment, so a regenerated policy key reaches the vault with the next
// `azd provision` (the app picks it up when App Service refreshes the reference).
resource connectionString 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: keyVault
  name: connectionStringSecretName
  properties: {
    value: appRule.listKeys().primaryConnectionString
    contentType: 'Notification Hubs connection string (${authorizationRuleName}: Listen, Send)'
  }
}

output namespaceName string = hubNamespace.name
output hubName string = hubNamespace::hub.name
output authorizationRuleName string = appRule.name
