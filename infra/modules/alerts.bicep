// Alerting: an optional e-mail action group, alert rules with a one-line runbook each (their
// description; the full runbook is docs/deploy.md), and a standard availability test on the
// webhook's validation handshake. Log alerts read what the app emits to Application Insights
// (OpenTelemetry metrics in customMetrics, requests); metric alerts read Service Bus itself.
param location string
param tags object = {}
@description('Prefix of the alert rule names (one deployment per environment).')
param namePrefix string

param applicationInsightsId string
param serviceBusNamespaceId string
param notificationQueueName string
@description('Queue of bulk-enrolment import chunks.')
param importQueueName string
@description('Public https base URL of the webhook (what Graph calls).')
param publicBaseUrl string

@description('E-mail address for alerts; empty: no action group (alerts still show in the portal).')
param alertEmail string = ''

@description('Availability test locations (Application Insights location ids of the deployment\'s cloud).')
param availabilityTestLocations string[]

@minValue(1)
@description('Active messages in the notification queue that count as a backlog.')
param queueBacklogThreshold int = 1000

@minValue(0)
@description('Subscriptions expiring within 24 h that the renewal pass has left over, above which to alert.')
param expiringSubscriptionsThreshold int = 0

var actionGroups = empty(alertEmail) ? [] : [actionGroup.id]
// The webhook's requests: by function name (Functions host telemetry) or by path (OpenTelemetry
// request spans are named after the route).
var webhookRequests = 'requests | where name in ("notifications-post", "lifecycle-post") or url has "/api/notifications" or url has "/api/lifecycle"'

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: '${namePrefix}-operators'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'mailpush'
    enabled: true
    emailReceivers: [
      {
        name: 'operators'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// ---------------------------------------------------------------------------------------
// Service Bus (platform metrics)
// ---------------------------------------------------------------------------------------

// entity: the queue (EntityName dimension) a rule watches; empty: the whole namespace.
var serviceBusMetricAlerts = [
  {
    name: 'deadletters'
    severity: 1
    description: 'Runbook: notifications were dead-lettered after 10 deliveries; peek the notification queue\'s dead-letter queue (DeadLetterReason), fix the cause, then resubmit or drop them.'
    metricName: 'DeadletteredMessages'
    timeAggregation: 'Maximum'
    threshold: 0
    entity: notificationQueueName
  }
  {
    // No mail is lost, but users the operator meant to enrol are not: severity 2, not 1.
    // (No backlog alert on this queue: a large import is a backlog by design.)
    name: 'import-deadletters'
    severity: 2
    description: 'Runbook: import chunks dead-lettered: rows of an import were not written; the message id import-<job>-<chunk> and GET /api/manage/imports/{id} name the job; import the file again, then purge the import queue\'s dead-letter queue.'
    metricName: 'DeadletteredMessages'
    timeAggregation: 'Maximum'
    threshold: 0
    entity: importQueueName
  }
  {
    name: 'queue-backlog'
    severity: 2
    description: 'Runbook: the notification queue is backing up; check processor errors and Graph throttling in the workbook, then maximumInstanceCount and the Service Bus tier.'
    metricName: 'ActiveMessages'
    timeAggregation: 'Average'
    threshold: queueBacklogThreshold
    entity: notificationQueueName
  }
  {
    name: 'servicebus-throttled'
    severity: 2
    description: 'Runbook: Service Bus throttles requests (Standard credit limit); move to Premium (serviceBusSku) or add messaging units.'
    metricName: 'ThrottledRequests'
    timeAggregation: 'Total'
    threshold: 0
    entity: ''
  }
]

resource serviceBusAlerts 'Microsoft.Insights/metricAlerts@2018-03-01' = [
  for alert in serviceBusMetricAlerts: {
    name: '${namePrefix}-${alert.name}'
    location: 'global'
    tags: tags
    properties: {
      description: alert.description
      severity: alert.severity
      enabled: true
      scopes: [serviceBusNamespaceId]
      evaluationFrequency: 'PT5M'
      windowSize: 'PT15M'
      autoMitigate: true
      criteria: {
        'odata.type': 'Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria'
        allOf: [
          {
            name: alert.metricName
            criterionType: 'StaticThresholdCriterion'
            metricNamespace: 'Microsoft.ServiceBus/namespaces'
            metricName: alert.metricName
            dimensions: empty(alert.entity)
              ? []
              : [
                  {
                    name: 'EntityName'
                    operator: 'Include'
                    values: [alert.entity]
                  }
                ]
            operator: 'GreaterThan'
            threshold: alert.threshold
            timeAggregation: alert.timeAggregation
          }
        ]
      }
      actions: [for id in actionGroups: { actionGroupId: id }]
    }
  }
]

// ---------------------------------------------------------------------------------------
// The app's telemetry (log search alerts on Application Insights)
// ---------------------------------------------------------------------------------------

// Each query returns one column `value`; the rule compares it with the threshold.
var logAlerts = [
  {
    name: 'renewal-failures'
    severity: 2
    description: 'Runbook: subscription renewals failed; check the maintenance logs for the Graph error (consent, 403, throttling) and the admin status page.'
    query: 'customMetrics | where name == "mailpush.renewals" and tostring(customDimensions.outcome) == "failed" | summarize value = sum(valueSum)'
    operator: 'GreaterThan'
    threshold: 0
    frequency: 'PT5M'
    window: 'PT15M'
  }
  {
    name: 'subscriptions-expiring'
    severity: 1
    description: 'Runbook: subscriptions will expire within 24 h without renewal; check the maintenance timer, renewal failures and the Graph credential, then run the timer.'
    query: 'customMetrics | where name == "mailpush.subscriptions.expiring_24h" | summarize value = max(value)'
    operator: 'GreaterThan'
    threshold: expiringSubscriptionsThreshold
    frequency: 'PT15M'
    window: 'PT30M'
  }
  {
    name: 'maintenance-heartbeat'
    severity: 1
    description: 'Runbook: the maintenance timer has not run for 15 minutes; check that the app is running, its start-up errors and the host\'s timer lease in storage.'
    query: 'customMetrics | where name == "mailpush.maintenance.runs" | summarize value = count()'
    operator: 'LessThan'
    threshold: 1
    frequency: 'PT5M'
    window: 'PT15M'
  }
  {
    name: 'webhook-5xx'
    severity: 1
    description: 'Runbook: the webhook answers 5xx (enqueue failing; Graph retries for 4 h); check Service Bus health, the app identity\'s queue role and the exceptions table.'
    query: '${webhookRequests} | summarize total = count(), failed = countif(toint(resultCode) >= 500) | where total > 0 | project value = 100.0 * failed / total'
    operator: 'GreaterThan'
    threshold: 5
    frequency: 'PT5M'
    window: 'PT15M'
  }
  {
    name: 'webhook-slow'
    severity: 1
    description: 'Runbook: webhook p95 above 2 s (Graph delays, then drops, notifications when >10% are slow); check cold starts, always-ready instances and HTTP concurrency.'
    query: '${webhookRequests} | summarize value = percentile(duration, 95), total = count() | where total >= 10 | project value'
    operator: 'GreaterThan'
    threshold: 2000
    frequency: 'PT5M'
    window: 'PT15M'
  }
  {
    name: 'credential-expiring'
    severity: 2
    description: 'Runbook: the Graph client secret or certificate expires within 30 days; create a new one, azd env set it, azd provision, then remove the old one.'
    query: 'customMetrics | where name == "mailpush.credential.days_left" | summarize value = min(value)'
    operator: 'LessThan'
    threshold: 30
    frequency: 'PT1H'
    window: 'PT6H'
  }
]

resource appAlerts 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [
  for alert in logAlerts: {
    name: '${namePrefix}-${alert.name}'
    location: location
    tags: tags
    properties: {
      displayName: '${namePrefix}-${alert.name}'
      description: alert.description
      severity: alert.severity
      enabled: true
      scopes: [applicationInsightsId]
      evaluationFrequency: alert.frequency
      windowSize: alert.window
      autoMitigate: true
      criteria: {
        allOf: [
          {
            query: alert.query
            timeAggregation: 'Maximum'
            metricMeasureColumn: 'value'
            operator: alert.operator
            threshold: alert.threshold
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      actions: {
        actionGroups: actionGroups
      }
    }
  }
]

// ---------------------------------------------------------------------------------------
// Availability: the validation handshake Graph does when a subscription is created
// ---------------------------------------------------------------------------------------

var availabilityTestName = '${namePrefix}-webhook-handshake'

resource availabilityTest 'Microsoft.Insights/webtests@2022-06-15' = {
  name: availabilityTestName
  location: location
  // Links the test to the Application Insights resource (it shows under Availability there).
  tags: union(tags, { 'hidden-link:${applicationInsightsId}': 'Resource' })
  kind: 'standard'
  properties: {
    SyntheticMonitorId: availabilityTestName
    Name: 'Webhook validation handshake'
    Description: 'POST /api/notifications?validationToken=availability-probe answers 200 with the token, as Graph expects within 10 s.'
    Enabled: true
    Kind: 'standard'
    Frequency: 300
    Timeout: 30
    RetryEnabled: true
    Locations: [for id in availabilityTestLocations: { Id: id }]
    Request: {
      RequestUrl: '${publicBaseUrl}/api/notifications?validationToken=availability-probe'
      HttpVerb: 'POST'
      ParseDependentRequests: false
      Headers: [
        {
          key: 'Content-Type'
          value: 'text/plain'
        }
      ]
    }
    ValidationRules: {
      ExpectedHttpStatusCode: 200
      SSLCheck: true
      SSLCertRemainingLifetimeCheck: 14
      ContentValidation: {
        ContentMatch: 'availability-probe'
        IgnoreCase: false
        PassIfTextFound: true
      }
    }
  }
}

resource availabilityAlert 'Microsoft.Insights/metricAlerts@2018-03-01' = {
  name: '${namePrefix}-webhook-availability'
  location: 'global'
  tags: tags
  properties: {
    description: 'Runbook: the webhook handshake fails from 2+ locations, so Graph cannot create or renew subscriptions; check the app is up, PUBLIC_BASE_URL, DNS/proxy and TLS.'
    severity: 1
    enabled: true
    scopes: [
      availabilityTest.id
      applicationInsightsId
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    autoMitigate: true
    criteria: {
      'odata.type': 'Microsoft.Azure.Monitor.WebtestLocationAvailabilityCriteria'
      webTestId: availabilityTest.id
      componentId: applicationInsightsId
      failedLocationCount: 2
    }
    actions: [for id in actionGroups: { actionGroupId: id }]
  }
}

output actionGroupId string = empty(alertEmail) ? '' : actionGroup.id
output availabilityTestId string = availabilityTest.id
