/** $batch, fault injection, Outlook mailbox limits, and the real Graph SDK against the simulator. */
import { Client, GraphError } from '@microsoft/microsoft-graph-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TENANT, type GraphSimulator } from '../../../dev/sim/graph/index.js';
import {
  demoCredential,
  demoToken,
  graph,
  GRAPH_SCOPE,
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
let messageId: string;

beforeAll(async () => {
  sim = await startTrustedSimulator();
  webhook = await startWebhook();
  token = await demoToken(sim);
  messageId = sim.deliverMail(ADELE.id, { subject: 'batched' }).messageId;
});

afterEach(() => {
  sim.faults.clear();
});

afterAll(async () => {
  await sim?.stop();
  await webhook?.close();
});

const jsonHeaders = { 'Content-Type': 'application/json' };

interface BatchMember {
  id: string;
  status: number;
  headers: Record<string, string>;
  body: { error: { code: string }; clientState?: string; subject?: string; mail?: string };
}

describe('$batch', () => {
  it('runs each member and throttles a member on its own while the envelope is 200', async () => {
    sim.faults.injectStatus({ method: 'GET', pathIncludes: '/messages/' }, 429, {
      inBatchMembers: true,
      retryAfterSeconds: 7,
    });
    // A member-only rule leaves top-level requests alone.
    expect((await graph(sim, token, 'GET', `/users/${ADELE.id}/messages/${messageId}`)).status).toBe(200);

    const throttledBefore = sim.stats().throttled;
    const res = await graph(sim, token, 'POST', '/$batch', {
      requests: [
        { id: '1', method: 'GET', url: `/users/${ADELE.id}?$select=mail` },
        { id: '2', method: 'GET', url: `/users/${ADELE.id}/messages/${messageId}?$select=subject` },
        {
          id: '3',
          method: 'POST',
          url: '/subscriptions',
          headers: jsonHeaders,
          body: subscriptionBody(ALEX.id, webhook.url),
        },
        { id: '4', method: 'GET', url: `/users/${ADELE.id}/messages/AAMkAGI2THVSAAAnothere=` },
      ],
    });
    expect(res.status).toBe(200);
    const byId = new Map((res.body.responses as BatchMember[]).map((r) => [r.id, r]));
    expect(byId.get('1')).toMatchObject({ status: 200, body: { mail: ADELE.mail } });
    expect(byId.get('2')?.status).toBe(429);
    expect(byId.get('2')?.headers['Retry-After']).toBe('7');
    expect(byId.get('2')?.body.error.code).toBe('TooManyRequests');
    expect(byId.get('3')?.status).toBe(201);
    expect(byId.get('3')?.body.clientState).toBe('secret-client-state-123');
    expect(byId.get('4')?.status).toBe(404);
    expect(sim.stats().throttled).toBe(throttledBefore + 1);

    // The rule was used once: the next batch member succeeds.
    const again = await graph(sim, token, 'POST', '/$batch', {
      requests: [{ id: 'a', method: 'GET', url: `/users/${ADELE.id}/messages/${messageId}?$select=subject` }],
    });
    expect(again.body.responses[0]).toMatchObject({ id: 'a', status: 200, body: { subject: 'batched' } });
  });

  it('applies the subscription write budget per member', async () => {
    sim.faults.setSubscriptionWriteBudget(DEMO_TENANT.tenantId, 1);
    const res = await graph(sim, token, 'POST', '/$batch', {
      requests: ['x', 'y'].map((id) => ({
        id,
        method: 'POST',
        url: '/subscriptions',
        headers: jsonHeaders,
        body: subscriptionBody(ALEX.id, webhook.url),
      })),
    });
    expect(res.status).toBe(200);
    const statuses = (res.body.responses as { status: number; headers: Record<string, string> }[])
      .map((r) => r.status)
      .sort();
    expect(statuses).toEqual([201, 429]);
    const throttled = (res.body.responses as { status: number; headers: Record<string, string> }[]).find(
      (r) => r.status === 429,
    );
    expect(Number(throttled?.headers['Retry-After'])).toBeGreaterThanOrEqual(1);
  });

  it('refuses more than 20 requests and write members without Content-Type', async () => {
    const tooMany = await graph(sim, token, 'POST', '/$batch', {
      requests: Array.from({ length: 21 }, (_, i) => ({
        id: String(i),
        method: 'GET',
        url: `/users/${ADELE.id}`,
      })),
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.message).toMatch(/20/);
    const twenty = await graph(sim, token, 'POST', '/$batch', {
      requests: Array.from({ length: 20 }, (_, i) => ({
        id: String(i),
        method: 'GET',
        url: `/users/${ADELE.id}`,
      })),
    });
    expect(twenty.status).toBe(200);
    expect(twenty.body.responses).toHaveLength(20);
    const noType = await graph(sim, token, 'POST', '/$batch', {
      requests: [
        { id: '1', method: 'POST', url: '/subscriptions', body: subscriptionBody(ALEX.id, webhook.url) },
      ],
    });
    expect(noType.status).toBe(400);
  });
});

describe('fault injection', () => {
  it('fails matching top-level requests `times` times, in Graph error shape, and counts them', async () => {
    sim.faults.injectStatus({ method: 'GET', pathIncludes: `/users/${ADELE.id}` }, 503, { times: 1 });
    sim.faults.injectStatus({ pathIncludes: '/subscriptions' }, 429, { retryAfterSeconds: 3 });
    const before = sim.stats();
    const failed = await graph(sim, token, 'GET', `/users/${ADELE.id}`);
    expect(failed.status).toBe(503);
    expect(failed.body.error.code).toBe('ServiceUnavailable');
    expect((await graph(sim, token, 'GET', `/users/${ADELE.id}`)).status).toBe(200);

    const throttled = await graph(sim, token, 'GET', '/subscriptions');
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('3');
    expect((await graph(sim, token, 'GET', '/subscriptions')).status).toBe(200);
    const after = sim.stats();
    expect(after.throttled - before.throttled).toBe(1);
    expect(after.byRoute['GET /v1.0/users/{id}']! - (before.byRoute['GET /v1.0/users/{id}'] ?? 0)).toBe(2);
  });

  it('leaves the token endpoint alone unless a rule names it', async () => {
    sim.faults.injectStatus({ method: 'POST' }, 500);
    await expect(demoCredential(sim).getToken(GRAPH_SCOPE)).resolves.toMatchObject({
      token: expect.any(String),
    });
    // The rule is still pending for Graph.
    const res = await graph(sim, token, 'POST', '/subscriptions', subscriptionBody(ALEX.id, webhook.url));
    expect(res.status).toBe(500);

    sim.faults.injectStatus({ pathIncludes: '/oauth2/v2.0/token' }, 403);
    await expect(demoCredential(sim).getToken(GRAPH_SCOPE)).rejects.toThrow(/AADSTS90033/);
  });

  it('enforces 4 concurrent requests per app per mailbox (Outlook limit)', async () => {
    sim.faults.latencyMs = 1000;
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        graph(sim, token, 'GET', `/users/${ADELE.id}/messages/${messageId}?$select=id`),
      ),
    );
    const throttled = results.filter((r) => r.status === 429);
    expect(throttled.length).toBeGreaterThanOrEqual(1);
    expect(throttled[0]?.body.error.code).toBe('ApplicationThrottled');
    expect(results.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(1);
  });
});

describe('the Microsoft Graph JavaScript SDK against the simulator', () => {
  const sdkClient = () =>
    Client.initWithMiddleware({
      baseUrl: sim.url,
      customHosts: new Set([new URL(sim.url).hostname]),
      authProvider: { getAccessToken: async () => (await demoCredential(sim).getToken(GRAPH_SCOPE)).token },
    });

  it('reads a message with $select, retrying a 429 after Retry-After', async () => {
    sim.faults.injectStatus({ method: 'GET', pathIncludes: `/messages/${messageId}` }, 429, {
      retryAfterSeconds: 1,
    });
    const before = sim.stats();
    const message = (await sdkClient()
      .api(`/users/${ADELE.id}/messages/${messageId}`)
      .select(['subject', 'from'])
      .get()) as Record<string, unknown>;
    expect(message.subject).toBe('batched');
    expect(message.bodyPreview).toBeUndefined();
    const after = sim.stats();
    expect(after.throttled - before.throttled).toBe(1);
    expect(
      after.byRoute['GET /v1.0/users/{id}/messages/{id}']! -
        (before.byRoute['GET /v1.0/users/{id}/messages/{id}'] ?? 0),
    ).toBe(2);
  });

  it('creates a subscription and surfaces Graph errors as GraphError', async () => {
    const created = (await sdkClient()
      .api('/subscriptions')
      .post(subscriptionBody(ALEX.id, webhook.url))) as { id: string };
    expect(sim.subscriptions().some((s) => s.id === created.id)).toBe(true);
    const error = await sdkClient()
      .api(`/users/${ADELE.id}/messages/AAMkAGI2THVSAAAgone=`)
      .get()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(GraphError);
    expect((error as GraphError).statusCode).toBe(404);
    expect((error as GraphError).code).toBe('ErrorItemNotFound');
  });
});
