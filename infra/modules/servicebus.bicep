// Service Bus namespace and the queue between the webhook and the notification processor.
// Standard tier because duplicate detection is not available on Basic.
param name string
param location string
param tags object = {}

param queueName string = 'mail-notifications'

resource serviceBusNamespace 'Microsoft.ServiceBus/namespaces@2022-10-01-preview' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    // Entra ID only: no SAS keys or connection strings can be used against this namespace.
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }

  resource queue 'queues' = {
    name: queueName
    properties: {
      // Graph retries a notification it could not deliver for up to 4 hours, and each
      // retry becomes a new enqueue; the history window has to cover that whole period.
      // Detection keys on MessageId, so the sender sets it from the notification's dedup key.
      // Note: requiresDuplicateDetection can only be set when the queue is created.
      requiresDuplicateDetection: true
      duplicateDetectionHistoryTimeWindow: 'PT4H'
      // Ten attempts, then the message is dead-lettered (kept, never silently dropped).
      maxDeliveryCount: 10
      // One Graph message fetch + push send fits comfortably in a minute; the Functions
      // Service Bus extension renews the lock for longer executions.
      lockDuration: 'PT1M'
      defaultMessageTimeToLive: 'P1D'
      deadLetteringOnMessageExpiration: true
      enableBatchedOperations: true
      requiresSession: false
    }
  }
}

output id string = serviceBusNamespace.id
output name string = serviceBusNamespace.name
// Host name only (no scheme, no port), as ServiceBusConnection__fullyQualifiedNamespace
// expects; derived from the endpoint so that sovereign clouds get the right suffix.
output fullyQualifiedNamespace string = split(replace(serviceBusNamespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0]
output queueName string = serviceBusNamespace::queue.name
// The app needs it too (NOTIFICATION_MAX_DELIVERY_COUNT); read back so there is one number.
output maxDeliveryCount int = serviceBusNamespace::queue.properties.maxDeliveryCount
