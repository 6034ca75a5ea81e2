/** Change and lifecycle notifications POSTed by the simulator, with Graph's retries. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TENANT, type GraphSimulator } from '../../../dev/sim/graph/index.js';
import {
  answerHandshake,
  demoToken,
  graph,
  startWebhook,
  subscriptionBody,
  type Webhook,
} from './helpers.js';
import { startTrustedSimulator } from '../../support/graph-sim.js';

const MEGAN = DEMO_TENANT.users[2];
const LEE = DEMO_TENANT.users[3];
const NESTOR = DEMO_TENANT.users[4];

let sim: GraphSimulator;
let webhook: Webhook;
let token: string;

beforeAll(async () => {
  sim = await startTrustedSimulator({ notificationRetry: { initialDelayMs: 20, maxAttempts: 3 } });
  webhook = await startWebhook();
  token = await demoToken(sim);
});

afterEach(() => {
  webhook.respond(answerHandshake);
  for (const s of sim.subscriptions()) sim.expireSubscription(s.id);
  webhook.requests.length = 0;
});

afterAll(async () => {
  await sim?.stop();
  await webhook?.close();
});

async function subscribe(userId: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await graph(sim, token, 'POST', '/subscriptions', subscriptionBody(userId, webhook.url, extra));
  expect(res.status).toBe(201);
  return res.body.id as string;
}

describe('change notifications', () => {
  it('POSTs a created notification with the Graph shape to the subscription', async () => {
    const id = await subscribe(MEGAN.id, { clientState: 'megan-state' });
    webhook.requests.length = 0;
    const { messageId, delivered } = sim.deliverMail(MEGAN.mail, { subject: 'Lunch?' });
    expect(await delivered).toEqual({ acknowledged: 1, failed: 0 });

    expect(webhook.requests).toHaveLength(1);
    const post = webhook.requests[0];
    expect(post?.method).toBe('POST');
    expect(post?.url).toBe('/api/notifications');
    expect(post?.headers['content-type']).toMatch(/^application\/json/);
    const sub = sim.subscriptions().find((s) => s.id === id);
    expect(JSON.parse(post?.body ?? '')).toEqual({
      value: [
        {
          subscriptionId: id,
          subscriptionExpirationDateTime: sub?.expirationDateTime,
          changeType: 'created',
          resource: `Users/${MEGAN.id}/Messages/${messageId}`,
          resourceData: {
            '@odata.type': '#Microsoft.Graph.Message',
            '@odata.id': `Users/${MEGAN.id}/Messages/${messageId}`,
            '@odata.etag': expect.stringMatching(/^W\/".+"$/),
            id: messageId,
          },
          clientState: 'megan-state',
          tenantId: DEMO_TENANT.tenantId,
        },
      ],
    });
    // The message behind the notification can be fetched.
    const fetched = await graph(
      sim,
      token,
      'GET',
      `/${JSON.parse(post?.body ?? '').value[0].resource}?$select=subject`,
    );
    expect(fetched.body.subject).toBe('Lunch?');
  });

  it('retries after a 500 (a duplicate POST), like Graph', async () => {
    await subscribe(LEE.id);
    let calls = 0;
    webhook.respond((_req, res) => {
      calls++;
      res.writeHead(calls === 1 ? 500 : 202);
      res.end();
    });
    webhook.requests.length = 0;
    const before = sim.stats();
    const { delivered } = sim.deliverMail(LEE.id);
    expect(await delivered).toEqual({ acknowledged: 1, failed: 0 });
    expect(webhook.requests).toHaveLength(2);
    expect(webhook.requests[1]?.body).toBe(webhook.requests[0]?.body);
    const after = sim.stats();
    expect(after.notificationsPosted - before.notificationsPosted).toBe(2);
    expect(after.notificationRetries - before.notificationRetries).toBe(1);
    const attempts = sim
      .notifications()
      .filter((a) => a.kind === 'change')
      .slice(-2);
    expect(attempts.map((a) => [a.attempt, a.status])).toEqual([
      [1, 500],
      [2, 202],
    ]);
  });

  it('gives up after maxAttempts when the webhook keeps failing', async () => {
    await subscribe(LEE.id);
    webhook.respond((_req, res) => {
      res.writeHead(503);
      res.end();
    });
    webhook.requests.length = 0;
    const { delivered } = sim.deliverMail(LEE.id);
    expect(await delivered).toEqual({ acknowledged: 0, failed: 1 });
    expect(webhook.requests).toHaveLength(3);
  });

  it('carries every matching subscription on one notificationUrl in one POST, and skips other users', async () => {
    const a = await subscribe(NESTOR.id, { clientState: 'a' });
    const b = await subscribe(NESTOR.id, { clientState: 'b', resource: `users/${NESTOR.mail}/messages` });
    await subscribe(MEGAN.id);
    webhook.requests.length = 0;
    expect(await sim.deliverMail(NESTOR.id).delivered).toEqual({ acknowledged: 1, failed: 0 });
    expect(webhook.requests).toHaveLength(1);
    const items = JSON.parse(webhook.requests[0]?.body ?? '').value as {
      subscriptionId: string;
      clientState: string;
    }[];
    expect(items.map((i) => [i.subscriptionId, i.clientState]).sort()).toEqual(
      [
        [a, 'a'],
        [b, 'b'],
      ].sort(),
    );
  });

  it('sends nothing for an expired subscription', async () => {
    const id = await subscribe(MEGAN.id);
    sim.expireSubscription(id);
    webhook.requests.length = 0;
    expect(await sim.deliverMail(MEGAN.id).delivered).toEqual({ acknowledged: 0, failed: 0 });
    expect(webhook.requests).toHaveLength(0);
  });
});

describe('lifecycle notifications', () => {
  it('POSTs lifecycle events to the lifecycle URL; subscriptionRemoved deletes the subscription', async () => {
    const id = await subscribe(MEGAN.id, {
      clientState: 'lc-state',
      lifecycleNotificationUrl: `${webhook.url}/api/lifecycle`,
    });
    webhook.requests.length = 0;
    await sim.emitLifecycle(id, 'reauthorizationRequired');
    await sim.emitLifecycle(id, 'subscriptionRemoved');
    expect(webhook.requests.map((r) => r.url)).toEqual(['/api/lifecycle', '/api/lifecycle']);
    const events = webhook.requests.map((r) => JSON.parse(r.body).value[0] as Record<string, unknown>);
    expect(events[0]).toEqual({
      subscriptionId: id,
      subscriptionExpirationDateTime: expect.any(String),
      tenantId: DEMO_TENANT.tenantId,
      clientState: 'lc-state',
      lifecycleEvent: 'reauthorizationRequired',
    });
    expect(events[1]?.lifecycleEvent).toBe('subscriptionRemoved');
    expect(sim.subscriptions().some((s) => s.id === id)).toBe(false);
    expect((await graph(sim, token, 'GET', `/subscriptions/${id}`)).status).toBe(404);
  });

  it('falls back to the notificationUrl and rejects an unknown subscription', async () => {
    const id = await subscribe(LEE.id);
    webhook.requests.length = 0;
    await sim.emitLifecycle(id, 'missed');
    expect(webhook.requests.map((r) => r.url)).toEqual(['/api/notifications']);
    expect(JSON.parse(webhook.requests[0]?.body ?? '').value[0].lifecycleEvent).toBe('missed');
    await expect(sim.emitLifecycle('00000000-0000-4000-8000-00000000dead', 'missed')).rejects.toThrow(
      /unknown subscription/,
    );
  });
});

describe('control surface', () => {
  it('delivers mail and lists subscriptions over HTTP', async () => {
    const id = await subscribe(MEGAN.id, { clientState: 'via-http' });
    webhook.requests.length = 0;
    const res = await fetch(`${sim.url}/_simulator/mail`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: MEGAN.mail, subject: 'from curl', importance: 'high' }),
    });
    expect(res.status).toBe(202);
    const { messageId } = (await res.json()) as { messageId: string };
    expect(sim.messages(MEGAN.id).find((m) => m.id === messageId)).toMatchObject({
      subject: 'from curl',
      importance: 'high',
    });
    await expect.poll(() => webhook.requests.length).toBe(1);
    expect(JSON.parse(webhook.requests[0]?.body ?? '').value[0].resourceData.id).toBe(messageId);

    const listed = (await (await fetch(`${sim.url}/_simulator/subscriptions`)).json()) as {
      value: { id: string }[];
    };
    expect(listed.value.map((s) => s.id)).toContain(id);
    const unknownUser = await fetch(`${sim.url}/_simulator/mail`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: 'nobody@contoso.example' }),
    });
    expect(unknownUser.status).toBe(400);
  });
});
