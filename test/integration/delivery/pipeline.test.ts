/**
 * The pipeline against the simulated Graph tenant (real GraphClientFactory and client-secret
 * credential, as services.ts builds them), with the mailbox and delivery-record tables in Azurite
 * and in-memory devices and push provider.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createGraphCredential } from '../../../shared/auth/index.js';
import type { ChangeMessage, PrivacyMode } from '../../../shared/domain/model.js';
import { GraphClientFactory, type GraphClientFactoryOptions } from '../../../shared/graph/index.js';
import { RetryableError } from '../../../shared/delivery/errors.js';
import { GraphMessageSource } from '../../../shared/graph/adapters.js';
import { idempotencyDayOf } from '../../../shared/domain/idempotency.js';
import { NotificationCounters, type NotificationOutcome } from '../../../shared/delivery/outcome.js';
import {
  createNotificationPipeline,
  messageKeyFor,
  type NotificationPipeline,
} from '../../../shared/delivery/pipeline.js';
import {
  createIdempotencyStore,
  type TableIdempotencyStore,
} from '../../../shared/store/idempotency-store.js';
import { createTableStores, type TableStores } from '../../../shared/store/index.js';
import { DEMO_TENANT, type GraphSimulator } from '../../../dev/sim/graph/index.js';
import { InMemoryDeviceStore, InMemoryPushProvider, deviceRecord } from '../../support/fakes-push.js';
import { startTrustedSimulator } from '../../support/graph-sim.js';

const [adele, alex, megan, lee] = DEMO_TENANT.users;
const META = { deliveryCount: 1, maxDeliveryCount: 10 };

let sim: GraphSimulator;
let stores: TableStores;
let deliveries: TableIdempotencyStore;
let devices: InMemoryDeviceStore;
let push: InMemoryPushProvider;
let counters: NotificationCounters;

/** Graph clients exactly as services.ts builds them (plus optional client options). */
function graphClients(options: Partial<GraphClientFactoryOptions> = {}): GraphClientFactory {
  return new GraphClientFactory({
    graphEndpoint: sim.url,
    credentialFor: (tenantId) =>
      createGraphCredential({
        tenant: tenantId,
        clientId: DEMO_TENANT.clientId,
        authorityHost: sim.url,
        secret: DEMO_TENANT.clientSecret,
      }),
    ...options,
  });
}

function pipeline(clients = graphClients()): NotificationPipeline {
  return createNotificationPipeline({
    mailboxes: stores.mailboxes,
    devices,
    push,
    idempotency: deliveries,
    messages: new GraphMessageSource(clients),
    defaultPrivacyMode: 'subject',
    counters,
  });
}

/** The queued change message the webhook makes of Graph's notification for this mail. */
function changeFor(user: { id: string; mail: string }, messageId: string): ChangeMessage {
  return {
    type: 'change',
    subscriptionId: randomUUID(),
    tenantId: DEMO_TENANT.tenantId,
    mailboxEmail: user.mail,
    userId: user.id,
    changeType: 'created',
    resource: `Users/${user.id}/Messages/${messageId}`,
    messageId,
    receivedAt: new Date().toISOString(),
  };
}

async function enrol(user: { id: string; mail: string }, privacyMode?: PrivacyMode): Promise<void> {
  const now = new Date().toISOString();
  await stores.mailboxes.insertMailbox({
    email: user.mail,
    userId: user.id,
    tenantId: DEMO_TENANT.tenantId,
    transport: 'graph',
    ...(privacyMode ? { privacyMode } : {}),
    createdAt: now,
    updatedAt: now,
  });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  sim = await startTrustedSimulator();
  const connectionString = inject('tablesConnectionString');
  const tablePrefix = `np${randomBytes(4).toString('hex')}`;
  stores = createTableStores({ connectionString, tablePrefix });
  await stores.ensureTables();
  const idem = createIdempotencyStore({ connectionString, tablePrefix });
  await idem.ensureTable();
  deliveries = idem.store;
  await enrol(adele, 'full');
  await enrol(alex);
  await enrol(megan, 'minimal');
  await enrol(lee);
});

afterAll(async () => {
  await sim?.stop();
});

beforeEach(async () => {
  devices = new InMemoryDeviceStore();
  push = new InMemoryPushProvider();
  counters = new NotificationCounters();
  for (const user of [adele, alex, megan, lee]) {
    await devices.upsertDevice(
      deviceRecord({ mailboxEmail: user.mail, deviceId: 'phone', token: `t-${user.id}-phone` }),
    );
    await devices.upsertDevice(
      deviceRecord({
        mailboxEmail: user.mail,
        deviceId: 'tablet',
        platform: 'fcm',
        token: `t-${user.id}-tablet`,
      }),
    );
  }
});

afterEach(() => {
  sim.faults.clear();
});

describe('delivered mail', () => {
  it('pushes exactly once per device, with the content of each mailbox’s privacy mode', async () => {
    const p = pipeline();
    const sent = {
      adele: sim.deliverMail(adele.mail, {
        subject: 'Budget review',
        from: { name: 'Nestor Wilke', address: 'nestor.wilke@contoso.example' },
        bodyPreview: 'Please look at the attached numbers before Friday.',
      }).messageId,
      alex: sim.deliverMail(alex.mail, {
        subject: 'Lunch?',
        from: { name: 'Lee Gu', address: 'lee.gu@contoso.example' },
        bodyPreview: 'Thai place at noon',
      }).messageId,
      megan: sim.deliverMail(megan.mail, {
        subject: 'Confidential: layoffs',
        from: { name: 'HR', address: 'hr@contoso.example' },
        bodyPreview: 'Do not forward.',
      }).messageId,
    };
    expect(await p.process(changeFor(adele, sent.adele), META)).toMatchObject({
      action: 'pushed',
      sent: 2,
      privacyMode: 'full',
      contentSource: 'graph',
    });
    await p.process(changeFor(alex, sent.alex), META);
    await p.process(changeFor(megan, sent.megan), META);

    const [adelePush] = push.pushesFor(sent.adele);
    expect(adelePush!.content).toMatchObject({
      title: 'Nestor Wilke',
      body: 'Budget review\nPlease look at the attached numbers before Friday.',
      data: { mailbox: adele.mail, messageId: sent.adele },
    });
    expect(push.pushesFor(sent.alex)[0]!.content).toMatchObject({ title: 'Lee Gu', body: 'Lunch?' });
    const meganPush = push.pushesFor(sent.megan)[0]!.content;
    expect(meganPush).toMatchObject({ title: 'New mail', body: 'You have new mail' });
    expect(JSON.stringify(meganPush)).not.toMatch(/layoffs|HR|forward/);

    for (const id of Object.values(sent)) {
      expect(
        push
          .pushesFor(id)
          .map((x) => x.device.deviceId)
          .sort(),
      ).toEqual(['phone', 'tablet']);
    }
    // Each message was read from Graph.
    expect(sim.stats().byRoute['GET /v1.0/users/{id}/messages/{id}']).toBeGreaterThanOrEqual(3);
  });

  it('the same change message processed twice (a duplicate) still pushes once per device', async () => {
    const p = pipeline();
    const { messageId } = sim.deliverMail(alex.mail, { subject: 'Twice?' });
    const change = changeFor(alex, messageId);
    await p.process(change, META);
    // Graph's retry of the notification, minutes later (another receivedAt), on a fresh instance.
    const duplicate = { ...change, receivedAt: new Date(Date.now() + 600_000).toISOString() };
    expect(await pipeline().process(duplicate, { deliveryCount: 1, maxDeliveryCount: 10 })).toEqual({
      action: 'dropped',
      reason: 'duplicate',
      alreadySent: 2,
    });
    expect(push.pushesFor(messageId)).toHaveLength(2);
    const stored = sim.messages(alex.mail).find((m) => m.id === messageId)!;
    const record = await deliveries.get(
      idempotencyDayOf(stored.receivedDateTime, Date.now()),
      messageKeyFor(change),
      'phone',
    );
    expect(record?.state).toBe('sent');
  });

  it('a message already read pushes nothing', async () => {
    const { messageId } = sim.deliverMail(alex.mail, { subject: 'Read on the desktop', isRead: true });
    expect(await pipeline().process(changeFor(alex, messageId), META)).toEqual({
      action: 'dropped',
      reason: 'already_read',
    });
    expect(push.pushes).toHaveLength(0);
  });

  it('a deleted or unknown message (404) pushes nothing and is not an error', async () => {
    const unknown = `AAMkAGI2THVSAAA${randomBytes(24).toString('base64url')}=`;
    expect(await pipeline().process(changeFor(alex, unknown), META)).toEqual({
      action: 'dropped',
      reason: 'message_gone',
    });
    expect(push.pushes).toHaveLength(0);
  });

  it('a mailbox that is not enrolled pushes nothing and never asks Graph', async () => {
    const before = sim.stats().byRoute['GET /v1.0/users/{id}/messages/{id}'] ?? 0;
    const nestor = DEMO_TENANT.users[4];
    const { messageId } = sim.deliverMail(nestor.mail, { subject: 'Not enrolled' });
    expect(await pipeline().process(changeFor(nestor, messageId), META)).toMatchObject({
      reason: 'mailbox_not_enrolled',
    });
    expect(sim.stats().byRoute['GET /v1.0/users/{id}/messages/{id}'] ?? 0).toBe(before);
  });
});

describe('throttling and failures', () => {
  it('Graph 429 with Retry-After → RetryableError with that delay; the retry pushes once', async () => {
    const p = pipeline();
    const { messageId } = sim.deliverMail(lee.mail, { subject: 'Throttled' });
    // 60 s is beyond the client's in-process retry ceiling (30 s), so the 429 reaches the pipeline.
    sim.faults.injectStatus({ method: 'GET', pathIncludes: `/messages/${messageId}` }, 429, {
      retryAfterSeconds: 60,
    });
    const error = await rejection(p.process(changeFor(lee, messageId), META));
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ reason: 'graph_throttled', retryAfterMs: 60_000 });
    expect(push.pushes).toHaveLength(0);

    const outcome = await p.process(changeFor(lee, messageId), { deliveryCount: 2, maxDeliveryCount: 10 });
    expect(outcome).toMatchObject({ action: 'pushed', sent: 2 });
    expect(push.pushesFor(messageId)).toHaveLength(2);
  });

  it('an invalid token removes the device and the other device still gets the push', async () => {
    const { messageId } = sim.deliverMail(lee.mail, { subject: 'Old phone' });
    push.invalidTokens.add(`t-${lee.id}-tablet`);
    const outcome = await pipeline().process(changeFor(lee, messageId), META);
    expect(outcome).toMatchObject({ action: 'pushed', sent: 1, removedDevices: 1 });
    expect(await devices.getDevice(lee.mail, 'tablet')).toBeUndefined();
    expect(push.unregistered.map((d) => d.deviceId)).toEqual(['tablet']);
    const next = sim.deliverMail(lee.mail, { subject: 'After removal' }).messageId;
    await pipeline().process(changeFor(lee, next), META);
    expect(push.pushesFor(next).map((x) => x.device.deviceId)).toEqual(['phone']);
  });

  it('5% Graph 5xx over 200 mails with a redelivery loop: exactly 200 pushes per device, no duplicates', async () => {
    // No in-process retries, so every injected 5xx reaches the pipeline and the redelivery loop.
    const p = pipeline(graphClients({ retry: { maxRetries: 0 } }));
    const users = [adele, alex];
    const mails = Array.from({ length: 200 }, (_, i) => {
      const user = users[i % 2]!;
      return { user, messageId: sim.deliverMail(user.mail, { subject: `Load ${i}` }).messageId };
    });
    // The provider also asks for a retry now and then (first attempt of every 25th message).
    const retried = new Set<string>();
    push.decide = (device, content) => {
      const index = mails.findIndex((m) => m.messageId === content.data.messageId);
      const key = `${content.data.messageId}|${device.deviceId}`;
      if (index % 25 === 3 && device.deviceId === 'tablet' && !retried.has(key)) {
        retried.add(key);
        return { deviceId: device.deviceId, outcome: 'retry', retryAfterMs: 10 };
      }
      return undefined;
    };

    let queue = mails.map((m) => ({ change: changeFor(m.user, m.messageId), deliveryCount: 1 }));
    let injected = 0;
    let retryable = 0;
    const outcomes: NotificationOutcome[] = [];
    for (let round = 0; queue.length > 0 && round < 50; round++) {
      const next: typeof queue = [];
      for (let i = 0; i < queue.length; i += 20) {
        // One fault per batch of 20 in the first pass: 10 over 200 mails (5%), 500 and 503 alternately.
        if (round === 0) {
          sim.faults.injectStatus({ method: 'GET', pathIncludes: '/messages/' }, injected % 2 ? 503 : 500);
          injected++;
        }
        const batch = queue.slice(i, i + 20);
        const results = await Promise.allSettled(
          batch.map((item) =>
            p.process(item.change, { deliveryCount: item.deliveryCount, maxDeliveryCount: 10 }),
          ),
        );
        results.forEach((result, j) => {
          const item = batch[j]!;
          if (result.status === 'fulfilled') outcomes.push(result.value);
          else if (result.reason instanceof RetryableError) {
            retryable++;
            next.push({ ...item, deliveryCount: item.deliveryCount + 1 });
          } else throw result.reason;
        });
      }
      queue = next;
    }
    expect(queue).toHaveLength(0);
    expect(injected).toBe(10);
    // Every injected 5xx and every provider retry surfaced as a RetryableError and was redelivered.
    expect(counters.snapshot().retries).toEqual({ graph_unavailable: 10, push_retry: 8 });
    expect(retryable).toBe(18);
    expect(outcomes.filter((o) => o.action === 'pushed')).toHaveLength(200);

    const counts = push.countsByMessageAndDevice();
    for (const device of ['phone', 'tablet']) {
      expect(mails.filter((m) => counts.get(`${m.messageId}|${device}`) === 1)).toHaveLength(200);
    }
    expect([...counts.values()].filter((n) => n > 1)).toEqual([]);
    expect(push.pushes).toHaveLength(400);

    // Graph's duplicates of all 200 afterwards: nothing more is sent.
    const again = await Promise.all(mails.map((m) => p.process(changeFor(m.user, m.messageId), META)));
    expect(again.every((o) => o.action === 'dropped' && o.reason === 'duplicate')).toBe(true);
    expect(push.pushes).toHaveLength(400);
  }, 120_000);
});
