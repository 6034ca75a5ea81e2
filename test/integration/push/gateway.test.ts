/** SignedWebhookPushProvider against the push gateway stand-in over HTTP (loopback) and HTTPS. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DeviceRecord, PushContent } from '../../../shared/domain/ports.js';
import { DependencyError } from '../../../shared/errors.js';
import {
  SignedWebhookPushProvider,
  signWebhookBody,
  type SignedWebhookPushProviderOptions,
} from '../../../shared/push/gateway.js';
import { startPushGatewaySim, type PushGatewaySim } from '../../../dev/sim/push/index.js';

const SECRET = 'gateway-secret-0123456789abcdef0123456789abcdef';

function device(deviceId: string, token: string, platform: DeviceRecord['platform'] = 'apns'): DeviceRecord {
  return {
    mailboxEmail: 'adele.vance@contoso.example',
    deviceId,
    platform,
    token,
    userObjectId: '2f4c6a1e-6a43-4b8e-9d61-0d3c2a7b9e10',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
  };
}

const IPHONE = device('iphone-1', 'apns-token-iphone-1');
const PIXEL = device('pixel-8', 'fcm-token-pixel-8', 'fcm');
const CONTENT: PushContent = {
  title: 'Megan Bowen',
  body: 'Quarterly numbers are in',
  badge: 1,
  data: { mailbox: 'adele.vance@contoso.example', messageId: 'AAMkAGI2TAAA=' },
  threadId: 'mailbox-adele',
};

let gateway: PushGatewaySim;

beforeAll(async () => {
  gateway = await startPushGatewaySim({ secret: SECRET });
});

afterAll(async () => {
  await gateway?.stop();
});

beforeEach(() => {
  gateway.reset();
});

const provider = (options: Partial<SignedWebhookPushProviderOptions> = {}) =>
  new SignedWebhookPushProvider({ url: gateway.url, secret: SECRET, initialBackoffMs: 20, ...options });

describe('SignedWebhookPushProvider', () => {
  it('posts a signed push the gateway verifies, and reports the gateway’s results', async () => {
    const outcomes = await provider().send([IPHONE, PIXEL], CONTENT);

    expect(outcomes).toEqual([
      { deviceId: 'iphone-1', outcome: 'sent' },
      { deviceId: 'pixel-8', outcome: 'sent' },
    ]);
    expect(gateway.requests()).toEqual([
      { status: 200, deliveryId: expect.any(String), signature: 'valid', duplicate: false },
    ]);
    const [push] = gateway.pushes();
    expect(push?.devices).toEqual([
      { deviceId: 'iphone-1', platform: 'apns', token: 'apns-token-iphone-1' },
      { deviceId: 'pixel-8', platform: 'fcm', token: 'fcm-token-pixel-8' },
    ]);
    expect(push?.content).toEqual(CONTENT);
  });

  it('is refused by the gateway with another secret, and says which setting to check', async () => {
    const otherSecret = 'another-secret-that-is-long-enough-0123456789';
    const error = await provider({ secret: otherSecret })
      .send([IPHONE], CONTENT)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(DependencyError);
    expect((error as Error).message).toContain('HTTP 401');
    expect((error as Error).message).toContain('PUSH_WEBHOOK_SECRET');
    expect((error as Error).message).not.toContain(otherSecret);
    expect(gateway.requests().map((r) => r.signature)).toEqual(['mismatch']);
    expect(gateway.pushes()).toEqual([]);
  });

  it('retries 5xx with the same delivery id and succeeds on the third attempt', async () => {
    gateway.failNext(2, 500);
    const outcomes = await provider().send([IPHONE], CONTENT);

    expect(outcomes).toEqual([{ deviceId: 'iphone-1', outcome: 'sent' }]);
    const requests = gateway.requests();
    expect(requests.map((r) => r.status)).toEqual([500, 500, 200]);
    expect(new Set(requests.map((r) => r.deliveryId)).size).toBe(1);
    expect(requests.every((r) => r.signature === 'valid')).toBe(true);
    expect(gateway.pushes()).toHaveLength(1);
  });

  it('gives up after three attempts with retry outcomes', async () => {
    gateway.failNext(10, 500);
    const outcomes = await provider().send([IPHONE, PIXEL], CONTENT);

    expect(outcomes).toEqual([
      { deviceId: 'iphone-1', outcome: 'retry', detail: expect.stringContaining('HTTP 500') },
      { deviceId: 'pixel-8', outcome: 'retry', detail: expect.stringContaining('after 3 attempts') },
    ]);
    expect(gateway.requests()).toHaveLength(3);
  });

  it('does not sleep through a long Retry-After: hands it to the caller', async () => {
    gateway.failNext(1, 429, 60);
    const outcomes = await provider().send([IPHONE], CONTENT);
    expect(outcomes).toEqual([
      {
        deviceId: 'iphone-1',
        outcome: 'retry',
        retryAfterMs: 60_000,
        detail: expect.stringContaining('HTTP 429'),
      },
    ]);
    expect(gateway.requests()).toHaveLength(1);
  });

  it('reports invalid_token for the tokens the gateway says are invalid', async () => {
    gateway.markTokenInvalid('fcm-token-pixel-8');
    const outcomes = await provider().send([IPHONE, PIXEL], CONTENT);
    expect(outcomes).toEqual([
      { deviceId: 'iphone-1', outcome: 'sent' },
      { deviceId: 'pixel-8', outcome: 'invalid_token' },
    ]);
  });

  it('reports every device invalid when the gateway answers 410 for the request', async () => {
    gateway.failNext(1, 410);
    const outcomes = await provider().send([IPHONE, PIXEL], CONTENT);
    expect(outcomes.map((o) => o.outcome)).toEqual(['invalid_token', 'invalid_token']);
    expect(gateway.requests()).toHaveLength(1);
  });

  it('answers retry when the gateway cannot be reached', async () => {
    const down = await startPushGatewaySim({ secret: SECRET });
    const url = down.url;
    await down.stop();
    const outcomes = await new SignedWebhookPushProvider({ url, secret: SECRET, initialBackoffMs: 10 }).send(
      [IPHONE],
      CONTENT,
    );
    expect(outcomes).toEqual([
      { deviceId: 'iphone-1', outcome: 'retry', detail: expect.stringContaining('ECONNREFUSED') },
    ]);
  });

  it('talks HTTPS to a gateway with a certificate from the local CA', async () => {
    const secure = await startPushGatewaySim({ secret: SECRET, https: true });
    try {
      expect(secure.url.startsWith('https://')).toBe(true);
      const outcomes = await new SignedWebhookPushProvider({ url: secure.url, secret: SECRET }).send(
        [IPHONE],
        CONTENT,
      );
      expect(outcomes).toEqual([{ deviceId: 'iphone-1', outcome: 'sent' }]);
      expect(secure.pushes()).toHaveLength(1);
    } finally {
      await secure.stop();
    }
  });

  it('refuses plain http off loopback and a short secret', () => {
    expect(
      () => new SignedWebhookPushProvider({ url: 'http://gateway.contoso.example/push', secret: SECRET }),
    ).toThrow(/https/);
    expect(() => new SignedWebhookPushProvider({ url: gateway.url, secret: 'short' })).toThrow(
      /32 characters/,
    );
  });
});

describe('push gateway stand-in', () => {
  it('answers a repeated delivery id without pushing twice', async () => {
    const push = provider();
    await push.send([IPHONE], CONTENT);
    const [first] = gateway.requests();
    // Replay the same delivery (as after a lost answer) with a fresh signature.
    const body = JSON.stringify({
      deliveryId: first?.deliveryId,
      devices: [{ deviceId: 'iphone-1', platform: 'apns', token: 'apns-token-iphone-1' }],
      content: CONTENT,
    });
    const t = Math.floor(Date.now() / 1000);
    const res = await fetch(gateway.url, {
      method: 'POST',
      headers: {
        'X-MailPush-Signature': signWebhookBody(SECRET, body, t),
        'X-MailPush-Timestamp': String(t),
      },
      body,
    });
    expect(res.status).toBe(200);
    expect(gateway.pushes()).toHaveLength(1);
    expect(gateway.requests().map((r) => r.duplicate)).toEqual([false, true]);
  });

  it('refuses a signature whose timestamp header does not match', async () => {
    const body = JSON.stringify({ deliveryId: 'd-1', devices: [], content: CONTENT });
    const t = Math.floor(Date.now() / 1000);
    const res = await fetch(gateway.url, {
      method: 'POST',
      headers: {
        'X-MailPush-Signature': signWebhookBody(SECRET, body, t),
        'X-MailPush-Timestamp': String(t - 1),
      },
      body,
    });
    expect(res.status).toBe(401);
    expect(gateway.requests()[0]?.signature).toBe('timestamp_mismatch');
  });
});
