// Mail push for Exchange Online: everything `azd up` provisions.
// Subscription scope so the resource group itself is part of the deployment.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; also seeds the unique resource token.')
param environmentName string

@minLength(1)
@description('Region for all resources. It must offer the Flex Consumption plan: the list is the public cloud\'s regions with Flex Consumption at the time of writing (check with az functionapp list-flexconsumption-locations and extend it when Azure adds regions).')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object ID of the deploying user or service principal (azd sets AZURE_PRINCIPAL_ID). Gets the local-debugging roles when developerRoles is true.')
param principalId string = ''

@allowed(['User', 'ServicePrincipal'])
@description('Type of principalId. Use ServicePrincipal when deploying from a pipeline.')
param principalType string = 'User'

@description('Grant principalId data-plane roles for local debugging (storage, queue, Key Vault secrets). Off for production.')
param developerRoles bool = false

@minLength(1)
@description('Entra ID tenant of the Graph app registration (the Exchange Online tenant): a GUID or a verified domain name.')
param graphTenantId string

@minLength(1)
@description('Application (client) ID of the Graph app registration.')
param graphClientId string

@minLength(1)
@description('Audience of the mobile app\'s access tokens for the devices API: App ID URI (api://...) and/or client id, comma-separated.')
param deviceApiAudience string

@description('Tenant GUID whose users may register devices (the token issuer check). Empty: graphTenantId when that is a GUID, otherwise the tenant of this deployment\'s subscription.')
param deviceApiTenantId string = ''

@allowed(['secret', 'certificate'])
@description('How the app authenticates to Graph: a client secret, or a client certificate (PFX, optionally with a password, or a Key Vault certificate).')
param graphCredentialType string = 'secret'

@secure()
@description('Graph client secret (graphCredentialType secret). Written to Key Vault; empty: keep what the vault holds.')
param graphClientSecret string = ''

@description('When the Graph client secret expires (ISO date, e.g. 2027-06-30); empty: unknown. Update it with the secret.')
param graphCredentialExpiresOn string = ''

@secure()
@description('Graph client certificate as base64 PFX (graphCredentialType certificate). Written to Key Vault; empty: keep what the vault holds.')
param graphClientCertificate string = ''

@secure()
@description('Password of that PFX; empty: none.')
param graphClientCertificatePassword string = ''

@description('True when the Graph credential is already in Key Vault (stored by an earlier provision, by hand, or as a Key Vault certificate of the same name) and the parameter above is left empty.')
param graphCredentialInKeyVault bool = false

@allowed(['global', 'usgov', 'usgovdod', 'china'])
@description('National cloud of the Graph tenant: selects the Graph endpoint and the authority host.')
param graphCloud string = 'global'

@description('Public https base URL that Graph calls (custom domain or reverse proxy in front of the app), without a trailing slash. Empty: https://<function app host name>.')
param publicBaseUrl string = ''

@minLength(1)
@maxLength(32)
@description('Prefix for the app\'s table names (letters and digits, starting with a letter).')
param tableNamePrefix string = 'mailpush'

@minValue(1)
@maxValue(1000)
@description('EWS-to-Graph migration: users moved per maintenance run.')
param migrationBatchSize int = 50

@minValue(1)
@maxValue(50)
@description('Failed attempts (429s and outages do not count) before a mailbox is marked failed.')
param migrationMaxAttempts int = 5

@description('Entra security group object ids (comma-separated) whose members are enrolled. Empty: none.')
param enrolmentGroupIds string = ''

@description('Unenrol members who left every enrolment group (false: only flag them).')
param enrolmentGroupRemove bool = false

@allowed(['off', 'groups', 'all'])
@description('Self-service: a device registration from a user without a mailbox enrols them first.')
param enrolOnDeviceRegistration string = 'off'

@description('Client id of the single-page-app registration the web console signs in with (GET /api/console). Empty: the console says sign-in is not configured.')
param consoleClientId string = ''

@minLength(1)
@description('NCRONTAB (six fields, with seconds) for the subscription-maintenance timer.')
param maintenanceSchedule string = '0 */5 * * * *'

// Operator tunables: the defaults are the app's own (test/unit/infra checks), so a deployment
// changes nothing until an operator sets one; each provision writes them all again.
@allowed(['debug', 'info', 'warn', 'error'])
@description('LOG_LEVEL of the app.')
param logLevel string = 'info'

@allowed(['full', 'subject', 'minimal'])
@description('DEFAULT_PRIVACY_MODE: what a push shows for mailboxes without their own mode.')
param defaultPrivacyMode string = 'subject'

@minValue(40)
@maxValue(1000)
@description('SUBSCRIPTION_WRITES_PER_20_SECONDS: the renewal timer\'s share of Graph\'s per-tenant subscription write limit.')
param subscriptionWritesPer20Seconds int = 600

@minValue(2)
@maxValue(72)
@description('RENEWAL_WINDOW_HOURS: renew subscriptions that expire within this many hours.')
param renewalWindowHours int = 24

@minValue(2)
@maxValue(90)
@description('DELIVERY_RECORD_RETENTION_DAYS: days the duplicate-suppression records are kept.')
param deliveryRecordRetentionDays int = 7

@minValue(40)
@maxValue(1000)
@description('Flex Consumption scale-out limit (instances, app-wide).')
param maximumInstanceCount int = 100

@minValue(0)
@maxValue(20)
@description('Always-ready instances for the http function group (webhooks and devices API).')
param alwaysReadyHttpInstances int = 1

@minValue(1)
@maxValue(1000)
@description('Concurrent HTTP requests per instance before the http group scales out.')
param httpPerInstanceConcurrency int = 16

@allowed(['Standard', 'Premium'])
@description('Service Bus tier: Standard for pilots (shared credits cap the pipeline near 500 notifications a second), Premium for production.')
param serviceBusSku string = 'Standard'

@allowed([1, 2, 4, 8, 16])
@description('Service Bus Premium messaging units.')
param serviceBusMessagingUnits int = 1

@allowed([1024, 2048, 3072, 4096, 5120])
@description('Size limit in MB of each Service Bus queue (notifications, imports).')
param notificationQueueMaxSizeInMegabytes int = 5120

@allowed(['notification-hubs', 'webhook'])
@description('Push provider (PUSH_PROVIDER): notification-hubs creates a Notification Hubs namespace and hub; webhook posts signed pushes to your own gateway. (The app refuses `local` in Azure.)')
param pushProvider string = 'notification-hubs'

@allowed(['Free', 'Basic', 'Standard'])
@description('Notification Hubs tier (pushProvider notification-hubs). Free is for a pilot only: 500 active devices and 1 million pushes a month, no SLA. Production: Basic (200,000 devices) or Standard (10 million).')
param notificationHubsSku string = 'Free'

@description('APNs token authentication (notification-hubs): Key ID of the .p8 key. Empty: no APNs credential on the hub.')
param apnsKeyId string = ''

@description('APNs: Apple Team ID.')
param apnsTeamId string = ''

@description('APNs: bundle ID of the iOS app.')
param apnsBundleId string = ''

@secure()
@description('APNs: contents of the .p8 key without its BEGIN/END lines.')
param apnsToken string = ''

@allowed(['production', 'sandbox'])
@description('APNs environment of the hub.')
param apnsEnvironment string = 'production'

@description('FCM v1 (notification-hubs): Firebase project ID. Empty: no FCM v1 credential on the hub.')
param fcmProjectId string = ''

@description('FCM v1: client e-mail of the Firebase service account.')
param fcmClientEmail string = ''

@secure()
@description('FCM v1: private key (PEM) of the Firebase service account.')
param fcmPrivateKey string = ''

@description('https URL of your push gateway (pushProvider webhook; required then).')
param pushWebhookUrl string = ''

@secure()
@description('HMAC-SHA256 key shared with the push gateway, at least 32 characters (pushProvider webhook; required then). Written to Key Vault.')
param pushWebhookSecret string = ''

@secure()
@description('CLIENT_STATE_KEYS: keys that sign new subscriptions\' clientState so the webhook drops forged notifications without a storage read, `k2:<base64 of 32 random bytes>,k1:<…>` (the first signs, all verify; keep old keys until the subscriptions they signed are recreated). Written to Key Vault. Empty: unsigned random clientStates (signed ones still verify against the stored subscription).')
param clientStateKeys string = ''

@description('Key Vault purge protection (irreversible once on). True for production.')
param keyVaultPurgeProtection bool = true

@minValue(-1)
@description('Log Analytics daily ingestion cap in GB; -1: no cap.')
param logAnalyticsDailyCapGb int = -1

@description('E-mail address that receives alerts; empty: no action group.')
param alertEmail string = ''

@description('Application Insights availability test locations (ids of the deployment\'s cloud; each costs a test run every 5 minutes). The alert fires when 2 fail.')
param availabilityTestLocations string[] = [
  'emea-nl-ams-azr'
  'us-va-ash-azr'
  'apac-sg-sin-azr'
]

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}

// Names are computed here rather than read from module outputs, so that What-If can predict
// every resource (the linter's what-if-short-circuiting rule).
var identityName = '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
var storageAccountName = '${abbrs.storageStorageAccounts}${resourceToken}'
var serviceBusNamespaceName = '${abbrs.serviceBusNamespaces}${resourceToken}'
var keyVaultName = '${abbrs.keyVaultVaults}${resourceToken}'
var applicationInsightsName = '${abbrs.insightsComponents}${resourceToken}'
var functionAppName = '${abbrs.webSitesFunctions}api-${resourceToken}'
var deploymentContainerName = 'app-package-${take(resourceToken, 7)}'
var notificationQueueName = 'mail-notifications'
var importQueueName = 'mailbox-imports'

// The app's tables: TABLE_NAME_PREFIX + the suffixes in shared/store (*_TABLE_SUFFIX).
var tableSuffixes = [
  'mailboxes'
  'subscriptions'
  'renewalschedule'
  'leases'
  'devices'
  'deliveries'
  'mailboxwork'
  'control'
]
var tableNames = map(tableSuffixes, suffix => '${tableNamePrefix}${suffix}')

// Key Vault secrets. The deployment writes all of them from parameters or from the hub itself.
var graphClientSecretName = 'graph-client-secret'
var graphClientCertificateSecretName = 'graph-client-certificate'
var graphClientCertificatePasswordSecretName = 'graph-client-certificate-password'
var notificationHubNamespaceName = '${abbrs.notificationHubsNamespaces}${resourceToken}'
var notificationHubName = '${abbrs.notificationHubsNamespacesNotificationHubs}${resourceToken}'
var notificationHubConnectionStringSecretName = 'notification-hub-connection-string'
var pushWebhookSecretName = 'push-webhook-secret'
var clientStateKeysSecretName = 'client-state-keys'
var clientStateKeysStored = !empty(clientStateKeys)

// Which Graph credential the vault holds after this deployment: one given now, or one stored
// earlier (graphCredentialInKeyVault). Only those become Key Vault references.
var useCertificate = graphCredentialType == 'certificate'
var graphClientSecretStored = !useCertificate && (!empty(graphClientSecret) || graphCredentialInKeyVault)
var graphClientCertificateStored = useCertificate && (!empty(graphClientCertificate) || graphCredentialInKeyVault)
var graphClientCertificatePasswordStored = useCertificate && !empty(graphClientCertificatePassword)

// The devices API checks the token issuer, which names the tenant by GUID. GRAPH_TENANT_ID may be
// a domain name (contoso.onmicrosoft.com): then the tenant of this subscription is the best guess,
// and deviceApiTenantId overrides it.
var graphTenantIsGuid = length(graphTenantId) == 36 && length(split(graphTenantId, '-')) == 5 && !contains(graphTenantId, '.')
var effectiveDeviceApiTenantId = !empty(deviceApiTenantId)
  ? deviceApiTenantId
  : (graphTenantIsGuid ? graphTenantId : tenant().tenantId)

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity './modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: identityName
    location: location
    tags: tags
  }
}

module monitoring './modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: applicationInsightsName
    location: location
    tags: tags
    dailyQuotaGb: logAnalyticsDailyCapGb
  }
}

module storage './modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: storageAccountName
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    tableNames: tableNames
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsId
  }
}

module serviceBus './modules/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    name: serviceBusNamespaceName
    location: location
    tags: tags
    queueName: notificationQueueName
    importQueueName: importQueueName
    skuName: serviceBusSku
    messagingUnits: serviceBusMessagingUnits
    maxSizeInMegabytes: notificationQueueMaxSizeInMegabytes
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsId
  }
}

module keyVault './modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: keyVaultName
    location: location
    tags: tags
    enablePurgeProtection: keyVaultPurgeProtection
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsId
  }
}

module graphCredential './modules/graph-credential.bicep' = {
  name: 'graph-credential'
  scope: rg
  params: {
    keyVaultName: keyVaultName
    clientSecretName: graphClientSecretName
    clientSecret: useCertificate ? '' : graphClientSecret
    certificateSecretName: graphClientCertificateSecretName
    certificate: useCertificate ? graphClientCertificate : ''
    certificatePasswordSecretName: graphClientCertificatePasswordSecretName
    certificatePassword: useCertificate ? graphClientCertificatePassword : ''
  }
  dependsOn: [
    keyVault
  ]
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
    keyVaultName: keyVaultName
    connectionStringSecretName: notificationHubConnectionStringSecretName
    apnsKeyId: apnsKeyId
    apnsTeamId: apnsTeamId
    apnsBundleId: apnsBundleId
    apnsToken: apnsToken
    apnsEnvironment: apnsEnvironment
    fcmProjectId: fcmProjectId
    fcmClientEmail: fcmClientEmail
    fcmPrivateKey: fcmPrivateKey
  }
  dependsOn: [
    keyVault
  ]
}

module pushWebhook './modules/push-webhook.bicep' = if (pushProvider == 'webhook') {
  name: 'push-webhook'
  scope: rg
  params: {
    keyVaultName: keyVaultName
    secretName: pushWebhookSecretName
    secret: pushWebhookSecret
  }
  dependsOn: [
    keyVault
  ]
}

module clientStateKeysSecret './modules/client-state-keys.bicep' = if (clientStateKeysStored) {
  name: 'client-state-keys'
  scope: rg
  params: {
    keyVaultName: keyVaultName
    secretName: clientStateKeysSecretName
    keys: clientStateKeys
  }
  dependsOn: [
    keyVault
  ]
}

module rbac './modules/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storageAccountName
    serviceBusNamespaceName: serviceBusNamespaceName
    notificationQueueName: notificationQueueName
    importQueueName: importQueueName
    keyVaultName: keyVaultName
    applicationInsightsName: applicationInsightsName
    identityName: identityName
    developerRoles: developerRoles
    principalId: principalId
    principalType: principalType
  }
  dependsOn: [
    identity
    storage
    serviceBus
    keyVault
    monitoring
  ]
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
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    storageTableServiceEndpoint: storage.outputs.tableServiceEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    notificationQueueName: notificationQueueName
    importQueueName: importQueueName
    notificationMaxDeliveryCount: serviceBus.outputs.maxDeliveryCount
    keyVaultUri: keyVault.outputs.uri
    graphClientSecretStored: graphClientSecretStored
    graphClientCertificateStored: graphClientCertificateStored
    graphClientCertificatePasswordStored: graphClientCertificatePasswordStored
    graphCredentialExpiresOn: graphCredentialExpiresOn
    graphClientSecretName: graphClientSecretName
    graphClientCertificateSecretName: graphClientCertificateSecretName
    graphClientCertificatePasswordSecretName: graphClientCertificatePasswordSecretName
    graphTenantId: graphTenantId
    graphClientId: graphClientId
    graphCloud: graphCloud
    deviceApiAudience: deviceApiAudience
    deviceApiTenantId: effectiveDeviceApiTenantId
    publicBaseUrl: publicBaseUrl
    tableNamePrefix: tableNamePrefix
    migrationBatchSize: migrationBatchSize
    migrationMaxAttempts: migrationMaxAttempts
    enrolmentGroupIds: enrolmentGroupIds
    enrolmentGroupRemove: enrolmentGroupRemove
    enrolOnDeviceRegistration: enrolOnDeviceRegistration
    consoleClientId: consoleClientId
    maintenanceSchedule: maintenanceSchedule
    logLevel: logLevel
    defaultPrivacyMode: defaultPrivacyMode
    subscriptionWritesPer20Seconds: subscriptionWritesPer20Seconds
    renewalWindowHours: renewalWindowHours
    deliveryRecordRetentionDays: deliveryRecordRetentionDays
    maximumInstanceCount: maximumInstanceCount
    alwaysReadyHttpInstances: alwaysReadyHttpInstances
    httpPerInstanceConcurrency: httpPerInstanceConcurrency
    pushProvider: pushProvider
    notificationHubName: notificationHubName
    notificationHubConnectionStringSecretName: notificationHubConnectionStringSecretName
    pushWebhookUrl: pushWebhookUrl
    pushWebhookSecretName: pushWebhookSecretName
    clientStateKeysStored: clientStateKeysStored
    clientStateKeysSecretName: clientStateKeysSecretName
  }
  // The host starts as soon as the site exists; granting its roles first avoids a first
  // start that cannot reach storage, Service Bus or Key Vault. The secrets must be in the
  // vault before the app's Key Vault references are first resolved. (A dependency on a module
  // whose condition is false is dropped.)
  dependsOn: [
    rbac
    graphCredential
    notificationHubs
    pushWebhook
    clientStateKeysSecret
  ]
}

module alerts './modules/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    location: location
    tags: tags
    namePrefix: 'mailpush-${environmentName}'
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    serviceBusNamespaceId: serviceBus.outputs.id
    notificationQueueName: notificationQueueName
    importQueueName: importQueueName
    publicBaseUrl: api.outputs.publicBaseUrl
    alertEmail: alertEmail
    availabilityTestLocations: availabilityTestLocations
  }
}

module workbook './modules/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    location: location
    tags: tags
    applicationInsightsId: monitoring.outputs.applicationInsightsId
    serviceBusNamespaceId: serviceBus.outputs.id
    notificationQueueName: notificationQueueName
    displayName: 'Mail push operations (${environmentName})'
  }
}

// azd stores these in the environment (.azure/<env>/.env); names match the app settings
// where the local runner needs the same value.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output AZURE_FUNCTION_URL string = api.outputs.url
output PUBLIC_BASE_URL string = api.outputs.publicBaseUrl
output AZURE_USER_ASSIGNED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output SERVICEBUS_NAMESPACE string = serviceBus.outputs.name
output SERVICEBUS_FULLY_QUALIFIED_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output NOTIFICATION_QUEUE_NAME string = serviceBus.outputs.queueName
output IMPORT_QUEUE_NAME string = serviceBus.outputs.importQueueName
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output TABLES_ENDPOINT string = storage.outputs.tableEndpoint
output KEY_VAULT_NAME string = keyVault.outputs.name
output KEY_VAULT_URI string = keyVault.outputs.uri
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString
output DEVICE_API_TENANT_ID string = effectiveDeviceApiTenantId
// For checking the hub's APNs / FCM v1 credentials (empty with pushProvider webhook).
output NOTIFICATION_HUB_NAMESPACE string = pushProvider == 'notification-hubs' ? notificationHubNamespaceName : ''
output NOTIFICATION_HUB_NAME string = pushProvider == 'notification-hubs' ? notificationHubName : ''
