import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../../dev/local/host.js';
import { DEMO_TENANT } from '../../../dev/sim/graph/demo.js';
import type { GraphSimulator } from '../../../dev/sim/graph/index.js';
import { runMaintenance } from '../../../shared/app/maintenance.js';
import type { LocalSinkPushProvider } from '../../../shared/push/index.js';
import { enrolWithPhone, startTestHost } from '../../support/test-host.js';
import {
  installMetrics,
  installTracing,
  total,
  type MetricsHarness,
  type TracingHarness,
} from '../../unit/telemetry/harness.js';

/**
 * Mail to push through the local runner with an in-memory meter and tracer: every `mailpush.*`
 * metric the flow can produce exists with the attributes the workbook and alerts query, and each
 * push's processing span continues the trace of the webhook request that enqueued it.
 */
const MAILBOXES = 4;
const MAILS_PER_MAILBOX = 3;
const TOTAL = MAILBOXES * MAILS_PER_MAILBOX;
let host: LocalHost;
let sim: GraphSimulator;
let sink: LocalSinkPushProvider;
let metrics: MetricsHarness;
let tracing: TracingHarness;
const users = Array.from({ length: MAILBOXES }, (_, i) => ({
  id: randomUUID(),
  mail: `tel${i}@contoso.example`,
}));

beforeAll(async () => {
  metrics = installMetrics();
  tracing = installTracing();
  host = await startTestHost({ localPushSink: true, env: { PUSH_DEVICE_CACHE_SECONDS: '0' } });
  sim = host.graphSimulator!;
  sink = host.services.push as LocalSinkPushProvider;
  for (const user of users) {
    await enrolWithPhone(host, user);
  }
}, 120_000);

afterAll(async () => {
  await host?.stop();
  await metrics?.stop();
  await tracing?.stop();
});

async function pushed(count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const q = host.amqp!.stats('mail-notifications');
    if (sink.count() >= count && q.active === 0 && q.locked === 0 && q.scheduled === 0) return;
    if (Date.now() > deadline)
      throw new Error(`not settled: ${JSON.stringify({ ...q, pushes: sink.count() })}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('telemetry over the local runner', () => {
  it('records every mailpush.* metric of the flow with its attributes', async () => {
    sim.faults.injectStatus({ method: 'GET', pathIncludes: '/messages/' }, 429, {
      times: 1,
      retryAfterSeconds: 1,
    });
    const deliveries: Promise<unknown>[] = [];
    for (let round = 0; round < MAILS_PER_MAILBOX; round++) {
      for (const user of users) {
        deliveries.push(
          sim.deliverMail(user.mail, {
            subject: `Hello ${round}`,
            from: { name: 'Lee Gu', address: 'lee@contoso.example' },
          }).delivered,
        );
      }
    }
    await Promise.all(deliveries);
    // A notification for a subscription we do not know: dropped at the webhook.
    const res = await fetch(`${host.url}/api/notifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        value: [
          {
            subscriptionId: randomUUID(),
            changeType: 'created',
            resource: `Users/${users[0]!.id}/Messages/x`,
            resourceData: { id: 'x' },
            clientState: 'nope',
            tenantId: DEMO_TENANT.tenantId,
          },
        ],
      }),
    });
    expect(res.status).toBe(202);
    await pushed(TOTAL, 60_000);
    const report = await runMaintenance(host.services);
    expect(report.leaseHeld).toBe(true);

    expect(total(await metrics.points('mailpush.notifications.received'), { kind: 'change' })).toBe(
      TOTAL + 1,
    );
    expect(total(await metrics.points('mailpush.notifications.enqueued'), { kind: 'change' })).toBe(TOTAL);
    expect(total(await metrics.points('mailpush.notifications.dropped'), { stage: 'webhook' })).toBe(1);
    const ack = await metrics.points('mailpush.webhook.ack_ms');
    expect(total(ack, { kind: 'change' })).toBeGreaterThanOrEqual(TOTAL + 1);
    const latency = await metrics.points('mailpush.push.latency_ms');
    expect(total(latency, { from: 'receipt' })).toBe(TOTAL);
    expect(total(latency, { from: 'received' })).toBe(TOTAL);
    expect(
      total(await metrics.points('mailpush.pushes'), { provider: 'local', outcome: 'sent', reason: 'none' }),
    ).toBe(TOTAL);
    const graph = await metrics.points('mailpush.graph.requests');
    expect(total(graph, { status_class: '2xx' })).toBeGreaterThanOrEqual(TOTAL);
    expect(total(graph, { status_class: '4xx' })).toBeGreaterThanOrEqual(1);
    expect(total(await metrics.points('mailpush.graph.throttled'))).toBeGreaterThanOrEqual(1);
    expect(total(await metrics.points('mailpush.maintenance.runs'))).toBe(1);
    expect(await metrics.points('mailpush.subscriptions.expiring_24h')).toEqual([
      { attributes: {}, value: 0 },
    ]);
    const mailboxes = await metrics.points('mailpush.mailboxes');
    expect(mailboxes.map((p) => p.attributes.state).sort()).toEqual(['ews', 'pending']);
    const migration = await metrics.points('mailpush.migration');
    expect(migration.map((p) => p.attributes.state).sort()).toEqual(['failed', 'migrated', 'pending']);
    // Nothing failed for good in this flow: no dead-letters, no renewal failures.
    expect(await metrics.points('mailpush.deadlettered')).toEqual([]);
    expect(total(await metrics.points('mailpush.renewals'), { outcome: 'failed' })).toBe(0);
  }, 120_000);

  it('continues the webhook’s trace in the processor, through the queue', () => {
    const spans = tracing.exporter.getFinishedSpans();
    const webhooks = spans.filter((s) => s.name === 'mailpush.webhook');
    const processes = spans.filter((s) => s.name === 'mailpush.process');
    expect(processes.length).toBeGreaterThanOrEqual(TOTAL);
    const byId = new Map(webhooks.map((s) => [s.spanContext().spanId, s]));
    for (const span of processes) {
      const parent = byId.get(span.parentSpanContext?.spanId ?? '');
      expect(parent, 'processor span without its webhook parent').toBeDefined();
      expect(span.spanContext().traceId).toBe(parent!.spanContext().traceId);
    }
  });
});
