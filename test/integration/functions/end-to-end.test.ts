import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../../dev/local/host.js';
import { enrolWithPhone, startTestHost } from '../../support/test-host.js';
import type { LocalSinkPushProvider } from '../../../shared/push/index.js';
import { DEMO_TENANT } from '../../../dev/sim/graph/demo.js';
import type { GraphSimulator } from '../../../dev/sim/graph/index.js';

/**
 * Mail to push through the whole local stack: the simulated tenant delivers mail and POSTs
 * Graph notifications to the webhook, which enqueues them on the AMQP stand-in; the queue
 * trigger fetches each message from the simulated Graph and pushes to the local sink. Graph
 * faults are injected and duplicate notifications re-sent; every push is counted at the sink.
 */
const MAILBOXES = 100;
const MAILS_PER_MAILBOX = 10;
const TOTAL = MAILBOXES * MAILS_PER_MAILBOX;
let host: LocalHost;
let sim: GraphSimulator;
let sink: LocalSinkPushProvider;
const users = Array.from({ length: MAILBOXES }, (_, i) => ({
  id: randomUUID(),
  mail: `user${i}@contoso.example`,
}));

beforeAll(async () => {
  host = await startTestHost({
    localPushSink: true,
    env: {
      // Short caches so the test does not wait on them; production defaults are longer.
      PUSH_DEVICE_CACHE_SECONDS: '0',
    },
  });
  sim = host.graphSimulator!;
  sink = host.services.push as LocalSinkPushProvider;
  for (let i = 0; i < users.length; i += 10) {
    await Promise.all(
      users.slice(i, i + 10).map(async (user) => {
        await enrolWithPhone(host, user);
      }),
    );
  }
}, 120_000);

afterAll(async () => {
  await host?.stop();
});

async function settled(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let quietSince = 0;
  for (;;) {
    const q = host.amqp!.stats('mail-notifications');
    const idle = q.active === 0 && q.locked === 0 && q.scheduled === 0 && sink.count() >= TOTAL;
    if (idle) {
      quietSince ||= Date.now();
      // Stay idle a little: a late duplicate would show up as an extra push.
      if (Date.now() - quietSince > 1500) return;
    } else {
      quietSince = 0;
    }
    if (Date.now() > deadline)
      throw new Error(`not settled: ${JSON.stringify({ ...q, pushes: sink.count() })}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('mail → notification → queue → Graph fetch → push', () => {
  it(`pushes each of ${TOTAL} mails exactly once despite Graph faults and duplicate notifications`, async () => {
    // ~5% of message fetches fail: 503s, and 429s with Retry-After.
    sim.faults.injectStatus({ method: 'GET', pathIncludes: '/messages/' }, 503, { times: 35 });
    sim.faults.injectStatus({ method: 'GET', pathIncludes: '/messages/' }, 429, {
      times: 15,
      retryAfterSeconds: 1,
    });

    const delivered: { user: (typeof users)[number]; messageId: string }[] = [];
    const deliveries: Promise<unknown>[] = [];
    for (let round = 0; round < MAILS_PER_MAILBOX; round++) {
      for (const user of users) {
        const { messageId, delivered: done } = sim.deliverMail(user.mail, {
          subject: `Report ${round}`,
          from: { name: 'Lee Gu', address: 'lee.gu@contoso.example' },
          bodyPreview: 'Numbers attached.',
        });
        delivered.push({ user, messageId });
        deliveries.push(done);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.all(deliveries);

    // Graph's retries: the same notification POSTed again for one mail in ten.
    const subscriptions = sim.subscriptions();
    for (const { user, messageId } of delivered.filter((_, i) => i % 10 === 0)) {
      const s = subscriptions.find((x) => x.resource.includes(user.id))!;
      const res = await fetch(`${host.url}/api/notifications`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          value: [
            {
              subscriptionId: s.id,
              subscriptionExpirationDateTime: s.expirationDateTime,
              changeType: 'created',
              resource: `Users/${user.id}/Messages/${messageId}`,
              resourceData: { '@odata.type': '#Microsoft.Graph.Message', id: messageId },
              clientState: s.clientState,
              tenantId: DEMO_TENANT.tenantId,
            },
          ],
        }),
      });
      expect(res.status).toBe(202);
    }

    await settled(150_000);
    const pushes = sink.list();
    expect(sink.count()).toBe(TOTAL);
    const keys = new Set(pushes.map((p) => `${p.mailbox}|${p.content.data.messageId}|${p.deviceId}`));
    expect(keys.size).toBe(TOTAL); // 0 duplicates
    for (const { user, messageId } of delivered) {
      expect(keys.has(`${user.mail}|${messageId}|phone`), `lost ${user.mail} ${messageId}`).toBe(true);
    }
    expect(pushes[0]?.content.title).toContain('Lee Gu');
    expect(host.amqp!.stats('mail-notifications').deadLettered).toBe(0);
    // The injected faults were really met (50 of ~1,000 fetches) and retried.
    const stats = sim.stats();
    expect(stats.throttled).toBeGreaterThanOrEqual(15);
    expect(stats.byRoute['GET /v1.0/users/{id}/messages/{id}'] ?? 0).toBeGreaterThanOrEqual(TOTAL + 50);
  }, 240_000);
});
