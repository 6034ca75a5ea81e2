// Azure Monitor workbook "Mail push operations": one page with the pipeline from Graph's
// notification to the phone's push, built on the app's OpenTelemetry metrics (customMetrics),
// the requests table and Service Bus. Histograms (ack_ms, latency_ms) arrive in customMetrics as
// per-interval aggregates (sum, count, min, max per instance and export interval), so the
// percentiles here are over those interval averages: good for trends, not exact per-request
// percentiles. The webhook's exact p95 comes from the requests table.
param location string
param tags object = {}
param applicationInsightsId string
param serviceBusNamespaceId string
param notificationQueueName string
@description('Display name of the workbook.')
param displayName string

func kql(title string, query string, visualization string) object => {
  type: 3
  content: {
    version: 'KqlItem/1.0'
    title: title
    query: query
    size: 0
    timeContext: {
      durationMs: 86400000
    }
    queryType: 0
    resourceType: 'microsoft.insights/components'
    visualization: visualization
  }
  name: title
}

func text(markdown string) object => {
  type: 1
  content: {
    json: markdown
  }
  name: markdown
}

var items = [
  text('## Mail push: Graph notification → queue → push\nMetrics from the app (OpenTelemetry, `mailpush.*`), requests, and the notification queue. Histogram percentiles are over per-interval averages (see infra/modules/workbook.bicep).')
  kql(
    'Ingestion rate (notifications received / enqueued per 5 min)',
    'customMetrics | where name in ("mailpush.notifications.received", "mailpush.notifications.enqueued") | summarize count = sum(valueSum) by name, bin(timestamp, 5m) | render timechart',
    'timechart'
  )
  kql(
    'Webhook ack time p95 (ms), from requests',
    'requests | where name in ("notifications-post", "lifecycle-post") or url has "/api/notifications" or url has "/api/lifecycle" | summarize p50 = percentile(duration, 50), p95 = percentile(duration, 95) by bin(timestamp, 5m) | render timechart',
    'timechart'
  )
  kql(
    'Webhook ack time (mailpush.webhook.ack_ms): interval average and max',
    'customMetrics | where name == "mailpush.webhook.ack_ms" | summarize p95_of_avg = percentile(valueSum / valueCount, 95), max = max(valueMax) by bin(timestamp, 5m) | render timechart',
    'timechart'
  )
  kql(
    'Notification to push p50 / p95 (ms)',
    'customMetrics | where name == "mailpush.push.latency_ms" | extend from = tostring(customDimensions["from"]) | summarize p50 = percentile(valueSum / valueCount, 50), p95 = percentile(valueSum / valueCount, 95) by from, bin(timestamp, 15m) | render timechart',
    'timechart'
  )
  kql(
    'Pushes by provider and outcome',
    'customMetrics | where name == "mailpush.pushes" | extend provider = tostring(customDimensions.provider), outcome = tostring(customDimensions.outcome) | summarize pushes = sum(valueSum) by series = strcat(provider, " ", outcome), bin(timestamp, 15m) | render columnchart',
    'categoricalbar'
  )
  kql(
    'Dropped notifications by reason',
    'customMetrics | where name == "mailpush.notifications.dropped" | summarize dropped = sum(valueSum) by reason = tostring(customDimensions.reason), bin(timestamp, 15m) | render columnchart',
    'categoricalbar'
  )
  kql(
    'Graph requests by status class, and throttled (429)',
    'customMetrics | where name in ("mailpush.graph.requests", "mailpush.graph.throttled") | extend series = iff(name == "mailpush.graph.throttled", "throttled", tostring(customDimensions.status_class)) | summarize requests = sum(valueSum) by series, bin(timestamp, 15m) | render timechart',
    'timechart'
  )
  kql(
    'Subscription renewals (ok / failed)',
    'customMetrics | where name == "mailpush.renewals" | summarize renewals = sum(valueSum) by outcome = tostring(customDimensions.outcome), bin(timestamp, 1h) | render columnchart',
    'categoricalbar'
  )
  kql(
    'Subscriptions expiring within 24 h, and maintenance runs',
    'customMetrics | where name in ("mailpush.subscriptions.expiring_24h", "mailpush.maintenance.runs") | summarize total = sum(valueSum), highest = max(value) by name, bin(timestamp, 15m) | extend value = iff(name == "mailpush.maintenance.runs", total, highest) | project timestamp, name, value | render timechart',
    'timechart'
  )
  kql(
    'Mailboxes by state',
    'customMetrics | where name == "mailpush.mailboxes" | summarize arg_max(timestamp, value) by state = tostring(customDimensions.state) | project state, mailboxes = value',
    'table'
  )
  kql(
    'EWS → Graph migration progress',
    'customMetrics | where name == "mailpush.migration" | summarize mailboxes = max(value) by state = tostring(customDimensions.state), bin(timestamp, 1h) | render areachart',
    'areachart'
  )
  kql(
    'Dead-lettered notifications (app) and Graph credential days left',
    'customMetrics | where name in ("mailpush.deadlettered", "mailpush.credential.days_left") | summarize total = sum(valueSum), lowest = min(value) by name, bin(timestamp, 1h) | extend value = iff(name == "mailpush.deadlettered", total, lowest) | project timestamp, name, value | render timechart',
    'timechart'
  )
  {
    type: 10
    name: 'Notification queue (Service Bus)'
    content: {
      version: 'MetricsItem/2.0'
      size: 0
      chartType: 2
      resourceType: 'microsoft.servicebus/namespaces'
      metricScope: 0
      resourceIds: [serviceBusNamespaceId]
      timeContext: {
        durationMs: 86400000
      }
      metrics: [
        {
          namespace: 'microsoft.servicebus/namespaces'
          metric: 'microsoft.servicebus/namespaces--ActiveMessages'
          aggregation: 4
          splitBy: 'EntityName'
        }
        {
          namespace: 'microsoft.servicebus/namespaces'
          metric: 'microsoft.servicebus/namespaces--DeadletteredMessages'
          aggregation: 3
          splitBy: 'EntityName'
        }
        {
          namespace: 'microsoft.servicebus/namespaces'
          metric: 'microsoft.servicebus/namespaces--ThrottledRequests'
          aggregation: 1
        }
      ]
      title: 'Queue ${notificationQueueName}: active, dead-lettered, throttled'
      gridSettings: {
        rowLimit: 10000
      }
    }
  }
]

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  // Workbook names must be GUIDs; stable per resource group so a re-deployment updates it.
  name: guid(resourceGroup().id, 'mailpush-operations')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: displayName
    category: 'workbook'
    sourceId: applicationInsightsId
    serializedData: string({
      version: 'Notebook/1.0'
      items: items
      isLocked: false
      fallbackResourceIds: [applicationInsightsId]
    })
  }
}

output id string = workbook.id
