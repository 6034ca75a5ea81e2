// Flex Consumption plan + Function App (Node 20) running as the user-assigned identity.
// App setting names are a contract with shared/config: change them in both places at once.
param name string
param planName string
param location string
param tags object = {}

@description('Resource ID of the user-assigned managed identity the app runs as.')
param identityId string
@description('Client ID of that identity (DefaultAzureCredential / managed identity selection).')
param identityClientId string

param storageAccountName string
param storageBlobEndpoint string
param storageTableEndpoint string
param deploymentContainerName string

param applicationInsightsConnectionString string

param serviceBusFullyQualifiedNamespace string
param notificationQueueName string

param keyVaultUri string
param graphClientSecretInKeyVault bool
param graphClientSecretName string = 'graph-client-secret'

param graphTenantId string
param graphClientId string
param deviceApiAudience string
@allowed(['global', 'usgov', 'usgovdod', 'china'])
param graphCloud string

param tableNamePrefix string
param migrationBatchSize int
param maintenanceSchedule string
@description('MaxDeliveryCount of the notification queue (NOTIFICATION_MAX_DELIVERY_COUNT).')
param notificationMaxDeliveryCount int

@description('PUSH_PROVIDER; `local` is not offered: the app refuses it in Azure.')
@allowed(['notification-hubs', 'webhook'])
param pushProvider string
@description('Hub name (notification-hubs).')
param notificationHubName string
@description('Key Vault secret written by notification-hubs.bicep with the hub connection string.')
param notificationHubConnectionStringSecretName string
@description('Push gateway URL (webhook).')
param pushWebhookUrl string
@description('Key Vault secret written by push-webhook.bicep with the gateway key.')
param pushWebhookSecretName string

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  // azd finds the deployment target for service "api" by this tag.
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    // Key Vault references (GRAPH_CLIENT_SECRET, NOTIFICATION_HUB_CONNECTION_STRING,
    // PUSH_WEBHOOK_SECRET) resolve with the user-assigned identity;
    // there is no system-assigned identity to fall back on.
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      // No FTP/FTPS at all: deployments go through the Flex Consumption package container.
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'node'
        version: '20'
      }
    }
  }
}

// Entra ID authority host of each national cloud (the same table as shared/auth/clouds.ts).
// The mobile app's tokens come from the Graph tenant, so from its cloud; the app's own default
// for DEVICE_API_AUTHORITY_HOST is the global one.
var entraAuthorityHosts = {
  global: 'https://login.microsoftonline.com'
  usgov: 'https://login.microsoftonline.us'
  usgovdod: 'https://login.microsoftonline.us'
  china: 'https://login.chinacloudapi.cn'
}

var baseAppSettings = {
  // Functions host storage through the managed identity (no connection string, no key).
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId

  // Application Insights with local auth disabled: the host sends telemetry with an
  // Entra token for the user-assigned identity.
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'

  // Makes DefaultAzureCredential / ManagedIdentityCredential in our code pick the
  // user-assigned identity.
  AZURE_CLIENT_ID: identityClientId

  TABLES_ENDPOINT: storageTableEndpoint
  TABLE_NAME_PREFIX: tableNamePrefix

  // Identity-based Service Bus connection used by the queue trigger and by our sender.
  ServiceBusConnection__fullyQualifiedNamespace: serviceBusFullyQualifiedNamespace
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identityClientId
  NOTIFICATION_QUEUE_NAME: notificationQueueName
  // The processor logs a failure on the queue's last delivery as final: same number as the queue.
  NOTIFICATION_MAX_DELIVERY_COUNT: string(notificationMaxDeliveryCount)

  GRAPH_TENANT_ID: graphTenantId
  GRAPH_CLIENT_ID: graphClientId
  GRAPH_CLOUD: graphCloud

  // Mobile app tokens for POST/DELETE /api/devices; the tenant defaults to GRAPH_TENANT_ID.
  DEVICE_API_AUDIENCE: deviceApiAudience
  DEVICE_API_AUTHORITY_HOST: entraAuthorityHosts[graphCloud]

  // Graph must reach the webhook at this base URL (notificationUrl / lifecycleNotificationUrl).
  PUBLIC_BASE_URL: 'https://${functionApp.properties.defaultHostName}'

  MIGRATION_BATCH_SIZE: string(migrationBatchSize)
  MAINTENANCE_SCHEDULE: maintenanceSchedule

  PUSH_PROVIDER: pushProvider
}

// Only reference the secret once the operator has put it in the vault (see infra/README.md);
// a reference to a missing secret would leave the setting unresolved at start-up.
var graphSecretAppSettings = graphClientSecretInKeyVault ? {
  GRAPH_CLIENT_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${graphClientSecretName})'
} : {}

// The chosen push provider's settings. Secrets are Key Vault references only, never values:
// the provider's module has written its secret to the vault before this module runs (main.bicep).
var notificationHubsAppSettings = {
  NOTIFICATION_HUB_NAME: notificationHubName
  NOTIFICATION_HUB_CONNECTION_STRING: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${notificationHubConnectionStringSecretName})'
}
var webhookAppSettings = {
  PUSH_WEBHOOK_URL: pushWebhookUrl
  PUSH_WEBHOOK_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${pushWebhookSecretName})'
}
var pushAppSettings = pushProvider == 'notification-hubs' ? notificationHubsAppSettings : webhookAppSettings

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(baseAppSettings, graphSecretAppSettings, pushAppSettings)
}

output id string = functionApp.id
output name string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
output url string = 'https://${functionApp.properties.defaultHostName}'
