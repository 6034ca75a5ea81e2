// infra/modules/monitoring.bicep, alerts.bicep and workbook.bicep: telemetry, alert rules with a
// runbook line each, the availability test and the operations workbook.
import { describe, expect, it } from 'vitest';
import { loadBicep, mainBicepPath, modulePath, modules, resources } from '../../support/bicep/files.js';

/** The OpenTelemetry metrics the app emits (customMetrics); the workbook shows each of them. */
const APP_METRICS = [
  'mailpush.notifications.received',
  'mailpush.notifications.enqueued',
  'mailpush.notifications.dropped',
  'mailpush.webhook.ack_ms',
  'mailpush.push.latency_ms',
  'mailpush.pushes',
  'mailpush.graph.requests',
  'mailpush.graph.throttled',
  'mailpush.renewals',
  'mailpush.subscriptions.expiring_24h',
  'mailpush.mailboxes',
  'mailpush.migration',
  'mailpush.deadlettered',
  'mailpush.credential.days_left',
  'mailpush.maintenance.runs',
] as const;

describe('infra/modules/monitoring.bicep', () => {
  const code = loadBicep(modulePath('monitoring')).lexed.code;

  it('Application Insights is workspace-based with local auth disabled', () => {
    expect(code).toMatch(/WorkspaceResourceId:\s*logAnalytics\.id/);
    expect(code).toMatch(/DisableLocalAuth:\s*true/);
  });

  it('caps Log Analytics ingestion per day from a parameter (none by default)', () => {
    expect(code).toMatch(/workspaceCapping:\s*\{\s*dailyQuotaGb:\s*dailyQuotaGb\s*\}/);
    const main = loadBicep(mainBicepPath);
    expect(main.lexed.code).toMatch(/^param logAnalyticsDailyCapGb int = -1$/m);
    expect(
      modules(main)
        .find((m) => m.symbol === 'monitoring')
        ?.paramValues.get('dailyQuotaGb'),
    ).toBe('logAnalyticsDailyCapGb');
  });
});

describe('infra/modules/alerts.bicep', () => {
  const alerts = loadBicep(modulePath('alerts'));
  const code = alerts.lexed.code;
  /** `name: '…'` and `description: '…'` pairs of the alert tables (serviceBusMetricAlerts, logAlerts). */
  const table = [
    ...code.matchAll(/name:\s*'([\w-]+)'\s*severity:\s*\d\s*description:\s*'((?:[^'\\]|\\.)*)'/g),
  ].map((m) => ({ name: m[1] ?? '', description: m[2] ?? '' }));

  it('has the alert rules the runbook covers', () => {
    expect(table.map((a) => a.name).sort()).toEqual(
      [
        'credential-expiring',
        'deadletters',
        'import-deadletters',
        'maintenance-heartbeat',
        'queue-backlog',
        'renewal-failures',
        'servicebus-throttled',
        'subscriptions-expiring',
        'webhook-5xx',
        'webhook-slow',
      ].sort(),
    );
    expect(resources(alerts, /^Microsoft\.Insights\/metricAlerts@/)).toHaveLength(2);
    expect(resources(alerts, /^Microsoft\.Insights\/scheduledQueryRules@/)).toHaveLength(1);
  });

  it('gives every alert rule a one-line runbook as its description', () => {
    const descriptions = [
      ...table.map((a) => a.description),
      ...resources(alerts, /^Microsoft\.Insights\/metricAlerts@/)
        .map((r) => /description:\s*'((?:[^'\\]|\\.)*)'/.exec(r.body)?.[1])
        .filter((d): d is string => d !== undefined),
    ];
    expect(descriptions.length).toBe(table.length + 1);
    for (const description of descriptions) {
      expect(description).toMatch(/^Runbook: /);
      expect(description).not.toContain('\n');
    }
    expect(code).toMatch(/description:\s*alert\.description/);
  });

  it('alerts on the app metrics and the webhook requests with the agreed thresholds', () => {
    expect(code).toMatch(/"mailpush\.renewals" and tostring\(customDimensions\.outcome\) == "failed"/);
    expect(code).toMatch(/"mailpush\.subscriptions\.expiring_24h"/);
    expect(code).toMatch(
      /"mailpush\.maintenance\.runs" \| summarize value = count\(\)'\s*operator: 'LessThan'\s*threshold: 1\s*frequency: 'PT5M'\s*window: 'PT15M'/,
    );
    expect(code).toMatch(
      /"mailpush\.credential\.days_left" \| summarize value = min\(value\)'\s*operator: 'LessThan'\s*threshold: 30/,
    );
    expect(code).toMatch(/percentile\(duration, 95\)[^']*'\s*operator: 'GreaterThan'\s*threshold: 2000/);
    expect(code).toMatch(/countif\(toint\(resultCode\) >= 500\)/);
    expect(code).toMatch(
      /var webhookRequests = 'requests \| where name in \("notifications-post", "lifecycle-post"\) or url has "\/api\/notifications" or url has "\/api\/lifecycle"'/,
    );
    expect(code.match(/query: '\$\{webhookRequests\} \|/g)).toHaveLength(2);
    for (const metric of ['DeadletteredMessages', 'ActiveMessages', 'ThrottledRequests'])
      expect(code).toContain(`metricName: '${metric}'`);
  });

  it('watches each queue it alerts on by its EntityName, and the import queue for dead-lettered chunks', () => {
    /** The Service Bus rules: name, metric and the queue (entity) each one watches. */
    const rules = [
      ...code.matchAll(
        /name:\s*'([\w-]+)'\s*severity:\s*(\d)\s*description:\s*'(?:[^'\\]|\\.)*'\s*metricName:\s*'(\w+)'[^}]*?entity:\s*(\w+|'')/g,
      ),
    ].map((m) => ({ name: m[1], severity: Number(m[2]), metric: m[3], entity: m[4] }));
    expect(rules).toEqual([
      { name: 'deadletters', severity: 1, metric: 'DeadletteredMessages', entity: 'notificationQueueName' },
      { name: 'import-deadletters', severity: 2, metric: 'DeadletteredMessages', entity: 'importQueueName' },
      { name: 'queue-backlog', severity: 2, metric: 'ActiveMessages', entity: 'notificationQueueName' },
      { name: 'servicebus-throttled', severity: 2, metric: 'ThrottledRequests', entity: "''" },
    ]);
    expect(code).toMatch(
      /dimensions: empty\(alert\.entity\)\s*\?\s*\[\]\s*:\s*\[\s*\{\s*name: 'EntityName'\s*operator: 'Include'\s*values: \[alert\.entity\]/,
    );
    const importRunbook = table.find((a) => a.name === 'import-deadletters')?.description ?? '';
    expect(importRunbook).toMatch(
      /^Runbook: import chunks dead-lettered: rows of an import were not written;/,
    );
    expect(importRunbook).toContain('GET /api/manage/imports/{id}');
    expect(importRunbook).toContain('import the file again');
    const ref = modules(loadBicep(mainBicepPath)).find((m) => m.symbol === 'alerts');
    expect(ref?.paramValues.get('notificationQueueName')).toBe('notificationQueueName');
    expect(ref?.paramValues.get('importQueueName')).toBe('importQueueName');
  });

  it('sends alerts to an e-mail action group only when an address is given', () => {
    const groups = resources(alerts, /^Microsoft\.Insights\/actionGroups@/);
    expect(groups).toHaveLength(1);
    expect(groups[0]?.conditional).toBe(true);
    expect(code).toMatch(/var actionGroups = empty\(alertEmail\) \? \[\] : \[actionGroup\.id\]/);
    expect(loadBicep(mainBicepPath).lexed.code).toMatch(/^param alertEmail string = ''$/m);
  });

  it('probes the webhook handshake every 5 minutes with a standard availability test', () => {
    const tests = resources(alerts, /^Microsoft\.Insights\/webtests@/);
    expect(tests).toHaveLength(1);
    const body = tests[0]?.body ?? '';
    expect(body).toMatch(/kind:\s*'standard'/);
    expect(body).toMatch(/Frequency:\s*300\b/);
    expect(body).toMatch(/HttpVerb:\s*'POST'/);
    expect(body).toMatch(
      /RequestUrl:\s*'\$\{publicBaseUrl\}\/api\/notifications\?validationToken=availability-probe'/,
    );
    expect(body).toMatch(/ExpectedHttpStatusCode:\s*200\b/);
    expect(body).toMatch(/'hidden-link:\$\{applicationInsightsId\}':\s*'Resource'/);
    const main = loadBicep(mainBicepPath);
    expect(
      modules(main)
        .find((m) => m.symbol === 'alerts')
        ?.paramValues.get('publicBaseUrl'),
    ).toBe('api.outputs.publicBaseUrl');
  });
});

describe('infra/modules/workbook.bicep', () => {
  const code = loadBicep(modulePath('workbook')).lexed.code;

  it('shows every metric the app emits', () => {
    for (const metric of APP_METRICS) expect(code, metric).toContain(`"${metric}"`);
  });

  it('shows the webhook p95 from requests and the notification-to-push p50/p95', () => {
    expect(code).toMatch(
      /requests \| where name in \("notifications-post", "lifecycle-post"\) or url has "\/api\/notifications"[^']*percentile\(duration, 95\)/,
    );
    expect(code).toMatch(/"mailpush\.push\.latency_ms"[^']*p50 = percentile[^']*p95 = percentile/);
    expect(code).toMatch(/DeadletteredMessages/);
  });

  it('is a workbook on the Application Insights resource with a stable name', () => {
    expect(code).toMatch(/name:\s*guid\(resourceGroup\(\)\.id, 'mailpush-operations'\)/);
    expect(code).toMatch(/sourceId:\s*applicationInsightsId/);
    expect(code).toMatch(/serializedData:\s*string\(/);
  });
});
