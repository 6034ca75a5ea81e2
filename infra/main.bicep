// Mail push for Exchange Online: everything `azd up` provisions.
// Subscription scope so the resource group itself is part of the deployment.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; also seeds the unique resource token.')
param environmentName string

@minLength(1)
@description('Region for all resources. It must offer the Flex Consumption plan (az functionapp list-flexconsumption-locations).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object ID of the deploying user or service principal (azd sets AZURE_PRINCIPAL_ID). Empty: no developer roles.')
param principalId string = ''

@allowed(['User', 'ServicePrincipal'])
@description('Type of principalId. Use ServicePrincipal when deploying from a pipeline.')
param principalType string = 'User'

@minLength(1)
@description('Entra ID tenant (GUID) of the Graph app registration, i.e. the Exchange Online tenant.')
param graphTenantId string

@minLength(1)
@description('Application (client) ID of the Graph app registration.')
param graphClientId string

@minLength(1)
@description('Audience of the mobile app\'s access tokens for the devices API: App ID URI (api://...) and/or client id, comma-separated.')
param deviceApiAudience string

@description('Set to true once the secret "graph-client-secret" exists in the Key Vault; GRAPH_CLIENT_SECRET then becomes a Key Vault reference.')
param graphClientSecretInKeyVault bool = false

@allowed(['global', 'usgov', 'usgovdod', 'china'])
@description('National cloud of the Graph tenant: selects the Graph endpoint and the authority host.')
param graphCloud string = 'global'

@minLength(1)
@maxLength(40)
@description('Prefix for the app\'s table names (letters and digits, starting with a letter).')
param tableNamePrefix string = 'mailpush'

@minValue(1)
@maxValue(1000)
@description('EWS-to-Graph migration: users moved per maintenance run.')
param migrationBatchSize int = 50

@minLength(1)
@description('NCRONTAB (six fields, with seconds) for the subscription-maintenance timer.')
param maintenanceSchedule string = '0 */5 * * * *'

@minValue(40)
@maxValue(1000)
@description('Flex Consumption scale-out limit (instances).')
param maximumInstanceCount int = 100

@allowed(['notification-hubs', 'webhook'])
@description('Push provider (PUSH_PROVIDER): notification-hubs creates a Notification Hubs namespace and hub; webhook posts signed pushes to your own gateway. (The app refuses `local` in Azure.)')
param pushProvider string = 'notification-hubs'

@allowed(['Free', 'Basic', 'Standard'])
@description('Notification Hubs tier (pushProvider notification-hubs). Free is for a pilot only: 500 active devices and 1 million pushes a month, no SLA. Production: Basic (200,000 devices) or Standard (10 million).')
param notificationHubsSku string = 'Free'

@description('https URL of your push gateway (pushProvider webhook; required then).')
param pushWebhookUrl string = ''

@secure()
@description('HMAC-SHA256 key shared with the push gateway, at least 32 characters (pushProvider webhook; required then). Written to Key Vault.')
param pushWebhookSecret string = ''

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}

var functionAppName = '${abbrs.webSitesFunctions}api-${resourceToken}'
var deploymentContainerName = 'app-package-${take(resourceToken, 7)}'
var notificationQueueName = 'mail-notifications'

// Push provider resources. The deployment writes these two Key Vault secrets itself; the Graph
// client secret is the only one the operator stores by hand.
var notificationHubNamespaceName = '${abbrs.notificationHubsNamespaces}${resourceToken}'
var notificationHubName = '${abbrs.notificationHubsNamespacesNotificationHubs}${resourceToken}'
var notificationHubConnectionStringSecretName = 'notification-hub-connection-string'
var pushWebhookSecretName = 'push-webhook-secret'

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity './modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage './modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module monitoring './modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

module serviceBus './modules/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    name: '${abbrs.serviceBusNamespaces}${resourceToken}'
    location: location
    tags: tags
    queueName: notificationQueueName
  }
}

module keyVault './modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
  }
}

// Only the chosen provider's resources exist.
module notificationHubs './modules/notification-hubs.bicep' = if (pushProvider == 'notification-hubs') {
  name: 'notification-hubs'
  scope: rg
  params: {
    namespaceName: notificationHubNamespaceName
    hubName: notificationHubName
    location: location
    tags: tags
    skuName: notificationHubsSku
    keyVaultName: keyVault.outputs.name
    connectionStringSecretName: notificationHubConnectionStringSecretName
  }
}

module pushWebhook './modules/push-webhook.bicep' = if (pushProvider == 'webhook') {
  name: 'push-webhook'
  scope: rg
  params: {
    keyVaultName: keyVault.outputs.name
    secretName: pushWebhookSecretName
    secret: pushWebhookSecret
  }
}

module rbac './modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    serviceBusNamespaceName: serviceBus.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    identityPrincipalId: identity.outputs.principalId
    principalId: principalId
    principalType: principalType
  }
}

module api './modules/function-app.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    notificationQueueName: serviceBus.outputs.queueName
    notificationMaxDeliveryCount: serviceBus.outputs.maxDeliveryCount
    keyVaultUri: keyVault.outputs.uri
    graphClientSecretInKeyVault: graphClientSecretInKeyVault
    graphTenantId: graphTenantId
    graphClientId: graphClientId
    graphCloud: graphCloud
    deviceApiAudience: deviceApiAudience
    tableNamePrefix: tableNamePrefix
    migrationBatchSize: migrationBatchSize
    maintenanceSchedule: maintenanceSchedule
    maximumInstanceCount: maximumInstanceCount
    pushProvider: pushProvider
    notificationHubName: notificationHubName
    notificationHubConnectionStringSecretName: notificationHubConnectionStringSecretName
    pushWebhookUrl: pushWebhookUrl
    pushWebhookSecretName: pushWebhookSecretName
  }
  // The host starts as soon as the site exists; granting its roles first avoids a first
  // start that cannot reach storage, Service Bus or Key Vault. The push secrets must be in the
  // vault before the app's Key Vault references are first resolved. (A dependency on a module
  // whose condition is false is dropped.)
  dependsOn: [
    rbac
    notificationHubs
    pushWebhook
  ]
}

// azd stores these in the environment (.azure/<env>/.env); names match the app settings
// where the local runner needs the same value.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output AZURE_FUNCTION_URL string = api.outputs.url
output AZURE_USER_ASSIGNED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output SERVICEBUS_NAMESPACE string = serviceBus.outputs.name
output SERVICEBUS_FULLY_QUALIFIED_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output NOTIFICATION_QUEUE_NAME string = serviceBus.outputs.queueName
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output TABLES_ENDPOINT string = storage.outputs.tableEndpoint
output KEY_VAULT_NAME string = keyVault.outputs.name
output KEY_VAULT_URI string = keyVault.outputs.uri
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString
// For the post-deployment APNs / FCM v1 credential upload (empty with pushProvider webhook).
output NOTIFICATION_HUB_NAMESPACE string = pushProvider == 'notification-hubs' ? notificationHubNamespaceName : ''
output NOTIFICATION_HUB_NAME string = pushProvider == 'notification-hubs' ? notificationHubName : ''
