import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../../dev/local/host.js';
import { DEMO_TENANT } from '../../../dev/sim/graph/demo.js';
import type { GraphSimulator } from '../../../dev/sim/graph/index.js';
import { verifyClientState } from '../../../shared/domain/client-state.js';
import type { LocalSinkPushProvider } from '../../../shared/push/index.js';
import { enrolWithPhone, startTestHost } from '../../support/test-host.js';

/**
 * CLIENT_STATE_KEYS through the local runner: a subscription created by the control plane gets
 * a signed clientState, Graph's notifications for it still become pushes, and forged signed
 * notifications are dropped before the subscription lookup (the webhook's lookup cache, which
 * remembers every id it looked up, never sees their ids).
 */
const KEYS = `k2:${Buffer.alloc(32, 0x42).toString('base64')},k1:${Buffer.alloc(32, 0x24).toString('base64')}`;
let host: LocalHost;
let sim: GraphSimulator;
let sink: LocalSinkPushProvider;
const user = { id: randomUUID(), mail: 'signed.user@contoso.example' };

beforeAll(async () => {
  host = await startTestHost({
    localPushSink: true,
    env: { CLIENT_STATE_KEYS: KEYS, PUSH_DEVICE_CACHE_SECONDS: '0' },
  });
  sim = host.graphSimulator!;
  sink = host.services.push as LocalSinkPushProvider;
  await enrolWithPhone(host, user);
}, 60_000);

afterAll(async () => {
  await host?.stop();
});

async function pushesFor(messageId: string, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = sink.list({ mailbox: user.mail }).filter((p) => p.content.data.messageId === messageId).length;
    if (n > 0 || Date.now() > deadline) return n;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function postNotifications(value: unknown[]): Promise<Response> {
  return fetch(`${host.url}/api/notifications`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ value }),
  });
}

describe('signed clientStates (CLIENT_STATE_KEYS)', () => {
  it('gives a new subscription a v2 clientState signed with the first key, stored and sent to Graph', async () => {
    const [subscription] = sim.subscriptions().filter((s) => s.resource.includes(user.id));
    expect(subscription?.clientState).toMatch(
      new RegExp(`^v2\\.k2\\.${user.id}\\.[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}$`),
    );
    const stored = await host.services.subscriptions.getSubscription(subscription!.id);
    expect(stored?.clientState).toBe(subscription?.clientState);
    const keys = host.services.settings.clientStateKeys!;
    expect(
      verifyClientState(keys, stored?.clientState, { tenantId: DEMO_TENANT.tenantId, userId: user.id }),
    ).toBe(true);
  });

  it('still turns a delivered mail into a push', async () => {
    const { messageId, delivered } = sim.deliverMail(user.mail, {
      subject: 'Signed',
      from: { name: 'Lee Gu', address: 'lee.gu@contoso.example' },
      bodyPreview: 'Hello.',
    });
    await delivered;
    expect(await pushesFor(messageId, 20_000)).toBe(1);
  }, 30_000);

  it('drops forged signed notifications for random subscription ids without looking them up', async () => {
    const [subscription] = sim.subscriptions().filter((s) => s.resource.includes(user.id));
    const [, keyId, nonce, mac] = subscription!.clientState!.split('.');
    const cachedBefore = host.services.subscriptionLookup.size;
    const forged = Array.from({ length: 20 }, (_, i) => ({
      subscriptionId: randomUUID(),
      changeType: 'created',
      // A genuine clientState replayed for another user, or a made-up MAC: both fail the MAC.
      resource: `Users/${i % 2 ? randomUUID() : user.id}/Messages/forged-${i}`,
      resourceData: { '@odata.type': '#Microsoft.Graph.Message', id: `forged-${i}` },
      clientState:
        i % 2
          ? subscription!.clientState
          : `v1.${keyId}.${nonce}.${mac!.startsWith('A') ? 'B' : 'A'}${mac!.slice(1)}`,
      tenantId: DEMO_TENANT.tenantId,
    }));
    const res = await postNotifications(forged);
    expect(res.status).toBe(202);
    expect(host.services.subscriptionLookup.size).toBe(cachedBefore);

    // The control: an unsigned clientState with a random id is looked up (and its miss cached).
    const unsigned = await postNotifications([
      { ...forged[0], subscriptionId: randomUUID(), clientState: 'guess' },
    ]);
    expect(unsigned.status).toBe(202);
    expect(host.services.subscriptionLookup.size).toBe(cachedBefore + 1);
    expect(
      sink.list({ mailbox: user.mail }).some((p) => String(p.content.data.messageId).startsWith('forged-')),
    ).toBe(false);
  });
});
