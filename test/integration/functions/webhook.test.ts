import { randomBytes } from 'node:crypto';
import { ServiceBusClient, type ServiceBusReceivedMessage } from '@azure/service-bus';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../../dev/local/host.js';
import { startTestHost } from '../../support/test-host.js';
import {
  graphChangeNotification,
  graphLifecycleNotification,
  subscriptionRecord,
} from '../../support/fakes.js';

/**
 * The webhook over the wire: the local runner serves the registered functions, with real
 * Azurite (Table Storage) and the AMQP stand-in (Service Bus) behind them. Assertions are on
 * what actually reached the queue.
 */
const QUEUE = 'mail-notifications';
let host: LocalHost;
let client: ServiceBusClient;
const subA = subscriptionRecord({ clientState: randomBytes(32).toString('base64url') });
const subB = subscriptionRecord({
  subscriptionId: '2b0c7f7e-9a51-4f6d-8c33-0a1b2c3d4e5f',
  mailboxEmail: 'lee.gu@contoso.example',
  userId: '3c4d5e6f-0000-4000-8000-1234567890ab',
  clientState: randomBytes(32).toString('base64url'),
});

beforeAll(async () => {
  host = await startTestHost({
    // This file asserts on what reaches the queue, so nothing may consume it.
    startQueueTriggers: false,
  });
  await host.services.subscriptions.insertSubscription(subA);
  await host.services.subscriptions.insertSubscription(subB);
  client = new ServiceBusClient(host.env.ServiceBusConnection!);
});

afterAll(async () => {
  await client?.close();
  await host?.stop();
});

beforeEach(async () => {
  await drain();
});

async function drain(): Promise<ServiceBusReceivedMessage[]> {
  const receiver = client.createReceiver(QUEUE, { receiveMode: 'receiveAndDelete' });
  const all: ServiceBusReceivedMessage[] = [];
  for (;;) {
    const batch = await receiver.receiveMessages(100, { maxWaitTimeInMs: 300 });
    if (batch.length === 0) break;
    all.push(...batch);
  }
  await receiver.close();
  return all;
}

function post(
  path: string,
  body: string | undefined,
  headers: Record<string, string> = { 'content-type': 'application/json' },
) {
  return fetch(`${host.url}${path}`, { method: 'POST', headers, ...(body !== undefined ? { body } : {}) });
}

const notificationsOf = (...items: Record<string, unknown>[]) => JSON.stringify({ value: items });

describe('validation handshake', () => {
  it.each(['/api/notifications', '/api/lifecycle'])(
    '%s echoes the decoded token as text/plain',
    async (path) => {
      const token = 'Validation: Testing client application reachability for subscription Request-Id: 1c2d';
      const res = await post(`${path}?validationToken=${encodeURIComponent(token)}`, '', {
        'content-type': 'text/plain',
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(await res.text()).toBe(token);
    },
  );

  it('returns a <script> token as inert text, never HTML', async () => {
    const token = '<script>alert(1)</script>';
    const res = await post(`/api/notifications?validationToken=${encodeURIComponent(token)}`, '');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await res.text()).toBe(token);
  });

  it('round-trips unicode tokens', async () => {
    const token = 'ünïcødé ✓ 验证 🚀';
    const res = await post(`/api/notifications?validationToken=${encodeURIComponent(token)}`, '');
    expect(await res.text()).toBe(token);
  });

  it('accepts 1,024 characters and refuses 1,025 or an empty token', async () => {
    expect((await post(`/api/notifications?validationToken=${'a'.repeat(1024)}`, '')).status).toBe(200);
    const tooLong = await post(`/api/notifications?validationToken=${'a'.repeat(1025)}`, '');
    expect(tooLong.status).toBe(400);
    expect(((await tooLong.json()) as { error: { code: string } }).error.code).toBe(
      'invalid_validation_token',
    );
    expect((await post('/api/notifications?validationToken=', '')).status).toBe(400);
  });
});

describe('POST /api/notifications', () => {
  it('enqueues a genuine notification and answers 202', async () => {
    const res = await post('/api/notifications', notificationsOf(graphChangeNotification(subA, 'AAMkAD1')));
    expect(res.status).toBe(202);
    const messages = await drain();
    expect(messages).toHaveLength(1);
    expect(messages[0]!.body).toMatchObject({
      type: 'change',
      subscriptionId: subA.subscriptionId,
      mailboxEmail: subA.mailboxEmail,
      messageId: 'AAMkAD1',
    });
    expect(messages[0]!.messageId).toMatch(/^c-/);
    expect(JSON.stringify(messages[0]!.body)).not.toContain(subA.clientState);
  });

  it('enqueues only the valid items of a mixed POST', async () => {
    const res = await post(
      '/api/notifications',
      notificationsOf(
        graphChangeNotification(subA, 'good-1'),
        graphChangeNotification(subA, 'wrong-secret', { clientState: 'nope' }),
        graphChangeNotification(subB, 'good-2'),
        graphChangeNotification(subB, 'unknown-sub', {
          subscriptionId: 'ffffffff-0000-0000-0000-000000000000',
        }),
        { subscriptionId: subA.subscriptionId, changeType: 'created' },
        graphChangeNotification(subA, 'other-tenant', { tenantId: '00000000-1111-2222-3333-444444444444' }),
      ),
    );
    expect(res.status).toBe(202);
    const ids = (await drain()).map((m) => (m.body as { messageId: string }).messageId).sort();
    expect(ids).toEqual(['good-1', 'good-2']);
  });

  it('drops a Graph retry of the same notification through duplicate detection', async () => {
    const body = notificationsOf(graphChangeNotification(subB, 'retried'));
    expect((await post('/api/notifications', body)).status).toBe(202);
    expect((await post('/api/notifications', body)).status).toBe(202);
    expect(await drain()).toHaveLength(1);
  });

  it('answers 202 and enqueues nothing for a wrong clientState or an unknown subscription', async () => {
    expect(
      (
        await post(
          '/api/notifications',
          notificationsOf(graphChangeNotification(subA, 'x', { clientState: 'guess' })),
        )
      ).status,
    ).toBe(202);
    expect(
      (
        await post(
          '/api/notifications',
          notificationsOf(
            graphChangeNotification(subA, 'y', { subscriptionId: 'abcdef00-0000-0000-0000-000000000000' }),
          ),
        )
      ).status,
    ).toBe(202);
    expect(await drain()).toHaveLength(0);
  });

  it.each([
    ['malformed JSON', '{"value": [', 400, 'invalid_json'],
    ['a JSON array', '[]', 400, 'invalid_notifications'],
    ['missing value', '{"values": []}', 400, 'invalid_notifications'],
    ['an empty value', '{"value": []}', 400, 'invalid_notifications'],
    ['value of junk only', '{"value": [1, "two", null]}', 400, 'invalid_notifications'],
  ])('rejects %s and enqueues nothing', async (_name, body, status, code) => {
    const res = await post('/api/notifications', body);
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code,
      message: expect.any(String),
    });
    expect(await drain()).toHaveLength(0);
  });

  it('rejects a wrong content type with 415', async () => {
    const res = await post('/api/notifications', notificationsOf(graphChangeNotification(subA, 'ct')), {
      'content-type': 'text/html',
    });
    expect(res.status).toBe(415);
    expect(await drain()).toHaveLength(0);
  });

  it('rejects a body over 1 MiB with 413 and enqueues nothing', async () => {
    const padding = 'x'.repeat(1024 * 1024);
    const res = await post(
      '/api/notifications',
      notificationsOf(graphChangeNotification(subA, 'big', { padding })),
    );
    expect(res.status).toBe(413);
    expect(await drain()).toHaveLength(0);
  });

  it('ignores the body of a handshake even if it looks like notifications', async () => {
    const res = await post(
      `/api/notifications?validationToken=tok`,
      notificationsOf(graphChangeNotification(subA, 'hs')),
    );
    expect(await res.text()).toBe('tok');
    expect(await drain()).toHaveLength(0);
  });

  it('answers 404 for unknown routes and 405 for other methods', async () => {
    expect((await fetch(`${host.url}/api/nope`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${host.url}/api/notifications`)).status).toBe(405);
  });
});

describe('POST /api/lifecycle', () => {
  it('enqueues lifecycle events as lifecycle messages', async () => {
    const res = await post(
      '/api/lifecycle',
      notificationsOf(
        graphLifecycleNotification(subA, 'reauthorizationRequired'),
        graphLifecycleNotification(subB, 'subscriptionRemoved'),
        graphLifecycleNotification(subA, 'missed'),
      ),
    );
    expect(res.status).toBe(202);
    const bodies = (await drain()).map(
      (m) => m.body as { type: string; lifecycleEvent: string; mailboxEmail: string },
    );
    expect(bodies.map((b) => [b.type, b.lifecycleEvent, b.mailboxEmail]).sort()).toEqual(
      [
        ['lifecycle', 'missed', subA.mailboxEmail],
        ['lifecycle', 'reauthorizationRequired', subA.mailboxEmail],
        ['lifecycle', 'subscriptionRemoved', subB.mailboxEmail],
      ].sort(),
    );
  });

  it('drops lifecycle events with a wrong clientState and change notifications sent to it', async () => {
    const res = await post(
      '/api/lifecycle',
      notificationsOf(
        graphLifecycleNotification(subA, 'missed', { clientState: 'wrong' }),
        graphChangeNotification(subA, 'm'),
      ),
    );
    expect(res.status).toBe(202);
    expect(await drain()).toHaveLength(0);
  });

  it('refuses unknown lifecycle events when nothing else is valid', async () => {
    const res = await post(
      '/api/lifecycle',
      notificationsOf(graphLifecycleNotification(subA, 'selfDestruct')),
    );
    expect(res.status).toBe(400);
  });
});
