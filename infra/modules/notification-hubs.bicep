// Notification Hubs namespace + hub for PUSH_PROVIDER=notification-hubs.
// The app registers installations and sends through the hub with @azure/notification-hubs, which
// only authenticates with a SAS connection string (no Entra ID for the data plane). So the hub
// gets one access policy with exactly the rights the app uses, and its connection string goes
// straight into Key Vault: it is never an output, a parameter or a plain app setting; the app
// reads it through a Key Vault reference resolved with its managed identity.
// APNs and FCM v1 credentials: a PUT of the hub replaces its properties, so a hub deployed
// without them loses credentials uploaded by hand. They are therefore parameters (kept in the azd
// environment) and sent with every deployment; with none given the hub gets none (docs/deploy.md).
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

@description('APNs token authentication: Key ID of the .p8 key (empty: no APNs credential).')
param apnsKeyId string = ''
@description('APNs: Apple Team ID.')
param apnsTeamId string = ''
@description('APNs: the iOS app\'s bundle ID.')
param apnsBundleId string = ''
@secure()
@description('APNs: the .p8 key without its BEGIN/END lines.')
param apnsToken string = ''
@allowed(['production', 'sandbox'])
@description('APNs environment: production, or sandbox for development builds.')
param apnsEnvironment string = 'production'

@description('FCM v1: Firebase project ID (empty: no FCM v1 credential).')
param fcmProjectId string = ''
@description('FCM v1: the service account\'s client e-mail.')
param fcmClientEmail string = ''
@secure()
@description('FCM v1: the service account\'s private key (PEM).')
param fcmPrivateKey string = ''

var apnsEndpoints = {
  production: 'https://api.push.apple.com:443/3/device'
  sandbox: 'https://api.development.push.apple.com:443/3/device'
}
var apnsCredential = empty(apnsToken)
  ? {}
  : {
      apnsCredential: {
        properties: {
          keyId: apnsKeyId
          appId: apnsTeamId
          appName: apnsBundleId
          token: apnsToken
          endpoint: apnsEndpoints[apnsEnvironment]
        }
      }
    }
var fcmV1Credential = empty(fcmPrivateKey)
  ? {}
  : {
      fcmV1Credential: {
        properties: {
          projectId: fcmProjectId
          clientEmail: fcmClientEmail
          privateKey: fcmPrivateKey
        }
      }
    }

resource hubNamespace 'Microsoft.NotificationHubs/namespaces@2023-10-01-preview' = {
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
    properties: union(apnsCredential, fcmV1Credential)
  }
}

// Listen: create, read and delete installations (POST/DELETE /api/devices, the daily channel
// check before a push). Send: the pushes. No Manage: the app never changes the hub itself.
// (The hub's own DefaultFullSharedAccessSignature also has Manage; the app does not use it.)
resource appRule 'Microsoft.NotificationHubs/namespaces/notificationHubs/authorizationRules@2023-10-01-preview' = {
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
