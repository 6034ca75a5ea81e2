/**
 * The `mailpush.*` metrics. Names and attributes are fixed: the workbook and the alert rules
 * (infra/modules/workbook.bicep, alerts.bicep) query them in customMetrics. Attributes take values
 * from closed sets only (reasons, outcomes, status classes): no ids, addresses or tenant names.
 */
import type { Attributes } from '@opentelemetry/api';
import { cachedInstruments } from './meter.js';

/** Buckets for millisecond latencies: webhook acks (tens of ms) to push latency (minutes). */
const MS_BUCKETS = [
  5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000,
];

export const instruments = cachedInstruments((meter) => ({
  received: meter.createCounter('mailpush.notifications.received', {
    description: 'Graph change notifications and lifecycle events POSTed to the webhook',
  }),
  enqueued: meter.createCounter('mailpush.notifications.enqueued', {
    description: 'Notifications put on the mail-notifications queue',
  }),
  dropped: meter.createCounter('mailpush.notifications.dropped', {
    description: 'Notifications dropped, by reason and stage (webhook or processor)',
  }),
  ackMs: meter.createHistogram('mailpush.webhook.ack_ms', {
    description: 'Time to answer Graph (Graph wants an answer within 3 s, drops after 10 s)',
    unit: 'ms',
    advice: { explicitBucketBoundaries: MS_BUCKETS },
  }),
  pushLatencyMs: meter.createHistogram('mailpush.push.latency_ms', {
    description:
      'Mail to push: from the mail’s receivedDateTime (from=received) or our webhook receipt (from=receipt)',
    unit: 'ms',
    advice: { explicitBucketBoundaries: MS_BUCKETS },
  }),
  pushes: meter.createCounter('mailpush.pushes', {
    description: 'Pushes per device, by provider and outcome',
  }),
  graphRequests: meter.createCounter('mailpush.graph.requests', {
    description: 'HTTP requests to Microsoft Graph, by status class (2xx…5xx, none)',
  }),
  graphThrottled: meter.createCounter('mailpush.graph.throttled', {
    description: 'Graph answers 429',
  }),
  renewals: meter.createCounter('mailpush.renewals', {
    description: 'Subscription renewals, outcome ok or failed',
  }),
  expiring24h: meter.createGauge('mailpush.subscriptions.expiring_24h', {
    description: 'Subscriptions still expiring within 24 h after a renewal pass',
  }),
  mailboxes: meter.createGauge('mailpush.mailboxes', { description: 'Mailboxes by state' }),
  migration: meter.createGauge('mailpush.migration', {
    description: 'EWS → Graph migration: pending mailboxes, migrated and failed in the last run',
  }),
  deadlettered: meter.createCounter('mailpush.deadlettered', {
    description: 'Queue messages failing on their last delivery (the queue dead-letters them)',
  }),
  credentialDaysLeft: meter.createGauge('mailpush.credential.days_left', {
    description: 'Days until the Graph client certificate expires',
  }),
  maintenanceRuns: meter.createCounter('mailpush.maintenance.runs', {
    description: 'Runs of the subscription-maintenance timer (the heartbeat alert needs one per run)',
  }),
}));

export function count(
  name: Exclude<
    keyof ReturnType<typeof instruments>,
    'ackMs' | 'pushLatencyMs' | 'expiring24h' | 'mailboxes' | 'migration' | 'credentialDaysLeft'
  >,
  value = 1,
  attributes?: Attributes,
): void {
  if (value > 0) instruments()[name].add(value, attributes);
}

/** `2xx`…`5xx`, or `none` for a request that got no HTTP answer. */
export function statusClassOf(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'none';
}

/** One HTTP answer (or none: status 0) from Microsoft Graph. */
export function recordGraphResponse(status: number): void {
  const i = instruments();
  i.graphRequests.add(1, { status_class: statusClassOf(status) });
  if (status === 429) i.graphThrottled.add(1);
}
