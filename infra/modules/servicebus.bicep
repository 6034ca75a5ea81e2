// Service Bus namespace, the queue between the webhook and the notification processor, and the
// queue of bulk-enrolment import chunks (its own queue, so an import never delays mail).
// Standard at least, because duplicate detection is not available on Basic.
param name string
param location string
param tags object = {}

param queueName string = 'mail-notifications'

@description('Queue of bulk-enrolment import chunks (100 rows a message), read by mailbox-import-processor.')
param importQueueName string = 'mailbox-imports'

// Standard is metered in throttling credits shared by the whole namespace (about 1,000 per second;
// a send or a receive costs one, a complete another), which caps the pipeline near 500
// notifications a second end to end. Premium has dedicated messaging units and no credit limit.
@allowed(['Standard', 'Premium'])
@description('Standard for pilots; Premium (with messagingUnits) for production at scale.')
param skuName string = 'Standard'

@allowed([1, 2, 4, 8, 16])
@description('Premium only: messaging units (each roughly 1,000+ messages a second for small messages).')
param messagingUnits int = 1

@allowed([1024, 2048, 3072, 4096, 5120])
@description('Size limit of each queue in MB. A backlog beyond it makes sends fail (the webhook answers 5xx and Graph retries; an import cannot be queued).')
param maxSizeInMegabytes int = 5120

@description('Log Analytics workspace for the diagnostic settings.')
param logAnalyticsWorkspaceId string

resource serviceBusNamespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuName
    capacity: skuName == 'Premium' ? messagingUnits : null
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
      // Standard allows 1–5 GB per queue; Premium up to the namespace's storage (80 GB per MU).
      maxSizeInMegabytes: maxSizeInMegabytes
    }
  }

  // Bulk-enrolment imports: the import API splits a file into 100-row chunk messages and the
  // queue trigger mailbox-import-processor writes them. A queue of its own, so that a large
  // import never sits in front of mail notifications (and scales on its own instances).
  resource importQueue 'queues' = {
    name: importQueueName
    properties: {
      // The sender sets MessageId to import-<job>-<chunk>, so a chunk sent twice (a retried
      // send, a retried import request) is written once. Same window as the notification queue.
      // Note: requiresDuplicateDetection can only be set when the queue is created.
      requiresDuplicateDetection: true
      duplicateDetectionHistoryTimeWindow: 'PT4H'
      // Ten attempts, then the chunk is dead-lettered (an alert names it; never silently dropped).
      maxDeliveryCount: 10
      // 100 table writes fit comfortably in a minute; the extension renews the lock if not.
      lockDuration: 'PT1M'
      // Unlike a notification, an import chunk stays worth writing for days: an outage of the
      // processor over a weekend should delay an import, not dead-letter it. Expired chunks are
      // dead-lettered (and alerted on), never dropped.
      defaultMessageTimeToLive: 'P7D'
      deadLetteringOnMessageExpiration: true
      enableBatchedOperations: true
      requiresSession: false
      maxSizeInMegabytes: maxSizeInMegabytes
    }
  }
}

// Operational logs (entity changes, failures) and all metrics (incoming/outgoing messages,
// active and dead-lettered messages, throttled requests) for the workbook and the alerts.
resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: serviceBusNamespace
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
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

output id string = serviceBusNamespace.id
output name string = serviceBusNamespace.name
// Host name only (no scheme, no port), as ServiceBusConnection__fullyQualifiedNamespace
// expects; derived from the endpoint so that sovereign clouds get the right suffix.
output fullyQualifiedNamespace string = split(replace(serviceBusNamespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0]
output queueName string = serviceBusNamespace::queue.name
output importQueueName string = serviceBusNamespace::importQueue.name
// The app needs it too (NOTIFICATION_MAX_DELIVERY_COUNT); read back so there is one number.
output maxDeliveryCount int = serviceBusNamespace::queue.properties.maxDeliveryCount
