// Flex Consumption plan + Function App (Node 22) running as the user-assigned identity.
// App setting names are a contract with shared/config: change them in both places at once.
param name string
param planName string
param location string
param tags object = {}

@description('Resource ID of the user-assigned managed identity the app runs as.')
param identityId string
@description('Client ID of that identity (DefaultAzureCredential / managed identity selection).')
param identityClientId string

@description('Storage service URIs for the identity-based AzureWebJobsStorage connection.')
param storageBlobEndpoint string
param storageQueueEndpoint string
param storageTableServiceEndpoint string
@description('TABLES_ENDPOINT: the app\'s table endpoint, no trailing slash.')
param storageTableEndpoint string
param deploymentContainerName string

param applicationInsightsConnectionString string

param serviceBusFullyQualifiedNamespace string
param notificationQueueName string
@description('IMPORT_QUEUE_NAME: queue of bulk-enrolment import chunks (mailbox-import-processor).')
param importQueueName string

param keyVaultUri string
// Which Graph credential the vault holds (main.bicep decides): only existing secrets are
// referenced, since a reference to a missing secret would reach the app as its literal text.
param graphClientSecretStored bool
param graphClientCertificateStored bool
param graphClientCertificatePasswordStored bool
param graphClientSecretName string
@description('When the Graph client secret expires (ISO date, e.g. 2027-06-30); empty: unknown. The status page warns 30 days ahead.')
param graphCredentialExpiresOn string = ''
param graphClientCertificateSecretName string
param graphClientCertificatePasswordSecretName string

param graphTenantId string
@description('DEVICE_API_TENANT_ID: the tenant GUID in the token issuer check (GRAPH_TENANT_ID may be a domain name).')
param deviceApiTenantId string
@description('Public https base URL Graph calls (custom domain or reverse proxy); empty: the app\'s own host name.')
param publicBaseUrl string = ''
param graphClientId string
param deviceApiAudience string
@allowed(['global', 'usgov', 'usgovdod', 'china'])
param graphCloud string

param tableNamePrefix string
param migrationBatchSize int
param migrationMaxAttempts int
param enrolmentGroupIds string
param enrolmentGroupRemove bool
@allowed(['off', 'groups', 'all'])
param enrolOnDeviceRegistration string
param consoleClientId string = ''
param maintenanceSchedule string
@allowed(['debug', 'info', 'warn', 'error'])
param logLevel string
@allowed(['full', 'subject', 'minimal'])
param defaultPrivacyMode string
param subscriptionWritesPer20Seconds int
param renewalWindowHours int
param deliveryRecordRetentionDays int
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
@description('True when client-state-keys.bicep wrote CLIENT_STATE_KEYS to Key Vault in this deployment.')
param clientStateKeysStored bool
@description('Key Vault secret written by client-state-keys.bicep.')
param clientStateKeysSecretName string

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048
@minValue(40)
@maxValue(1000)
@description('App-wide scale-out limit across all function groups.')
param maximumInstanceCount int = 100
@minValue(0)
@maxValue(20)
@description('Always-ready instances for the http group (webhooks, devices API): Graph\'s 10 s handshake and the 10%-slow rule leave no room for a cold start.')
param alwaysReadyHttpInstances int = 1
@minValue(1)
@maxValue(1000)
@description('Concurrent HTTP requests one instance takes before the http group scales out.')
param httpPerInstanceConcurrency int = 16

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
    // PUSH_WEBHOOK_SECRET, CLIENT_STATE_KEYS) resolve with the user-assigned identity;
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
        // Per-function scaling: the HTTP functions scale together as the group `http`, each
        // queue trigger on its own instances (function:notification-processor and
        // function:mailbox-import-processor), each on its own queue's length: an import backlog
        // scales the import processor, not the notification processor (both within
        // maximumInstanceCount).
        alwaysReady: alwaysReadyHttpInstances > 0
          ? [
              {
                name: 'http'
                instanceCount: alwaysReadyHttpInstances
              }
            ]
          : []
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

// Publishing only through the deployment container with Entra ID: no basic-auth (user name and
// password) publishing credentials for the SCM (Kudu) or FTP endpoints.
resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

// Entra ID authority host of each national cloud (the same table as shared/auth/clouds.ts).
// The mobile app's tokens come from the Graph tenant, so from its cloud, which need not be the
// cloud this deployment runs in, so environment().authentication.loginEndpoint would be wrong
// whenever the two differ: the linter's no-hardcoded-env-urls is silenced for this table only.
var entraAuthorityHosts = {
  #disable-next-line no-hardcoded-env-urls
  global: 'https://login.microsoftonline.com'
  #disable-next-line no-hardcoded-env-urls
  usgov: 'https://login.microsoftonline.us'
  #disable-next-line no-hardcoded-env-urls
  usgovdod: 'https://login.microsoftonline.us'
  #disable-next-line no-hardcoded-env-urls
  china: 'https://login.chinacloudapi.cn'
}

var effectivePublicBaseUrl = empty(publicBaseUrl) ? 'https://${functionApp.properties.defaultHostName}' : publicBaseUrl

var baseAppSettings = {
  // Functions host storage through the managed identity (no connection string, no key). Service
  // URIs rather than __accountName, which assumes the public cloud's host names.
  AzureWebJobsStorage__blobServiceUri: storageBlobEndpoint
  AzureWebJobsStorage__queueServiceUri: storageQueueEndpoint
  AzureWebJobsStorage__tableServiceUri: storageTableServiceEndpoint
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
  // Bulk-enrolment imports go in 100-row chunks to their own queue, never ahead of notifications.
  IMPORT_QUEUE_NAME: importQueueName
  // The processor logs a failure on the queue's last delivery as final: same number as the queue.
  NOTIFICATION_MAX_DELIVERY_COUNT: string(notificationMaxDeliveryCount)

  GRAPH_TENANT_ID: graphTenantId
  GRAPH_CLIENT_ID: graphClientId
  GRAPH_CLOUD: graphCloud

  // Mobile app tokens for POST/DELETE /api/devices. The tenant is always a GUID here: the issuer
  // check needs one, and GRAPH_TENANT_ID may be a domain name.
  DEVICE_API_AUDIENCE: deviceApiAudience
  DEVICE_API_TENANT_ID: deviceApiTenantId
  DEVICE_API_AUTHORITY_HOST: entraAuthorityHosts[graphCloud]

  // Graph must reach the webhook at this base URL (notificationUrl / lifecycleNotificationUrl).
  PUBLIC_BASE_URL: effectivePublicBaseUrl

  // Not a secret: when the client secret expires (empty: unknown), for the status page's warning.
  GRAPH_CLIENT_SECRET_EXPIRES_ON: graphCredentialExpiresOn
  MIGRATION_BATCH_SIZE: string(migrationBatchSize)
  MIGRATION_MAX_ATTEMPTS: string(migrationMaxAttempts)
  ENROLMENT_GROUP_IDS: enrolmentGroupIds
  ENROLMENT_GROUP_REMOVE: string(enrolmentGroupRemove)
  ENROL_ON_DEVICE_REGISTRATION: enrolOnDeviceRegistration
  // The web console's SPA app registration (MSAL sign-in); empty: console sign-in not configured.
  CONSOLE_CLIENT_ID: consoleClientId
  MAINTENANCE_SCHEDULE: maintenanceSchedule
  SUBSCRIPTION_WRITES_PER_20_SECONDS: string(subscriptionWritesPer20Seconds)
  RENEWAL_WINDOW_HOURS: string(renewalWindowHours)
  DELIVERY_RECORD_RETENTION_DAYS: string(deliveryRecordRetentionDays)
  DEFAULT_PRIVACY_MODE: defaultPrivacyMode
  LOG_LEVEL: logLevel

  PUSH_PROVIDER: pushProvider
}

// The Graph credential: a client secret or a certificate (PFX + optional password), each a Key
// Vault reference without a version, so a rotated secret is picked up when App Service refreshes.
var graphSecretAppSettings = graphClientSecretStored
  ? {
      GRAPH_CLIENT_SECRET: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${graphClientSecretName})'
    }
  : {}

var graphCertificateAppSettings = graphClientCertificateStored
  ? {
      GRAPH_CLIENT_CERTIFICATE_BASE64: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${graphClientCertificateSecretName})'
    }
  : {}
var graphCertificatePasswordAppSettings = graphClientCertificatePasswordStored
  ? {
      GRAPH_CLIENT_CERTIFICATE_PASSWORD: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${graphClientCertificatePasswordSecretName})'
    }
  : {}

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

// Signed clientStates. Without the setting the app creates unsigned ones, and signed ones still
// verify against the stored subscription, so a provision without keys breaks nothing.
var clientStateAppSettings = clientStateKeysStored
  ? {
      CLIENT_STATE_KEYS: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${clientStateKeysSecretName})'
    }
  : {}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(
    baseAppSettings,
    graphSecretAppSettings,
    graphCertificateAppSettings,
    graphCertificatePasswordAppSettings,
    pushAppSettings,
    clientStateAppSettings
  )
}

output id string = functionApp.id
output name string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
output url string = 'https://${functionApp.properties.defaultHostName}'
// What Graph (and the availability test) calls: the custom URL when one is set.
output publicBaseUrl string = effectivePublicBaseUrl
