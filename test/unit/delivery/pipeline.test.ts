import { beforeEach, describe, expect, it } from 'vitest';
import type { ChangeMessage, MailboxRecord } from '../../../shared/domain/model.js';
import { GraphRequestError } from '../../../shared/graph/errors.js';
import type { MailMessage } from '../../../shared/graph/messages.js';
import { RetryableError } from '../../../shared/delivery/errors.js';
import { NotificationCounters } from '../../../shared/delivery/outcome.js';
import {
  createNotificationPipeline,
  messageKeyFor,
  type NotificationPipeline,
  type NotificationPipelineDeps,
} from '../../../shared/delivery/pipeline.js';
import { RichNotificationReader } from '../../../shared/delivery/rich.js';
import { InMemoryMailboxStore } from '../../support/fakes.js';
import {
  FakeMessageSource,
  InMemoryDeviceStore,
  InMemoryIdempotencyStore,
  InMemoryPushProvider,
  deviceRecord,
} from '../../support/fakes-push.js';
import { createRichTestKit } from '../../support/rich-notifications.js';

const TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';
const USER = '87d349ed-44d7-43e1-9a83-5f2406dee5bd';
const EMAIL = 'adele.vance@contoso.example';
const NOW = Date.parse('2026-11-23T12:00:00Z');
const META = { deliveryCount: 1, maxDeliveryCount: 10 };

let mailboxes: InMemoryMailboxStore;
let devices: InMemoryDeviceStore;
let push: InMemoryPushProvider;
let idempotency: InMemoryIdempotencyStore;
let messages: FakeMessageSource;
let counters: NotificationCounters;
let clock: number;
let logs: string[];

function pipeline(overrides: Partial<NotificationPipelineDeps> = {}): NotificationPipeline {
  return createNotificationPipeline({
    mailboxes,
    devices,
    push,
    idempotency,
    messages,
    defaultPrivacyMode: 'subject',
    counters,
    now: () => clock,
    random: () => 0.5,
    log: (line) => logs.push(line),
    mailboxCacheMs: 0,
    deviceCacheMs: 0,
    ...overrides,
  });
}

function change(messageId: string, overrides: Partial<ChangeMessage> = {}): ChangeMessage {
  return {
    type: 'change',
    subscriptionId: '7f105c7d-2dc5-4530-97cd-4e7ae6534c07',
    tenantId: TENANT,
    mailboxEmail: EMAIL,
    userId: USER,
    changeType: 'created',
    resource: `Users/${USER}/Messages/${messageId}`,
    messageId,
    receivedAt: new Date(clock).toISOString(),
    ...overrides,
  };
}

function mail(id: string, overrides: Partial<MailMessage> = {}): MailMessage {
  return {
    id,
    subject: `Subject ${id}`,
    from: { emailAddress: { name: 'Alex Wilber', address: 'alex.wilber@contoso.example' } },
    bodyPreview: `Preview of ${id}`,
    receivedDateTime: new Date(clock - 60_000).toISOString(),
    importance: 'normal',
    hasAttachments: false,
    isRead: false,
    ...overrides,
  };
}

async function enrol(overrides: Partial<MailboxRecord> = {}): Promise<void> {
  await mailboxes.insertMailbox({
    email: EMAIL,
    userId: USER,
    tenantId: TENANT,
    transport: 'graph',
    createdAt: new Date(NOW).toISOString(),
    updatedAt: new Date(NOW).toISOString(),
    ...overrides,
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

beforeEach(async () => {
  mailboxes = new InMemoryMailboxStore();
  devices = new InMemoryDeviceStore();
  push = new InMemoryPushProvider();
  idempotency = new InMemoryIdempotencyStore();
  messages = new FakeMessageSource();
  counters = new NotificationCounters();
  clock = NOW;
  logs = [];
  await enrol();
  await devices.upsertDevice(deviceRecord({ deviceId: 'iphone-1' }));
  await devices.upsertDevice(deviceRecord({ deviceId: 'pixel-2', platform: 'fcm' }));
});

describe('a new message', () => {
  it('pushes once to every device with the default privacy mode', async () => {
    messages.add(USER, mail('m1'));
    const outcome = await pipeline().process(change('m1'), META);
    expect(outcome).toEqual({
      action: 'pushed',
      sent: 2,
      alreadySent: 0,
      removedDevices: 0,
      tookOver: 0,
      contentSource: 'graph',
      privacyMode: 'subject',
    });
    expect(push.pushes.map((p) => p.device.deviceId).sort()).toEqual(['iphone-1', 'pixel-2']);
    expect(push.pushes[0]!.content).toMatchObject({
      title: 'Alex Wilber',
      body: 'Subject m1',
      data: { mailbox: EMAIL, messageId: 'm1' },
    });
    expect(counters.snapshot()).toMatchObject({ pushedMessages: 1, pushes: 2 });
  });

  it("uses the mailbox's own privacy mode", async () => {
    mailboxes.records.get(EMAIL)!.privacyMode = 'full';
    messages.add(USER, mail('m1'));
    await pipeline().process(change('m1'), META);
    expect(push.pushes[0]!.content.body).toBe('Subject m1\nPreview of m1');
  });

  it('records each delivery as sent under the message key and the day received', async () => {
    messages.add(USER, mail('m1', { receivedDateTime: '2026-11-22T23:59:00Z' }));
    await pipeline().process(change('m1'), META);
    const record = await idempotency.get('20261122', messageKeyFor(change('m1')), 'iphone-1');
    expect(record?.state).toBe('sent');
  });
});

describe('duplicates', () => {
  it('the same change processed twice pushes once per device', async () => {
    messages.add(USER, mail('m1'));
    const p = pipeline();
    await p.process(change('m1'), META);
    const again = await p.process(change('m1', { receivedAt: new Date(NOW + 3_600_000).toISOString() }), {
      deliveryCount: 2,
      maxDeliveryCount: 10,
    });
    expect(again).toEqual({ action: 'dropped', reason: 'duplicate', alreadySent: 2 });
    expect(push.pushes).toHaveLength(2);
    expect([...push.countsByMessageAndDevice().values()]).toEqual([1, 1]);
  });

  it('a device registered after the first push still gets it on a redelivery, the others do not', async () => {
    messages.add(USER, mail('m1'));
    const p = pipeline();
    await p.process(change('m1'), META);
    await devices.upsertDevice(deviceRecord({ deviceId: 'ipad-3' }));
    const outcome = await p.process(change('m1'), META);
    expect(outcome).toMatchObject({ action: 'pushed', sent: 1, alreadySent: 2 });
    expect(push.pushes.map((x) => x.device.deviceId)).toEqual(['iphone-1', 'pixel-2', 'ipad-3']);
  });
});

describe('drops (each counted with its reason)', () => {
  it('not a created change', async () => {
    expect(await pipeline().process(change('m1', { changeType: 'updated' }), META)).toEqual({
      action: 'dropped',
      reason: 'not_created',
    });
    expect(messages.calls).toBe(0);
  });

  it('mailbox not enrolled, or now another user', async () => {
    expect(
      await pipeline().process(change('m1', { mailboxEmail: 'nobody@contoso.example' }), META),
    ).toMatchObject({
      reason: 'mailbox_not_enrolled',
    });
    expect(await pipeline().process(change('m1', { userId: 'someone-else' }), META)).toMatchObject({
      reason: 'mailbox_not_enrolled',
    });
    expect(messages.calls).toBe(0);
  });

  it('no devices', async () => {
    devices.records.clear();
    expect(await pipeline().process(change('m1'), META)).toMatchObject({ reason: 'no_devices' });
    expect(messages.calls).toBe(0);
  });

  it('message gone (404) is a drop, not an error', async () => {
    expect(await pipeline().process(change('deleted'), META)).toEqual({
      action: 'dropped',
      reason: 'message_gone',
    });
    expect(push.pushes).toHaveLength(0);
  });

  it('already read', async () => {
    messages.add(USER, mail('m1', { isRead: true }));
    expect(await pipeline().process(change('m1'), META)).toMatchObject({ reason: 'already_read' });
    expect(push.pushes).toHaveLength(0);
    expect(idempotency.rows.size).toBe(0);
  });

  it('too old', async () => {
    messages.add(USER, mail('m1', { receivedDateTime: new Date(NOW - 49 * 3_600_000).toISOString() }));
    expect(await pipeline().process(change('m1'), META)).toMatchObject({ reason: 'too_old' });
    messages.add(USER, mail('m2', { receivedDateTime: new Date(NOW - 47 * 3_600_000).toISOString() }));
    expect(await pipeline().process(change('m2'), META)).toMatchObject({ action: 'pushed' });
  });

  it('counts drops by reason', async () => {
    devices.records.clear();
    const p = pipeline();
    await p.process(change('a'), META);
    await p.process(change('b'), META);
    await p.process(change('c', { changeType: 'deleted' }), META);
    expect(counters.snapshot().dropped).toEqual({ no_devices: 2, not_created: 1 });
  });
});

describe('Graph failures', () => {
  it('429 → RetryableError with Retry-After, then success on retry → one push per device', async () => {
    messages.add(USER, mail('m1'));
    messages.failures.push(
      new GraphRequestError({ operation: 'GET /users/{id}/messages/{id}', status: 429, retryAfterMs: 7_000 }),
    );
    const p = pipeline();
    const error = await rejection(p.process(change('m1'), META));
    expect(error).toBeInstanceOf(RetryableError);
    expect(error).toMatchObject({ reason: 'graph_throttled', retryAfterMs: 7_000, finalAttempt: false });
    expect(push.pushes).toHaveLength(0);
    expect(await p.process(change('m1'), { deliveryCount: 2, maxDeliveryCount: 10 })).toMatchObject({
      sent: 2,
    });
    expect(push.pushes).toHaveLength(2);
    expect(counters.snapshot().retries).toEqual({ graph_throttled: 1 });
  });

  it('5xx and no answer → RetryableError with a growing backoff', async () => {
    messages.failures.push(
      new GraphRequestError({ operation: 'GET', status: 503 }),
      new GraphRequestError({ operation: 'GET', status: 0, graphCode: 'NetworkError' }),
    );
    const p = pipeline();
    const first = await rejection(p.process(change('m1'), { deliveryCount: 1, maxDeliveryCount: 10 }));
    const third = await rejection(p.process(change('m1'), { deliveryCount: 3, maxDeliveryCount: 10 }));
    expect(first).toMatchObject({ reason: 'graph_unavailable', retryAfterMs: 2_000 });
    expect(third).toMatchObject({ reason: 'graph_unavailable', retryAfterMs: 8_000 });
  });

  it('marks the last delivery as final', async () => {
    messages.failures.push(new GraphRequestError({ operation: 'GET', status: 500 }));
    const error = await rejection(
      pipeline().process(change('m1'), { deliveryCount: 10, maxDeliveryCount: 10 }),
    );
    expect(error).toMatchObject({ finalAttempt: true });
  });

  it('other Graph errors (403) are not retryable ones', async () => {
    messages.failures.push(new GraphRequestError({ operation: 'GET', status: 403 }));
    const error = await rejection(pipeline().process(change('m1'), META));
    expect(error).toBeInstanceOf(GraphRequestError);
    expect(error).not.toBeInstanceOf(RetryableError);
  });
});

describe('push outcomes', () => {
  it('retry for one device: the other is recorded sent, the retry pushes only what is missing', async () => {
    messages.add(USER, mail('m1'));
    push.retryNext.set('pixel-2', 1);
    push.retryAfterMs = 5_000;
    const p = pipeline();
    const error = await rejection(p.process(change('m1'), META));
    expect(error).toMatchObject({ reason: 'push_retry', retryAfterMs: 5_000, sent: 1 });
    expect(push.pushes.map((x) => x.device.deviceId)).toEqual(['iphone-1']);
    expect(await p.process(change('m1'), { deliveryCount: 2, maxDeliveryCount: 10 })).toMatchObject({
      action: 'pushed',
      sent: 1,
      alreadySent: 1,
    });
    expect([...push.countsByMessageAndDevice().entries()].sort()).toEqual([
      ['m1|iphone-1', 1],
      ['m1|pixel-2', 1],
    ]);
  });

  it('a provider that cannot send at all releases every claim', async () => {
    messages.add(USER, mail('m1'));
    push.failNext = new Error('connection refused');
    const p = pipeline();
    expect(await rejection(p.process(change('m1'), META))).toMatchObject({ reason: 'push_retry' });
    expect(idempotency.rows.size).toBe(0);
    expect(await p.process(change('m1'), META)).toMatchObject({ sent: 2 });
  });

  it('invalid token: the device is removed from the store and the provider', async () => {
    messages.add(USER, mail('m1'));
    push.invalidTokens.add('token-pixel-2');
    const outcome = await pipeline().process(change('m1'), META);
    expect(outcome).toMatchObject({ action: 'pushed', sent: 1, removedDevices: 1 });
    expect(await devices.getDevice(EMAIL, 'pixel-2')).toBeUndefined();
    expect(await devices.getDevice(EMAIL, 'iphone-1')).toBeDefined();
    expect(push.unregistered.map((d) => d.deviceId)).toEqual(['pixel-2']);
    expect(counters.snapshot().removedDevices).toBe(1);
  });

  it('invalid token, but the app re-registered the device with a new token meanwhile: it stays, installation too', async () => {
    messages.add(USER, mail('m1'));
    push.invalidTokens.add('token-pixel-2');
    // The provider answers while the app re-registers (same device id, so same installation id).
    push.decide = (device) => {
      if (device.deviceId !== 'pixel-2') return undefined;
      void devices.upsertDevice(
        deviceRecord({ deviceId: 'pixel-2', platform: 'fcm', token: 'token-pixel-2-new' }),
      );
      return { deviceId: 'pixel-2', outcome: 'invalid_token' };
    };
    const outcome = await pipeline().process(change('m1'), META);
    expect(outcome).toMatchObject({ action: 'pushed', sent: 1 });
    expect((await devices.getDevice(EMAIL, 'pixel-2'))?.token).toBe('token-pixel-2-new');
    expect(push.unregistered).toEqual([]);
  });

  it('every token invalid: dropped as devices_invalid', async () => {
    messages.add(USER, mail('m1'));
    push.invalidTokens.add('token-pixel-2').add('token-iphone-1');
    expect(await pipeline().process(change('m1'), META)).toEqual({
      action: 'dropped',
      reason: 'devices_invalid',
      removedDevices: 2,
    });
    expect(devices.records.get(EMAIL)?.size).toBe(0);
  });

  it('keeps a device that re-registered with a new token meanwhile', async () => {
    messages.add(USER, mail('m1'));
    push.decide = (device) => {
      if (device.deviceId !== 'pixel-2') return undefined;
      // The app re-registers while the push is in flight.
      void devices.upsertDevice(deviceRecord({ deviceId: 'pixel-2', token: 'fresh-token' }));
      return { deviceId: 'pixel-2', outcome: 'invalid_token' };
    };
    await pipeline().process(change('m1'), META);
    expect((await devices.getDevice(EMAIL, 'pixel-2'))?.token).toBe('fresh-token');
  });
});

describe('concurrent and crashed attempts', () => {
  it('another worker holding a fresh claim → RetryableError in_progress, nothing pushed', async () => {
    messages.add(USER, mail('m1'));
    const m = change('m1');
    await idempotency.claim({
      day: '20261123',
      messageKey: messageKeyFor(m),
      deviceIds: ['iphone-1', 'pixel-2'],
      now: NOW - 30_000,
      claimTimeoutMs: 120_000,
    });
    const error = await rejection(pipeline().process(m, META));
    expect(error).toMatchObject({ reason: 'in_progress', retryAfterMs: 90_000 });
    expect(push.pushes).toHaveLength(0);
  });

  it('a claim left by a crashed attempt is taken over after the claim timeout', async () => {
    messages.add(USER, mail('m1'));
    const m = change('m1');
    await idempotency.claim({
      day: '20261123',
      messageKey: messageKeyFor(m),
      deviceIds: ['iphone-1'],
      now: NOW - 121_000,
      claimTimeoutMs: 120_000,
    });
    const outcome = await pipeline().process(m, META);
    expect(outcome).toMatchObject({ action: 'pushed', sent: 2, tookOver: 1 });
  });
});

describe('rich notifications', () => {
  it('pushes from the verified rich content without asking Graph', async () => {
    const kit = await createRichTestKit({ tenantId: TENANT });
    const rich = new RichNotificationReader({ appId: kit.appId, keys: [kit.key], keySet: kit.keySet });
    const m = await kit.changeMessage({
      mailboxEmail: EMAIL,
      userId: USER,
      messageId: 'rich-1',
      resource: {
        subject: 'Rich subject',
        from: { emailAddress: { name: 'Megan Bowen', address: 'megan@contoso.example' } },
        bodyPreview: 'rich preview',
        receivedDateTime: new Date(NOW - 1000).toISOString(),
      },
    });
    const outcome = await pipeline({ rich }).process(m, META);
    expect(outcome).toMatchObject({ action: 'pushed', sent: 2, contentSource: 'rich' });
    expect(messages.calls).toBe(0);
    expect(push.pushes[0]!.content).toMatchObject({ title: 'Megan Bowen', body: 'Rich subject' });
  });

  it('drops tampered rich content with its reason and pushes nothing', async () => {
    const kit = await createRichTestKit({ tenantId: TENANT });
    const rich = new RichNotificationReader({ appId: kit.appId, keys: [kit.key], keySet: kit.keySet });
    const m = await kit.changeMessage({
      mailboxEmail: EMAIL,
      userId: USER,
      messageId: 'rich-2',
      resource: {},
    });
    const content = m.encryptedContent as { data: string };
    const outcome = await pipeline({ rich }).process(
      { ...m, encryptedContent: { ...m.encryptedContent, data: `${content.data.slice(0, -4)}AAA=` } },
      META,
    );
    expect(outcome).toMatchObject({ action: 'dropped', reason: 'rich_signature_invalid' });
    expect(push.pushes).toHaveLength(0);
    expect(messages.calls).toBe(0);
    expect(counters.snapshot().dropped).toEqual({ rich_signature_invalid: 1 });
  });

  it('without a configured key, a rich message is read from Graph instead', async () => {
    const kit = await createRichTestKit({ tenantId: TENANT });
    const m = await kit.changeMessage({
      mailboxEmail: EMAIL,
      userId: USER,
      messageId: 'rich-3',
      resource: {},
    });
    messages.add(USER, mail('rich-3'));
    expect(await pipeline().process(m, META)).toMatchObject({ contentSource: 'graph', sent: 2 });
  });
});

describe('caching', () => {
  it('reuses mailbox and device reads within the TTL, and rereads devices after removing one', async () => {
    messages.add(USER, mail('m1')).add(USER, mail('m2')).add(USER, mail('m3'));
    const p = pipeline({ mailboxCacheMs: 30_000, deviceCacheMs: 10_000 });
    await p.process(change('m1'), META);
    await p.process(change('m2'), META);
    expect(devices.listCalls).toBe(1);
    push.invalidTokens.add('token-pixel-2');
    await p.process(change('m3'), META);
    messages.add(USER, mail('m4'));
    await p.process(change('m4'), META);
    expect(devices.listCalls).toBe(2);
    expect(push.pushesFor('m4').map((x) => x.device.deviceId)).toEqual(['iphone-1']);
  });
});
