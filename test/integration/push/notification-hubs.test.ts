/**
 * The real `@azure/notification-hubs` client (through NotificationHubsPushProvider) against the
 * Notification Hubs stand-in over HTTPS: SAS signatures, installations, per-platform sends,
 * throttling and expired channels.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DeviceRecord, PushContent } from '../../../shared/domain/ports.js';
import { DependencyError } from '../../../shared/errors.js';
import { installationIdFor, mailboxHash } from '../../../shared/push/ids.js';
import {
  NotificationHubsPushProvider,
  NotificationHubsRequestError,
  type NotificationHubsPushProviderOptions,
} from '../../../shared/push/notification-hubs.js';
import { startNotificationHubsSim, type NotificationHubsSim } from '../../../dev/sim/push/index.js';

const ADELE = 'adele.vance@contoso.example';
const ALEX = 'alex.wilber@contoso.example';
const ADELE_OID = '2f4c6a1e-6a43-4b8e-9d61-0d3c2a7b9e10';

function device(overrides: Partial<DeviceRecord> = {}): DeviceRecord {
  return {
    mailboxEmail: ADELE,
    deviceId: 'iphone-1',
    platform: 'apns',
    token: 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90',
    userObjectId: ADELE_OID,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

const IPHONE = device();
const PIXEL = device({
  deviceId: 'pixel-8',
  platform: 'fcm',
  token: 'fcm-registration-token-pixel-8:APA91bH',
});

const CONTENT: PushContent = {
  title: 'Megan Bowen',
  body: 'Quarterly numbers are in',
  badge: 3,
  data: { mailbox: ADELE, messageId: 'AAMkAGI2TAAA=' },
  threadId: 'mailbox-adele',
};

let hub: NotificationHubsSim;

beforeAll(async () => {
  hub = await startNotificationHubsSim({ hubName: 'mailpush-test' });
});

afterAll(async () => {
  await hub?.stop();
});

beforeEach(() => {
  hub.reset();
});

function provider(options: Partial<NotificationHubsPushProviderOptions> = {}): NotificationHubsPushProvider {
  return new NotificationHubsPushProvider({
    connectionString: hub.connectionString,
    hubName: hub.hubName,
    ...options,
  });
}

const requestsOf = (operation: string) => hub.requests().filter((request) => request.operation === operation);

describe('registerDevice', () => {
  it('creates an installation with the platform, token and user/mailbox tags, and no address', async () => {
    const push = provider();
    await push.registerDevice(IPHONE);
    await push.registerDevice(PIXEL);

    const iphone = hub.installation(installationIdFor(IPHONE));
    expect(iphone).toMatchObject({
      installationId: `${mailboxHash(ADELE)}-iphone-1`,
      platform: 'apns',
      pushChannel: IPHONE.token,
      pushChannelExpired: false,
    });
    expect(iphone?.tags.sort()).toEqual([`mailbox:${mailboxHash(ADELE)}`, `user:${ADELE_OID}`].sort());
    expect(hub.installation(installationIdFor(PIXEL))).toMatchObject({
      platform: 'fcmv1',
      pushChannel: PIXEL.token,
    });
    const everything = JSON.stringify(hub.installations());
    expect(everything).not.toContain('contoso');
    expect(everything).not.toContain('adele');
  });

  it('overwrites the same installation when the token changes', async () => {
    const push = provider();
    await push.registerDevice(IPHONE);
    await push.registerDevice({
      ...IPHONE,
      token: 'ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000',
    });
    expect(hub.installations()).toHaveLength(1);
    expect(hub.installation(installationIdFor(IPHONE))?.pushChannel).toBe(
      'ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000ffff0000',
    );
  });

  it('fails clearly with a wrong SAS key, without echoing the key', async () => {
    const wrongKey = Buffer.alloc(32, 7).toString('base64');
    const push = new NotificationHubsPushProvider({
      connectionString: hub.connectionStringWith({ key: wrongKey }),
      hubName: hub.hubName,
    });
    const error = await push.registerDevice(IPHONE).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DependencyError);
    expect(error).toBeInstanceOf(NotificationHubsRequestError);
    const failure = error as NotificationHubsRequestError;
    expect(failure.status).toBe(401);
    expect(failure.retryable).toBe(false);
    expect(failure.message).toContain('HTTP 401');
    expect(failure.message).toContain('NOTIFICATION_HUB_CONNECTION_STRING');
    expect(failure.message).not.toContain(wrongKey);
    expect(failure.message).not.toContain(hub.key);
    expect(failure.cause).toBeUndefined();
    expect(hub.installations()).toEqual([]);
    // Not retried: a wrong key does not get better.
    expect(requestsOf('createOrUpdateInstallation').map((r) => r.status)).toEqual([401]);
  });

  it('refuses a key name the hub does not know', async () => {
    const push = new NotificationHubsPushProvider({
      connectionString: hub.connectionStringWith({ keyName: 'SomeOtherPolicy' }),
      hubName: hub.hubName,
    });
    await expect(push.registerDevice(IPHONE)).rejects.toMatchObject({ status: 401 });
  });

  it('names NOTIFICATION_HUB_NAME when the hub does not exist', async () => {
    const push = new NotificationHubsPushProvider({
      connectionString: hub.connectionString,
      hubName: 'no-such-hub',
    });
    await expect(push.registerDevice(IPHONE)).rejects.toThrow(/HTTP 404.*NOTIFICATION_HUB_NAME/);
  });

  it('retries a throttled installation write and then succeeds', async () => {
    hub.failNext({ operation: 'createOrUpdateInstallation', status: 503, retryAfterSeconds: 0 });
    await provider().registerDevice(IPHONE);
    expect(requestsOf('createOrUpdateInstallation').map((r) => r.status)).toEqual([503, 200]);
    expect(hub.installation(installationIdFor(IPHONE))).toBeDefined();
  });
});

describe('send', () => {
  it('sends one APNs and one FCM v1 notification to exactly the given installations', async () => {
    const push = provider();
    const otherMailbox = device({ mailboxEmail: ALEX, deviceId: 'iphone-1', token: 'b'.repeat(64) });
    for (const d of [IPHONE, PIXEL, otherMailbox]) await push.registerDevice(d);

    const outcomes = await push.send([IPHONE, PIXEL], CONTENT);

    expect(outcomes).toEqual([
      { deviceId: 'iphone-1', outcome: 'sent' },
      { deviceId: 'pixel-8', outcome: 'sent' },
    ]);
    const sends = hub.sends();
    expect(sends.map((s) => s.format).sort()).toEqual(['apple', 'fcmv1']);

    const apple = sends.find((s) => s.format === 'apple');
    expect(apple?.tagExpression).toBe(`$InstallationId:{${installationIdFor(IPHONE)}}`);
    expect(apple?.delivered).toEqual([installationIdFor(IPHONE)]);
    expect(apple?.notificationHeaders['apns-push-type']).toBe('alert');
    expect(apple?.body).toEqual({
      aps: {
        alert: { title: 'Megan Bowen', body: 'Quarterly numbers are in' },
        badge: 3,
        sound: 'default',
        'thread-id': 'mailbox-adele',
        'mutable-content': 1,
      },
      mailbox: ADELE,
      messageId: 'AAMkAGI2TAAA=',
    });

    const fcm = sends.find((s) => s.format === 'fcmv1');
    expect(fcm?.delivered).toEqual([installationIdFor(PIXEL)]);
    expect(fcm?.body).toEqual({
      message: {
        notification: { title: 'Megan Bowen', body: 'Quarterly numbers are in' },
        data: { mailbox: ADELE, messageId: 'AAMkAGI2TAAA=' },
        android: { priority: 'high', notification: { tag: 'mailbox-adele', notification_count: 3 } },
      },
    });
    // Alex's phone (same device id, other mailbox) got nothing.
    expect(sends.flatMap((s) => s.delivered)).not.toContain(installationIdFor(otherMailbox));
  });

  it('splits more than 20 devices of a platform into several sends (the OR-expression limit)', async () => {
    const push = provider();
    const phones = Array.from({ length: 23 }, (_, i) =>
      device({ deviceId: `iphone-${i}`, token: i.toString(16).padStart(64, 'c') }),
    );
    for (const phone of phones) await push.registerDevice(phone);

    const outcomes = await push.send(phones, CONTENT);

    expect(outcomes.every((o) => o.outcome === 'sent')).toBe(true);
    const sends = hub.sends();
    expect(sends.map((s) => s.delivered.length).sort((a, b) => a - b)).toEqual([3, 20]);
    expect(new Set(sends.flatMap((s) => s.delivered)).size).toBe(23);
  });

  it('answers retry with Retry-After for a throttled platform, without resending', async () => {
    const push = provider();
    await push.registerDevice(IPHONE);
    await push.registerDevice(PIXEL);
    hub.failNext({ operation: 'send', status: 503, retryAfterSeconds: 7 });

    const outcomes = await push.send([IPHONE], CONTENT);

    expect(outcomes).toEqual([
      {
        deviceId: 'iphone-1',
        outcome: 'retry',
        retryAfterMs: 7000,
        detail: expect.stringContaining('HTTP 503'),
      },
    ]);
    expect(requestsOf('send').map((r) => r.status)).toEqual([503]);
    expect(hub.sends()).toEqual([]);

    hub.failNext({ operation: 'send', status: 429, retryAfterSeconds: 2 });
    const mixed = await push.send([IPHONE, PIXEL], CONTENT);
    const byDevice = Object.fromEntries(mixed.map((o) => [o.deviceId, o]));
    // One platform was throttled, the other went out: only the throttled one is to retry.
    expect(
      Object.values(byDevice)
        .map((o) => o.outcome)
        .sort(),
    ).toEqual(['retry', 'sent']);
    expect(mixed.find((o) => o.outcome === 'retry')).toMatchObject({ retryAfterMs: 2000 });
    expect(hub.sends()).toHaveLength(1);
  });

  it('reports invalid_token for an installation whose push channel expired, and skips it', async () => {
    const push = provider();
    await push.registerDevice(IPHONE);
    const second = device({ deviceId: 'ipad-2', token: 'd'.repeat(64) });
    await push.registerDevice(second);
    hub.expirePushChannel(installationIdFor(IPHONE));
    // Another instance (the queue worker) that has not looked at these installations yet.
    const worker = provider();

    const outcomes = await worker.send([IPHONE, second], CONTENT);

    expect(outcomes[0]).toMatchObject({ deviceId: 'iphone-1', outcome: 'invalid_token' });
    expect(outcomes[1]).toEqual({ deviceId: 'ipad-2', outcome: 'sent' });
    const [apple] = hub.sends();
    expect(apple?.tagExpression).not.toContain(installationIdFor(IPHONE));
    expect(apple?.delivered).toEqual([installationIdFor(second)]);
  });

  it('re-creates an installation the hub dropped (404 is not an invalid token) and sends to it', async () => {
    const push = provider();
    await push.registerDevice(IPHONE);
    hub.removeInstallation(installationIdFor(IPHONE));
    // A fresh process has not seen the installation yet, so it reads it first.
    const fresh = provider();

    const outcomes = await fresh.send([IPHONE], CONTENT);

    expect(outcomes).toEqual([{ deviceId: 'iphone-1', outcome: 'sent' }]);
    expect(hub.installation(installationIdFor(IPHONE))?.pushChannel).toBe(IPHONE.token);
    expect(hub.sends()[0]?.delivered).toEqual([installationIdFor(IPHONE)]);
  });

  it('brings an out-of-date installation back in line with the device record before sending', async () => {
    const push = provider();
    await push.registerDevice({ ...IPHONE, token: 'e'.repeat(64) });
    const fresh = provider();
    await fresh.send([IPHONE], CONTENT);
    expect(hub.installation(installationIdFor(IPHONE))?.pushChannel).toBe(IPHONE.token);
  });

  it('reads an installation at most once per check interval', async () => {
    let now = Date.parse('2026-03-01T08:00:00Z');
    const push = provider({ installationCheckIntervalMs: 60_000, now: () => now });
    await push.registerDevice(IPHONE);
    const fresh = provider({ installationCheckIntervalMs: 60_000, now: () => now });

    await fresh.send([IPHONE], CONTENT);
    await fresh.send([IPHONE], CONTENT);
    expect(requestsOf('getInstallation')).toHaveLength(1);

    hub.expirePushChannel(installationIdFor(IPHONE));
    now += 30_000;
    expect((await fresh.send([IPHONE], CONTENT))[0]?.outcome).toBe('sent');
    now += 31_000;
    expect((await fresh.send([IPHONE], CONTENT))[0]?.outcome).toBe('invalid_token');
    expect(requestsOf('getInstallation')).toHaveLength(2);
  });

  it('sends anyway when the installation check fails, and checks again next time', async () => {
    await provider().registerDevice(IPHONE);
    const worker = provider();
    hub.failNext({ operation: 'getInstallation', status: 503, retryAfterSeconds: 30 });

    expect(await worker.send([IPHONE], CONTENT)).toEqual([{ deviceId: 'iphone-1', outcome: 'sent' }]);
    expect(await worker.send([IPHONE], CONTENT)).toEqual([{ deviceId: 'iphone-1', outcome: 'sent' }]);
    expect(await worker.send([IPHONE], CONTENT)).toEqual([{ deviceId: 'iphone-1', outcome: 'sent' }]);
    expect(requestsOf('getInstallation').map((r) => r.status)).toEqual([503, 200]);
    expect(hub.sends()).toHaveLength(3);
  });

  it('rejects when nothing could be sent and retrying cannot help (wrong key)', async () => {
    const push = new NotificationHubsPushProvider({
      connectionString: hub.connectionStringWith({ key: Buffer.alloc(32, 9).toString('base64') }),
      hubName: hub.hubName,
    });
    await expect(push.send([IPHONE, PIXEL], CONTENT)).rejects.toMatchObject({ status: 401 });
  });

  it('answers retry when the hub cannot be reached', async () => {
    const gone = await startNotificationHubsSim();
    const push = new NotificationHubsPushProvider({
      connectionString: gone.connectionString,
      hubName: gone.hubName,
    });
    await push.registerDevice(IPHONE);
    await gone.stop();

    const outcomes = await push.send([IPHONE], CONTENT);

    expect(outcomes).toEqual([
      { deviceId: 'iphone-1', outcome: 'retry', detail: expect.stringContaining('no answer') },
    ]);
  });

  it('returns no outcomes for no devices', async () => {
    expect(await provider().send([], CONTENT)).toEqual([]);
    expect(hub.requests()).toEqual([]);
  });
});

describe('unregisterDevice', () => {
  it('deletes the installation; a missing one is fine', async () => {
    const push = provider();
    await push.registerDevice(IPHONE);
    await push.unregisterDevice(IPHONE);
    expect(hub.installation(installationIdFor(IPHONE))).toBeUndefined();

    await push.unregisterDevice(IPHONE);
    hub.failNext({ operation: 'deleteInstallation', status: 404 });
    await push.unregisterDevice(IPHONE);
    expect(requestsOf('deleteInstallation').map((r) => r.status)).toEqual([204, 204, 404]);
  });

  it('rejects when the hub keeps failing, so the device row is kept', async () => {
    hub.failNext({ operation: 'deleteInstallation', status: 500, times: 3 });
    await expect(provider().unregisterDevice(IPHONE)).rejects.toMatchObject({ status: 500, retryable: true });
    expect(requestsOf('deleteInstallation')).toHaveLength(3);
  });
});
