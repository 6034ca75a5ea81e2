import { HttpRequest, InvocationContext } from '@azure/functions';
import { describe, expect, it } from 'vitest';
import { handleGraphWebhook, MAX_NOTIFICATION_BODY_BYTES } from '../../../shared/http/graph-webhook.js';
import {
  InMemoryNotificationQueue,
  InMemorySubscriptionLookup,
  graphChangeNotification,
  subscriptionRecord,
} from '../../support/fakes.js';
import { isKeyring, parseClientStateKeys, signClientState } from '../../../shared/domain/client-state.js';

const sub = subscriptionRecord();

function setup() {
  const subscriptions = new InMemorySubscriptionLookup().add(sub);
  const queue = new InMemoryNotificationQueue();
  const logs: string[] = [];
  const context = new InvocationContext({
    functionName: 'notifications-post',
    logHandler: (_level, ...args) => logs.push(args.map(String).join(' ')),
  });
  const deps = { subscriptions, queue, now: () => new Date('2026-11-23T10:00:00Z') };
  const post = (init: { body?: string; query?: Record<string, string>; headers?: Record<string, string> }) =>
    handleGraphWebhook(
      new HttpRequest({
        method: 'POST',
        url: 'https://mailpush.example/api/notifications',
        headers: { 'content-type': 'application/json; charset=utf-8', ...init.headers },
        query: init.query ?? {},
        ...(init.body !== undefined ? { body: { string: init.body } } : {}),
      }),
      context,
      'change',
      deps,
    );
  return { queue, logs, post };
}

describe('handleGraphWebhook', () => {
  it('answers the handshake with the decoded token as text/plain', async () => {
    const { post, queue } = setup();
    const res = await post({
      query: { validationToken: 'Validation: Testing client application reachability' },
      headers: { 'content-type': 'text/plain' },
    });
    expect(res.status).toBe(200);
    expect(res.body).toBe('Validation: Testing client application reachability');
    expect(res.headers).toMatchObject({
      'Content-Type': 'text/plain; charset=utf-8',
      'X-Content-Type-Options': 'nosniff',
    });
    expect(queue.sent).toHaveLength(0);
  });

  it('answers 503 when the queue is down, so Graph retries and nothing is lost', async () => {
    const { post, queue, logs } = setup();
    queue.failWith = new Error('amqp connection refused');
    const res = await post({ body: JSON.stringify({ value: [graphChangeNotification(sub, 'm1')] }) });
    expect(res.status).toBe(503);
    expect(JSON.stringify(res.jsonBody)).not.toContain('amqp');
    expect(logs.join('\n')).toContain('could not enqueue');
  });

  it('logs drop counts without the clientState that was presented', async () => {
    const { post, logs } = setup();
    const res = await post({
      body: JSON.stringify({
        value: [graphChangeNotification(sub, 'm1', { clientState: 'attacker-guess-123' })],
      }),
    });
    expect(res.status).toBe(202);
    expect(logs.join('\n')).toContain('client_state_mismatch');
    expect(logs.join('\n')).not.toContain('attacker-guess-123');
    expect(logs.join('\n')).not.toContain(sub.clientState);
  });

  it('rejects a declared oversize body before reading it', async () => {
    const { post } = setup();
    const res = await post({
      body: '{}',
      headers: { 'content-length': String(MAX_NOTIFICATION_BODY_BYTES + 1) },
    });
    expect(res.status).toBe(413);
  });

  it('answers 400 when every item is malformed', async () => {
    const { post } = setup();
    const res = await post({ body: JSON.stringify({ value: [{ a: 1 }, 'b'] }) });
    expect(res.status).toBe(400);
    expect(res.jsonBody).toMatchObject({ error: { code: 'invalid_notifications' } });
  });
});

describe('handleGraphWebhook with CLIENT_STATE_KEYS', () => {
  const parsed = parseClientStateKeys(`k1:${Buffer.alloc(32, 1).toString('base64')}`);
  if (!isKeyring(parsed)) throw new Error('test key');
  const keys = parsed;
  const signed = subscriptionRecord({
    clientState: signClientState(keys, subscriptionRecord(), () => new Uint8Array(16).fill(3)),
  });

  function setupSigned() {
    const subscriptions = new InMemorySubscriptionLookup().add(signed);
    const queue = new InMemoryNotificationQueue();
    const logs: string[] = [];
    const context = new InvocationContext({
      functionName: 'notifications-post',
      logHandler: (_level, ...args) => logs.push(args.map(String).join(' ')),
    });
    const deps = { subscriptions, queue, now: () => new Date('2026-11-23T10:00:00Z'), clientStateKeys: keys };
    const post = (value: unknown[]) =>
      handleGraphWebhook(
        new HttpRequest({
          method: 'POST',
          url: 'https://mailpush.example/api/notifications',
          headers: { 'content-type': 'application/json' },
          body: { string: JSON.stringify({ value }) },
        }),
        context,
        'change',
        deps,
      );
    return { subscriptions, queue, logs, post };
  }

  it('answers 202 to a forged signed notification with a random subscription id, at no lookup', async () => {
    const { subscriptions, queue, logs, post } = setupSigned();
    const forgedState = signClientState(
      keys,
      { tenantId: signed.tenantId, userId: '99999999-9999-9999-9999-999999999999' },
      () => new Uint8Array(16).fill(4),
    );
    const res = await post([
      graphChangeNotification(signed, 'm1', {
        subscriptionId: 'a4b7c0d3-0000-4000-8000-123456789abc',
        clientState: forgedState,
      }),
    ]);
    expect(res.status).toBe(202);
    expect(subscriptions.reads).toBe(0);
    expect(queue.sent).toHaveLength(0);
    expect(logs.join('\n')).toContain('client_state_mismatch');
    expect(logs.join('\n')).not.toContain(forgedState);
  });

  it('enqueues a genuine signed notification', async () => {
    const { subscriptions, queue, post } = setupSigned();
    const res = await post([graphChangeNotification(signed, 'm1')]);
    expect(res.status).toBe(202);
    expect(subscriptions.reads).toBe(1);
    expect(queue.messages.map((m) => m.body.mailboxEmail)).toEqual([signed.mailboxEmail]);
  });
});
