/** Subscriptions on the simulator: handshake, lifetime, renew, delete, list, write budget. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TENANT, type GraphSimulator } from '../../../dev/sim/graph/index.js';
import {
  answerHandshake,
  demoToken,
  graph,
  minutesFromNow,
  startWebhook,
  subscriptionBody,
  type Webhook,
} from './helpers.js';
import { startTrustedSimulator } from '../../support/graph-sim.js';

const ADELE = DEMO_TENANT.users[0];
const ALEX = DEMO_TENANT.users[1];

let sim: GraphSimulator;
let webhook: Webhook;
let token: string;

beforeAll(async () => {
  sim = await startTrustedSimulator({ handshakeTimeoutMs: 1500 });
  webhook = await startWebhook();
  token = await demoToken(sim);
});

afterEach(() => {
  sim.faults.clear();
  webhook.respond(answerHandshake);
});

afterAll(async () => {
  await sim?.stop();
  await webhook?.close();
});

describe('create', () => {
  it('performs the validation handshake and answers 201 with the subscription', async () => {
    const before = webhook.requests.length;
    const created = await graph(
      sim,
      token,
      'POST',
      '/subscriptions',
      subscriptionBody(ADELE.id, webhook.url),
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      resource: `users/${ADELE.id}/mailFolders('Inbox')/messages`,
      changeType: 'created',
      clientState: 'secret-client-state-123',
      applicationId: DEMO_TENANT.clientId,
      notificationUrl: `${webhook.url}/api/notifications`,
    });
    expect(created.body.id).toMatch(/^[0-9a-f-]{36}$/);

    const handshake = webhook.requests.slice(before);
    expect(handshake).toHaveLength(1);
    expect(handshake[0]?.method).toBe('POST');
    expect(handshake[0]?.headers['content-type']).toMatch(/^text\/plain/);
    const validationToken = new URL(handshake[0]?.url ?? '', 'http://x').searchParams.get('validationToken');
    // Graph's token contains spaces and colons: the webhook must answer the decoded value.
    expect(validationToken).toMatch(/^Validation: .+ Request-Id: [0-9a-f-]{36}$/);

    const got = await graph(sim, token, 'GET', `/subscriptions/${created.body.id}`);
    expect(got.status).toBe(200);
    expect(got.body.clientState).toBeNull();
    expect(got.body.expirationDateTime).toBe(created.body.expirationDateTime);
    const view = sim.subscriptions().find((s) => s.id === created.body.id);
    expect(view).toMatchObject({
      clientState: 'secret-client-state-123',
      tenantId: DEMO_TENANT.tenantId,
      userId: ADELE.id,
    });
  });

  it('accepts users/{mail}/messages as resource', async () => {
    const created = await graph(sim, token, 'POST', '/subscriptions', {
      ...subscriptionBody(ADELE.id, webhook.url),
      resource: `/users/${ADELE.mail}/messages`,
    });
    expect(created.status).toBe(201);
    expect(sim.subscriptions().find((s) => s.id === created.body.id)?.userId).toBe(ADELE.id);
  });

  it('fails with 400 ValidationError when the webhook answers the wrong body', async () => {
    webhook.respond((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('not the token');
    });
    const count = sim.subscriptions().length;
    const res = await graph(sim, token, 'POST', '/subscriptions', subscriptionBody(ADELE.id, webhook.url));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ValidationError');
    expect(res.body.error.message).toMatch(/Subscription validation request failed/);
    expect(sim.subscriptions()).toHaveLength(count);
  });

  it('fails with 400 ValidationError when the webhook answers a non-200', async () => {
    webhook.respond((_req, res) => {
      res.writeHead(202);
      res.end();
    });
    const res = await graph(sim, token, 'POST', '/subscriptions', subscriptionBody(ADELE.id, webhook.url));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ValidationError');
  });

  it('fails with 400 ValidationError when the webhook is slower than the handshake timeout', async () => {
    webhook.respond(async (req, res) => {
      await new Promise((r) => setTimeout(r, 3000));
      answerHandshake(req, res);
    });
    const res = await graph(sim, token, 'POST', '/subscriptions', subscriptionBody(ADELE.id, webhook.url));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ValidationError');
    expect(res.body.error.message).toMatch(/timed out/);
  });

  it('also validates the lifecycle URL', async () => {
    webhook.respond((req, res) => {
      if (req.url.startsWith('/api/lifecycle')) {
        res.writeHead(500);
        res.end();
        return;
      }
      answerHandshake(req, res);
    });
    const res = await graph(sim, token, 'POST', '/subscriptions', {
      ...subscriptionBody(ADELE.id, webhook.url),
      lifecycleNotificationUrl: `${webhook.url}/api/lifecycle`,
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ValidationError');
    const lifecycleHandshakes = webhook.requests.filter((r) =>
      r.url.startsWith('/api/lifecycle?validationToken='),
    );
    expect(lifecycleHandshakes.length).toBeGreaterThanOrEqual(1);
  });

  it('caps the lifetime at 10,080 minutes', async () => {
    const tooLong = await graph(sim, token, 'POST', '/subscriptions', {
      ...subscriptionBody(ADELE.id, webhook.url),
      expirationDateTime: minutesFromNow(10_081),
    });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.message).toMatch(/10080 minutes/);
    const max = await graph(sim, token, 'POST', '/subscriptions', {
      ...subscriptionBody(ADELE.id, webhook.url),
      expirationDateTime: minutesFromNow(10_079),
    });
    expect(max.status).toBe(201);
    const past = await graph(sim, token, 'POST', '/subscriptions', {
      ...subscriptionBody(ADELE.id, webhook.url),
      expirationDateTime: minutesFromNow(-1),
    });
    expect(past.status).toBe(400);
  });

  it('validates the body: clientState length, resource, changeType, user', async () => {
    const longState = await graph(sim, token, 'POST', '/subscriptions', {
      ...subscriptionBody(ADELE.id, webhook.url),
      clientState: 'x'.repeat(129),
    });
    expect(longState.status).toBe(400);
    const okState = await graph(sim, token, 'POST', '/subscriptions', {
      ...subscriptionBody(ADELE.id, webhook.url),
      clientState: 'x'.repeat(128),
    });
    expect(okState.status).toBe(201);
    const badResource = await graph(sim, token, 'POST', '/subscriptions', {
      ...subscriptionBody(ADELE.id, webhook.url),
      resource: `users/${ADELE.id}/events`,
    });
    expect(badResource.status).toBe(400);
    const badType = await graph(sim, token, 'POST', '/subscriptions', {
      ...subscriptionBody(ADELE.id, webhook.url),
      changeType: 'arrived',
    });
    expect(badType.status).toBe(400);
    const unknownUser = await graph(
      sim,
      token,
      'POST',
      '/subscriptions',
      subscriptionBody('00000000-0000-4000-8000-000000000000', webhook.url),
    );
    expect(unknownUser.status).toBe(404);
    expect(unknownUser.body.error.code).toBe('ResourceNotFound');
    const httpRemote = await graph(sim, token, 'POST', '/subscriptions', {
      ...subscriptionBody(ADELE.id, webhook.url),
      notificationUrl: 'http://webhook.example.com/api/notifications',
    });
    expect(httpRemote.status).toBe(400);
  });

  it("answers errors in Graph's shape, echoing client-request-id", async () => {
    const res = await graph(
      sim,
      token,
      'GET',
      '/subscriptions/4f8b1c7e-0000-4000-8000-000000000001',
      undefined,
      {
        'client-request-id': 'trace-me-123',
      },
    );
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('ResourceNotFound');
    expect(res.body.error.innerError).toMatchObject({ 'client-request-id': 'trace-me-123' });
    expect(res.body.error.innerError['request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(`${res.body.error.innerError.date}Z`)).not.toBeNaN();
    expect(res.headers.get('request-id')).toBe(res.body.error.innerError['request-id']);
  });
});

describe('renew, delete, list, expiry', () => {
  it('renews with PATCH and answers 404 for an unknown or deleted subscription', async () => {
    const created = await graph(sim, token, 'POST', '/subscriptions', subscriptionBody(ALEX.id, webhook.url));
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const later = minutesFromNow(4000);
    const renewed = await graph(sim, token, 'PATCH', `/subscriptions/${id}`, { expirationDateTime: later });
    expect(renewed.status).toBe(200);
    expect(Date.parse(renewed.body.expirationDateTime)).toBe(Date.parse(later));
    expect(renewed.body.clientState).toBeNull();
    expect(Date.parse((await graph(sim, token, 'GET', `/subscriptions/${id}`)).body.expirationDateTime)).toBe(
      Date.parse(later),
    );

    const tooFar = await graph(sim, token, 'PATCH', `/subscriptions/${id}`, {
      expirationDateTime: minutesFromNow(20_000),
    });
    expect(tooFar.status).toBe(400);
    const lifecycle = await graph(sim, token, 'PATCH', `/subscriptions/${id}`, {
      lifecycleNotificationUrl: `${webhook.url}/x`,
    });
    expect(lifecycle.status).toBe(400);

    const unknown = await graph(sim, token, 'PATCH', '/subscriptions/0b6f62c5-1111-4222-8333-444455556666', {
      expirationDateTime: later,
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('ResourceNotFound');

    expect((await graph(sim, token, 'DELETE', `/subscriptions/${id}`)).status).toBe(204);
    expect((await graph(sim, token, 'GET', `/subscriptions/${id}`)).status).toBe(404);
    expect((await graph(sim, token, 'DELETE', `/subscriptions/${id}`)).status).toBe(404);
    expect(
      (await graph(sim, token, 'PATCH', `/subscriptions/${id}`, { expirationDateTime: later })).status,
    ).toBe(404);
  });

  it('lists subscriptions page by page with @odata.nextLink', async () => {
    for (let i = 0; i < 3; i++) {
      expect(
        (await graph(sim, token, 'POST', '/subscriptions', subscriptionBody(ALEX.id, webhook.url))).status,
      ).toBe(201);
    }
    const total = sim.subscriptions().length;
    expect(total).toBeGreaterThanOrEqual(3);
    const seen: string[] = [];
    let next: string | undefined = `${sim.graphBaseUrl}/subscriptions`;
    let pages = 0;
    while (next) {
      const page = await graph(sim, token, 'GET', next, undefined, { Prefer: 'odata.maxpagesize=2' });
      expect(page.status).toBe(200);
      expect(page.body.value.length).toBeLessThanOrEqual(2);
      for (const s of page.body.value as { id: string; clientState: unknown }[]) {
        expect(s.clientState).toBeNull();
        seen.push(s.id);
      }
      next = page.body['@odata.nextLink'] as string | undefined;
      pages++;
    }
    expect(pages).toBe(Math.ceil(total / 2));
    expect(new Set(seen).size).toBe(total);
  });

  it('removes an expired subscription', async () => {
    const created = await graph(sim, token, 'POST', '/subscriptions', subscriptionBody(ALEX.id, webhook.url));
    sim.expireSubscription(created.body.id as string);
    expect(sim.subscriptions().some((s) => s.id === created.body.id)).toBe(false);
    expect((await graph(sim, token, 'GET', `/subscriptions/${created.body.id}`)).status).toBe(404);
  });
});

describe('write budget', () => {
  it('answers 429 with Retry-After once the per-tenant subscription write budget is spent', async () => {
    const created = await graph(
      sim,
      token,
      'POST',
      '/subscriptions',
      subscriptionBody(ADELE.id, webhook.url),
    );
    expect(created.status).toBe(201);
    sim.faults.setSubscriptionWriteBudget(DEMO_TENANT.tenantId, 2);
    const throttledBefore = sim.stats().throttled;
    const first = await graph(sim, token, 'PATCH', `/subscriptions/${created.body.id}`, {
      expirationDateTime: minutesFromNow(90),
    });
    const second = await graph(sim, token, 'POST', '/subscriptions', subscriptionBody(ADELE.id, webhook.url));
    const third = await graph(sim, token, 'POST', '/subscriptions', subscriptionBody(ADELE.id, webhook.url));
    expect(first.status).toBe(200);
    expect(second.status).toBe(201);
    expect(third.status).toBe(429);
    const retryAfter = Number(third.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(20);
    // Deletes count too; reads do not.
    expect((await graph(sim, token, 'DELETE', `/subscriptions/${created.body.id}`)).status).toBe(429);
    expect((await graph(sim, token, 'GET', `/subscriptions/${created.body.id}`)).status).toBe(200);
    expect(sim.stats().throttled).toBe(throttledBefore + 2);
  });
});
