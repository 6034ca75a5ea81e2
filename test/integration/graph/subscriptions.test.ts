/**
 * GraphSubscriptions against the Graph simulator: creation with the real validation handshake
 * (against a local webhook), 409, renew, get/delete/list, and renewals in `$batch`.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGraphCredential } from '../../../shared/auth/index.js';
import {
  GraphClientFactory,
  GraphRequestError,
  GraphSubscriptionRenewal,
  GraphSubscriptions,
  inboxMessagesResource,
  type GraphClient,
} from '../../../shared/graph/index.js';
import { DEMO_TENANT, type GraphSimulator } from '../../../dev/sim/graph/index.js';
import {
  demoClient,
  minutesFromNow,
  routeCount,
  startEchoWebhook,
  startSilentWebhook,
  type LocalServer,
} from './helpers.js';
import { startTrustedSimulator } from '../../support/graph-sim.js';

const USERS = DEMO_TENANT.users;
const ADELE = USERS[0];
const CLIENT_STATE = 'a-random-client-state-that-is-a-secret';

let sim: GraphSimulator;
let webhook: LocalServer;
let silent: LocalServer;
let client: GraphClient;
let subscriptions: GraphSubscriptions;

beforeAll(async () => {
  // Graph gives the handshake 10 s; a shorter limit keeps the "no answer" case quick.
  sim = await startTrustedSimulator({ handshakeTimeoutMs: 1500, duplicateSubscriptionConflict: true });
  webhook = await startEchoWebhook();
  silent = await startSilentWebhook();
  client = demoClient(sim);
  subscriptions = new GraphSubscriptions(client);
});

afterEach(() => {
  sim.faults.clear();
});

afterAll(async () => {
  await sim?.stop();
  await webhook?.close();
  await silent?.close();
});

let urlCounter = 0;
function createInput(userId: string = ADELE.id, base: string = webhook.url) {
  urlCounter += 1;
  return {
    userId,
    notificationUrl: `${base}/api/notifications?n=${urlCounter}`,
    lifecycleNotificationUrl: `${base}/api/lifecycle?n=${urlCounter}`,
    clientState: CLIENT_STATE,
    expirationDateTime: minutesFromNow(60),
  };
}

describe('create', () => {
  it('creates an Inbox subscription after the validation handshake on both URLs', async () => {
    const input = createInput();
    const seenBefore = webhook.seen.length;
    const created = await subscriptions.create(input);
    expect(created).toMatchObject({
      resource: inboxMessagesResource(ADELE.id),
      changeType: 'created',
      notificationUrl: input.notificationUrl,
      lifecycleNotificationUrl: input.lifecycleNotificationUrl,
      clientState: CLIENT_STATE,
      applicationId: DEMO_TENANT.clientId,
      existing: false,
    });
    expect(Date.parse(created.expirationDateTime)).toBe(Date.parse(input.expirationDateTime));
    const handshakes = webhook.seen.slice(seenBefore);
    expect(handshakes).toHaveLength(2);
    expect(handshakes.every((u) => u.includes('validationToken='))).toBe(true);
    expect(sim.subscriptions().find((s) => s.id === created.id)?.clientState).toBe(CLIENT_STATE);
  });

  it('fails clearly when the webhook does not answer the handshake, and creates nothing', async () => {
    const before = sim.subscriptions().length;
    const promise = subscriptions.create(createInput(ADELE.id, silent.url));
    await expect(promise).rejects.toBeInstanceOf(GraphRequestError);
    const error = (await promise.catch((e: unknown) => e)) as GraphRequestError;
    expect(error).toMatchObject({ status: 400, graphCode: 'ValidationError' });
    expect(error.message).toMatch(/validationToken/);
    expect(error.message).toMatch(/10 seconds/);
    expect(error.message).not.toContain(CLIENT_STATE);
    expect(silent.seen.some((u) => u.includes('validationToken='))).toBe(true);
    expect(sim.subscriptions()).toHaveLength(before);
  });

  it('returns the existing subscription when Graph answers 409 for a duplicate', async () => {
    const input = createInput(USERS[1].id);
    const first = await subscriptions.create(input);
    const again = await subscriptions.create({ ...input, clientState: 'another-state' });
    expect(again).toMatchObject({ id: first.id, existing: true, clientState: null });
    expect(sim.subscriptions().filter((s) => s.notificationUrl === input.notificationUrl)).toHaveLength(1);
  });

  it('refuses a clientState over 128 characters without echoing it', async () => {
    const secret = 'x'.repeat(129);
    const promise = subscriptions.create({ ...createInput(), clientState: secret });
    await expect(promise).rejects.toThrow(/129 characters; Graph allows at most 128/);
    await expect(promise).rejects.not.toThrow(secret);
  });
});

describe('renew, get, delete, list', () => {
  it('renews with PATCH and reads the new expiry back', async () => {
    const created = await subscriptions.create(createInput());
    const later = minutesFromNow(3 * 24 * 60);
    const renewed = await subscriptions.renew(created.id, later);
    expect(Date.parse(renewed.expirationDateTime)).toBe(Date.parse(later));
    const read = await subscriptions.get(created.id);
    expect(read).toMatchObject({ id: created.id, clientState: null }); // GET never returns clientState
    expect(Date.parse(read?.expirationDateTime ?? '')).toBe(Date.parse(later));
  });

  it('throws a 404 GraphRequestError when renewing a subscription that is gone', async () => {
    const promise = subscriptions.renew(randomUUID(), minutesFromNow(60));
    await expect(promise).rejects.toMatchObject({ status: 404, graphCode: 'ResourceNotFound' });
  });

  it('get answers undefined and delete answers false for an unknown id', async () => {
    const id = randomUUID();
    expect(await subscriptions.get(id)).toBeUndefined();
    expect(await subscriptions.delete(id)).toBe(false);
  });

  it('deletes a subscription', async () => {
    const created = await subscriptions.create(createInput());
    expect(await subscriptions.delete(created.id)).toBe(true);
    expect(await subscriptions.get(created.id)).toBeUndefined();
    expect(sim.subscriptions().some((s) => s.id === created.id)).toBe(false);
  });

  it('lists every subscription of the app', async () => {
    const created = await subscriptions.create(createInput(USERS[2].id));
    const listed = await subscriptions.list();
    expect(listed.map((s) => s.id).sort()).toEqual(
      sim
        .subscriptions()
        .map((s) => s.id)
        .sort(),
    );
    expect(listed.find((s) => s.id === created.id)).toMatchObject({
      resource: inboxMessagesResource(USERS[2].id),
    });
  });
});

describe('renewBatch', () => {
  it('renews 45 subscriptions in 3 $batch requests; member 429s carry retryAfterMs, gone ones answer 404', async () => {
    const created: string[] = [];
    for (let i = 0; i < 40; i += 1) {
      created.push((await subscriptions.create(createInput(USERS[i % USERS.length]?.id))).id);
    }
    const gone: string[] = Array.from({ length: 5 }, () => randomUUID());
    const ids = [...created.slice(0, 15), ...gone, ...created.slice(15)];
    const throttled = [created[3], created[21], created[39]] as string[];
    for (const id of throttled) {
      sim.faults.injectStatus({ method: 'PATCH', pathIncludes: `/subscriptions/${id}` }, 429, {
        inBatchMembers: true,
        retryAfterSeconds: 7,
      });
    }
    const expiry = minutesFromNow(2 * 24 * 60);
    const batchesBefore = routeCount(sim, 'POST /v1.0/$batch');
    const patchesBefore = routeCount(sim, 'PATCH /v1.0/subscriptions/{id}');

    const outcomes = await subscriptions.renewBatch(
      ids.map((subscriptionId) => ({ subscriptionId, expirationDateTime: expiry })),
    );

    expect(routeCount(sim, 'POST /v1.0/$batch') - batchesBefore).toBe(3);
    expect(routeCount(sim, 'PATCH /v1.0/subscriptions/{id}') - patchesBefore).toBe(45); // no member retries
    expect(outcomes.map((o) => o.subscriptionId)).toEqual(ids);
    for (const outcome of outcomes) {
      if (throttled.includes(outcome.subscriptionId)) {
        expect(outcome).toMatchObject({ status: 429, retryAfterMs: 7000, errorCode: 'TooManyRequests' });
      } else if (gone.includes(outcome.subscriptionId)) {
        expect(outcome).toMatchObject({ status: 404, errorCode: 'ResourceNotFound' });
        expect(outcome.error).toMatch(/^HTTP 404 ResourceNotFound/);
      } else {
        expect(outcome.status).toBe(200);
        expect(Date.parse(outcome.expirationDateTime ?? '')).toBe(Date.parse(expiry));
        expect(outcome.retryAfterMs).toBeUndefined();
      }
    }
    const live = new Map(sim.subscriptions().map((s) => [s.id, s.expirationDateTime]));
    expect(Date.parse(live.get(created[0] ?? '') ?? '')).toBe(Date.parse(expiry));
    expect(Date.parse(live.get(created[3] ?? '') ?? '')).not.toBe(Date.parse(expiry));
  });

  it("reports the tenant's subscription-write budget as 429 with Retry-After", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push((await subscriptions.create(createInput())).id);
    sim.faults.setSubscriptionWriteBudget(DEMO_TENANT.tenantId, 2);
    const outcomes = await subscriptions.renewBatch(
      ids.map((subscriptionId) => ({ subscriptionId, expirationDateTime: minutesFromNow(120) })),
    );
    expect(outcomes.map((o) => o.status)).toEqual([200, 200, 429, 429, 429]);
    for (const o of outcomes.slice(2)) {
      expect(o.retryAfterMs).toBeGreaterThanOrEqual(1000);
      expect(o.retryAfterMs).toBeLessThanOrEqual(20_000);
    }
  });

  it('serves the renewal engine port through one cached client per tenant', async () => {
    const created = await subscriptions.create(createInput());
    const tenants: string[] = [];
    const factory = new GraphClientFactory({
      graphEndpoint: sim.url,
      credentialFor: (tenantId) => {
        tenants.push(tenantId);
        return createGraphCredential({
          tenant: tenantId,
          clientId: DEMO_TENANT.clientId,
          authorityHost: sim.url,
          secret: DEMO_TENANT.clientSecret,
        });
      },
    });
    const port = new GraphSubscriptionRenewal(factory);
    const expiry = minutesFromNow(600);
    for (let round = 0; round < 2; round += 1) {
      const [outcome] = await port.renewBatch(DEMO_TENANT.tenantId, [
        { subscriptionId: created.id, expirationDateTime: expiry },
      ]);
      expect(outcome).toMatchObject({ subscriptionId: created.id, status: 200 });
    }
    expect(tenants).toEqual([DEMO_TENANT.tenantId]);
    expect(factory.forTenant(DEMO_TENANT.tenantId.toUpperCase())).toBe(
      factory.forTenant(DEMO_TENANT.tenantId),
    );
  });
});
