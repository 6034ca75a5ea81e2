// Every role assignment of the deployment, in one place.
// The app's user-assigned identity gets data-plane roles only (no Owner/Contributor), each
// scoped to the one resource it needs. Optionally (developerRoles) the deploying principal gets
// the roles needed to run and debug the app locally against these resources.
param storageAccountName string
param serviceBusNamespaceName string
param notificationQueueName string
param importQueueName string
param keyVaultName string
param applicationInsightsName string

@description('Name of the app\'s user-assigned managed identity (same resource group).')
param identityName string

@description('Grant the deploying principal the local-debugging roles (off for production).')
param developerRoles bool = false
@description('Object ID of the deploying user or service principal; empty to skip its roles.')
param principalId string = ''
@allowed(['User', 'ServicePrincipal'])
param principalType string = 'User'

// Built-in role definition IDs (the same in every tenant).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
  serviceBusDataOwner: '090c5cfd-751d-490a-894a-3ce6f1109419' // Azure Service Bus Data Owner
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7' // Key Vault Secrets Officer
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher
}

var assignPrincipal = developerRoles && !empty(principalId)

resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' existing = {
  name: identityName
}

// Assignment names use the identity's resource ID (known before deployment); the principal ID
// is only known once the identity exists.
var identityPrincipalId = appIdentity.properties.principalId

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource serviceBus 'Microsoft.ServiceBus/namespaces@2024-01-01' existing = {
  name: serviceBusNamespaceName

  resource notificationQueue 'queues' existing = {
    name: notificationQueueName
  }

  resource importQueue 'queues' existing = {
    name: importQueueName
  }
}

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// ---------------------------------------------------------------------------------------
// App identity
// ---------------------------------------------------------------------------------------

// Storage Blob Data Owner (b7e6dc6d-f1e8-4753-8033-0f276bb0955b): host blob leases (timer
// singleton, secrets) and the Flex Consumption deployment package container.
resource appStorageBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appIdentity.id, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Table Data Contributor (0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3): the app's state
// (mailboxes, subscriptions, renewal schedule, migration queue, devices, dedup keys, leases).
resource appStorageTableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appIdentity.id, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Storage Queue Data Contributor (974c5e8b-45b9-4653-ba55-5f855dd0fb88): the Functions host's
// own use of storage queues through the identity-based AzureWebJobsStorage connection.
resource appStorageQueueDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, appIdentity.id, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Azure Service Bus Data Owner (090c5cfd-751d-490a-894a-3ce6f1109419), scoped to the queue
// only: the webhooks send, the queue trigger receives, completes, abandons and dead-letters, and
// the Flex Consumption scale controller reads the queue's runtime properties (active message
// count) with the app's identity for target-based scaling, which Sender/Receiver do not allow.
// Scoped to the one queue, the Manage right reaches no other entity of the namespace.
resource appServiceBusQueueDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(serviceBus::notificationQueue.id, appIdentity.id, roles.serviceBusDataOwner)
  scope: serviceBus::notificationQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataOwner)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Azure Service Bus Data Owner (090c5cfd-751d-490a-894a-3ce6f1109419), scoped to the import
// queue only, for the same reasons: the import API sends the chunks, the queue trigger
// mailbox-import-processor receives, completes and dead-letters them, and the scale controller
// reads this queue's active message count for the processor's target-based scaling.
resource appServiceBusImportQueueDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(serviceBus::importQueue.id, appIdentity.id, roles.serviceBusDataOwner)
  scope: serviceBus::importQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataOwner)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Key Vault Secrets User (4633458b-17de-408a-b874-0445c86b69e6): resolves the Key Vault
// references (GRAPH_CLIENT_SECRET, NOTIFICATION_HUB_CONNECTION_STRING or PUSH_WEBHOOK_SECRET,
// CLIENT_STATE_KEYS; read only, cannot list or write).
resource appKeyVaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(keyVault.id, appIdentity.id, roles.keyVaultSecretsUser)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Monitoring Metrics Publisher (3913510d-42f4-4e42-8a64-420c390055eb): Application Insights
// has local auth disabled, so telemetry ingestion needs this role.
resource appMonitoringMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, appIdentity.id, roles.monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// ---------------------------------------------------------------------------------------
// Deploying principal (optional): local debugging against the deployed resources
// ---------------------------------------------------------------------------------------

// Storage Blob Data Owner (b7e6dc6d-f1e8-4753-8033-0f276bb0955b) for the deploying principal.
resource principalStorageBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (assignPrincipal) {
  name: guid(storage.id, principalId, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: principalId
    principalType: principalType
  }
}

// Storage Table Data Contributor (0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3) for the deploying principal.
resource principalStorageTableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (assignPrincipal) {
  name: guid(storage.id, principalId, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: principalId
    principalType: principalType
  }
}

// Azure Service Bus Data Owner (090c5cfd-751d-490a-894a-3ce6f1109419) for the deploying
// principal: send, receive and inspect (peek, dead-letter queue) while debugging.
resource principalServiceBusDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (assignPrincipal) {
  name: guid(serviceBus.id, principalId, roles.serviceBusDataOwner)
  scope: serviceBus
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.serviceBusDataOwner)
    principalId: principalId
    principalType: principalType
  }
}

// Key Vault Secrets Officer (b86a8fe4-44ce-4948-aee5-eccb2c155cd7) for the deploying
// principal: with RBAC authorization even a subscription Owner cannot write secrets
// without a data-plane role; lets the developer read and rotate the app's secrets.
resource principalKeyVaultSecretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (assignPrincipal) {
  name: guid(keyVault.id, principalId, roles.keyVaultSecretsOfficer)
  scope: keyVault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
    principalId: principalId
    principalType: principalType
  }
}
