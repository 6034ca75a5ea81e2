/**
 * The Notification Hubs stand-in's own checks, driven with raw HTTPS requests: a stand-in that
 * accepted anything would let provider bugs through.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startNotificationHubsSim, type NotificationHubsSim } from '../../../dev/sim/push/index.js';

let hub: NotificationHubsSim;

beforeAll(async () => {
  hub = await startNotificationHubsSim({ hubName: 'sim-checks' });
});

afterAll(async () => {
  await hub?.stop();
});

beforeEach(() => {
  hub.reset();
});

/** A SAS token as Service Bus defines it (and the SDK builds it). */
function sas(options: { key?: string; keyName?: string; expiry?: number; resource?: string } = {}): string {
  const resource = encodeURIComponent((options.resource ?? `${hub.url}/`).toLowerCase());
  const expiry = options.expiry ?? Math.floor(Date.now() / 1000) + 600;
  const sig = createHmac('sha256', options.key ?? hub.key)
    .update(`${resource}\n${expiry}`)
    .digest('base64');
  return `SharedAccessSignature sr=${resource}&sig=${encodeURIComponent(sig)}&se=${expiry}&skn=${options.keyName ?? hub.keyName}`;
}

async function call(
  method: string,
  path: string,
  init: { auth?: string | null; headers?: Record<string, string>; body?: unknown } = {},
): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  if (init.auth !== null) headers.Authorization = init.auth ?? sas();
  const res = await fetch(`${hub.url}${path}`, {
    method,
    headers,
    ...(init.body === undefined
      ? {}
      : { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) }),
  });
  return { status: res.status, text: await res.text() };
}

const installationPath = (id: string) => `/${hub.hubName}/installations/${id}?api-version=2020-06`;
const messagesPath = `/sim-checks/messages/?api-version=2020-06`;

function sendApple(body: unknown, tags?: string) {
  return call('POST', messagesPath, {
    headers: {
      'Content-Type': 'application/json;charset=utf-8',
      'ServiceBusNotification-Format': 'apple',
      ...(tags !== undefined ? { 'ServiceBusNotification-Tags': tags } : {}),
    },
    body,
  });
}

const APPLE = { aps: { alert: { title: 't', body: 'b' } } };

describe('SAS authorization', () => {
  it('accepts a valid token and refuses a missing, wrong-key, unknown-name, expired or foreign one', async () => {
    expect((await call('GET', installationPath('x'))).status).toBe(404); // authorized, just missing
    expect((await call('GET', installationPath('x'), { auth: null })).status).toBe(401);
    expect((await call('GET', installationPath('x'), { auth: sas({ key: 'not-the-key' }) })).status).toBe(
      401,
    );
    expect((await call('GET', installationPath('x'), { auth: sas({ keyName: 'Other' }) })).status).toBe(401);
    const expired = await call('GET', installationPath('x'), {
      auth: sas({ expiry: Math.floor(Date.now() / 1000) - 5 }),
    });
    expect(expired.status).toBe(401);
    expect(expired.text).toContain('ExpiredToken');
    const foreign = await call('GET', installationPath('x'), {
      auth: sas({ resource: 'https://other.example/' }),
    });
    expect(foreign.status).toBe(401);
    expect(foreign.text).toContain('InvalidAudience');
  });

  it('requires the api-version parameter', async () => {
    expect((await call('GET', `/${hub.hubName}/installations/x`)).status).toBe(400);
  });
});

describe('installations', () => {
  it('validates the body and stores what it accepted', async () => {
    const good = { installationId: 'inst-1', platform: 'APNS', pushChannel: 'abc', tags: ['user:1'] };
    expect((await call('PUT', installationPath('inst-1'), { body: good })).status).toBe(200);
    expect(hub.installation('inst-1')).toMatchObject({ platform: 'apns', tags: ['user:1'] });

    const bad = [
      { ...good, installationId: 'other' },
      { ...good, platform: 'symbian' },
      { ...good, pushChannel: '' },
      { ...good, tags: ['has space'] },
      { ...good, tags: ['mailbox:someone@contoso.example!'] },
      { ...good, tags: Array.from({ length: 61 }, (_, i) => `t${i}`) },
    ];
    for (const body of bad) {
      expect((await call('PUT', installationPath('inst-1'), { body })).status, JSON.stringify(body)).toBe(
        400,
      );
    }
    expect(hub.installation('inst-1')?.pushChannel).toBe('abc');
  });

  it('answers 204 for deleting a missing installation, as the service does', async () => {
    expect((await call('DELETE', installationPath('never-there'))).status).toBe(204);
  });
});

describe('sends', () => {
  it('checks APNs and FCM v1 bodies', async () => {
    expect((await sendApple(APPLE)).status).toBe(201);
    expect((await sendApple({ aps: {} })).status).toBe(400);
    expect((await sendApple({ aps: { alert: { title: 't' } }, pad: 'x'.repeat(5000) })).status).toBe(400);

    const fcm = (body: unknown) =>
      call('POST', messagesPath, {
        headers: { 'Content-Type': 'application/json', 'ServiceBusNotification-Format': 'fcmv1' },
        body,
      });
    expect(
      (await fcm({ message: { notification: { title: 't', body: 'b' }, data: { a: '1' } } })).status,
    ).toBe(201);
    // The shape the SDK's TypeScript type suggests (no envelope) is refused, as by the service.
    expect((await fcm({ notification: { title: 't', body: 'b' } })).status).toBe(400);
    expect((await fcm({ message: { notification: { title: 't' }, data: { count: 3 } } })).status).toBe(400);
    expect((await fcm({ message: { notification: { title: 't' }, token: 'x' } })).status).toBe(400);
    expect(hub.sends()).toHaveLength(2);
  });

  it('evaluates tag expressions against installations of the format’s platform', async () => {
    const put = (id: string, platform: string, tags: string[]) =>
      call('PUT', installationPath(id), {
        body: { installationId: id, platform, pushChannel: `ch-${id}`, tags },
      });
    await put('a', 'apns', ['user:1', 'mailbox:x']);
    await put('b', 'apns', ['user:2', 'mailbox:x']);
    await put('c', 'fcmv1', ['user:1', 'mailbox:x']);

    await sendApple(APPLE, 'mailbox:x && !user:2');
    await sendApple(APPLE, '$InstallationId:{b} || $InstallationId:{c}');
    await sendApple(APPLE);
    expect(hub.sends().map((s) => s.delivered.sort())).toEqual([['a'], ['b'], ['a', 'b']]);
  });

  it('enforces the tag-expression limits', async () => {
    const or21 = Array.from({ length: 21 }, (_, i) => `t${i}`).join(' || ');
    const or20 = Array.from({ length: 20 }, (_, i) => `t${i}`).join(' || ');
    const and7 = Array.from({ length: 7 }, (_, i) => `t${i}`).join(' && ');
    expect((await sendApple(APPLE, or20)).status).toBe(201);
    expect((await sendApple(APPLE, or21)).status).toBe(400);
    expect((await sendApple(APPLE, and7)).status).toBe(400);
    expect((await sendApple(APPLE, '(a || b')).status).toBe(400);
  });

  it('fails injected requests with the given status and Retry-After', async () => {
    hub.failNext({ operation: 'send', status: 429, retryAfterSeconds: 12, times: 2 });
    const res = await fetch(`${hub.url}${messagesPath}`, {
      method: 'POST',
      headers: {
        Authorization: sas(),
        'Content-Type': 'application/json',
        'ServiceBusNotification-Format': 'apple',
      },
      body: JSON.stringify(APPLE),
    });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('12');
    expect((await sendApple(APPLE)).status).toBe(429);
    expect((await sendApple(APPLE)).status).toBe(201);
  });
});
