/**
 * Property tests of the anonymous Graph webhook (change and lifecycle URLs): whatever arrives,
 * the answer is 200 (handshake), 202 or a 4xx with `{ error: { code, message } }`, never a 5xx
 * unless the queue itself failed, and nothing is enqueued that is not a genuine notification of a
 * stored subscription.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ingestNotifications, type WebhookKind } from '../../shared/domain/ingest.js';
import { PayloadError, parseNotificationPayload } from '../../shared/domain/notifications.js';
import { LIFECYCLE_EVENTS } from '../../shared/domain/notifications.js';
import { MAX_VALIDATION_TOKEN_LENGTH, handleGraphWebhook } from '../../shared/http/graph-webhook.js';
import {
  InMemoryNotificationQueue,
  InMemorySubscriptionLookup,
  graphChangeNotification,
  graphLifecycleNotification,
  subscriptionRecord,
} from '../support/fakes.js';
import {
  anyFieldValue,
  anyJson,
  anyString,
  errorOf,
  fuzz,
  httpRequest,
  mutateOneField,
  recordingContext,
} from '../support/fuzz.js';

const sub = subscriptionRecord();
const NOW = new Date('2026-11-23T10:00:00Z');
const KINDS: readonly WebhookKind[] = ['change', 'lifecycle'];
const WEBHOOK_ERRORS = [
  'invalid_validation_token',
  'unsupported_media_type',
  'payload_too_large',
  'invalid_json',
  'invalid_notifications',
];

function setup(options: { queueDown?: boolean } = {}) {
  const subscriptions = new InMemorySubscriptionLookup().add(sub);
  const queue = new InMemoryNotificationQueue();
  if (options.queueDown) queue.failWith = new Error('queue down');
  const { context, logs } = recordingContext('notifications-post');
  const deps = { subscriptions, queue, now: () => NOW };
  const post = (
    kind: WebhookKind,
    init: { body?: string; query?: Record<string, string>; headers?: Record<string, string> },
  ) =>
    handleGraphWebhook(
      httpRequest({
        url: `https://mailpush.example/api/${kind === 'change' ? 'notifications' : 'lifecycle'}`,
        headers: { 'content-type': 'application/json', ...init.headers },
        ...(init.query ? { query: init.query } : {}),
        ...(init.body !== undefined ? { body: init.body } : {}),
      }),
      context,
      kind,
      deps,
    );
  return { queue, logs, post, deps };
}

/** Every non-2xx answer is a documented 4xx with the error envelope. */
function expectDocumentedRefusal(response: { status?: number; jsonBody?: unknown }): void {
  const status = response.status ?? 200;
  expect(status).toBeLessThan(500);
  if (status >= 400) expect(WEBHOOK_ERRORS).toContain(errorOf(response)?.code);
}

const kind = fc.constantFrom(...KINDS);

describe('webhook handshake (?validationToken=)', () => {
  it('echoes any token of 1..1024 characters as text/plain, refuses others with 400, enqueues nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        kind,
        fc.oneof(
          anyString,
          fc.string({ minLength: 1000, maxLength: 1100 }),
          fc.constantFrom('', 'a', 'x'.repeat(MAX_VALIDATION_TOKEN_LENGTH)),
        ),
        fc.option(fc.constantFrom('text/plain', 'application/json', ''), { nil: undefined }),
        async (k, token, contentType) => {
          const { post, queue } = setup();
          const request = httpRequest({ query: { validationToken: token } });
          const decoded = request.query.get('validationToken') ?? '';
          const res = await post(k, {
            query: { validationToken: token },
            ...(contentType !== undefined ? { headers: { 'content-type': contentType } } : {}),
            body: 'ignored',
          });
          if (decoded.length >= 1 && decoded.length <= MAX_VALIDATION_TOKEN_LENGTH) {
            expect(res.status).toBe(200);
            expect(res.body).toBe(decoded);
            expect(res.headers).toMatchObject({ 'Content-Type': 'text/plain; charset=utf-8' });
          } else {
            expect(res.status).toBe(400);
            expect(errorOf(res)?.code).toBe('invalid_validation_token');
          }
          expect(queue.sent).toHaveLength(0);
        },
      ),
      fuzz(300),
    );
  });
});

describe('webhook body', () => {
  it('arbitrary text as JSON: 400 invalid_json or a documented answer, nothing enqueued', async () => {
    await fc.assert(
      fc.asyncProperty(kind, anyString, async (k, body) => {
        const { post, queue } = setup();
        const res = await post(k, { body });
        expectDocumentedRefusal(res);
        let parses = true;
        try {
          JSON.parse(body);
        } catch {
          parses = false;
        }
        if (!parses) expect(errorOf(res)?.code).toBe('invalid_json');
        expect(queue.sent).toHaveLength(0);
      }),
      fuzz(300),
    );
  });

  it('arbitrary JSON: 202 or 400 invalid_notifications, never enqueued, never 5xx even with the queue down', async () => {
    await fc.assert(
      fc.asyncProperty(
        kind,
        fc.oneof(
          anyJson,
          fc.record({ value: anyJson }),
          fc.record({ value: fc.array(anyJson, { maxLength: 5 }), validationTokens: anyJson }),
          fc.record({ value: fc.array(fc.dictionary(anyString, anyFieldValue), { maxLength: 5 }) }),
        ),
        fc.boolean(),
        async (k, body, queueDown) => {
          const { post, queue } = setup({ queueDown });
          const res = await post(k, { body: JSON.stringify(body) });
          expectDocumentedRefusal(res);
          expect([202, 400]).toContain(res.status);
          if (res.status === 400) expect(errorOf(res)?.code).toBe('invalid_notifications');
          expect(queue.sent).toHaveLength(0);
        },
      ),
      fuzz(300),
    );
  });

  it('any content type that is not JSON: 415, nothing read or enqueued', async () => {
    await fc.assert(
      fc.asyncProperty(kind, anyString, async (k, contentType) => {
        fc.pre(!/^application\/(.+\+)?json\b/.test(contentType.toLowerCase()));
        // Header values must be legal in a Headers object.
        fc.pre(/^[\x20-\x7e]*$/.test(contentType));
        const { post, queue } = setup();
        const res = await post(k, {
          headers: { 'content-type': contentType },
          body: JSON.stringify({ value: [graphChangeNotification(sub, 'm1')] }),
        });
        expect(res.status).toBe(415);
        expect(errorOf(res)?.code).toBe('unsupported_media_type');
        expect(queue.sent).toHaveLength(0);
      }),
      fuzz(150),
    );
  });

  it('the pure parser throws only PayloadError, and ingest only PayloadError, for any value', async () => {
    await fc.assert(
      fc.asyncProperty(kind, fc.anything({ maxDepth: 3 }), async (k, body) => {
        try {
          parseNotificationPayload(body);
        } catch (error) {
          expect(error).toBeInstanceOf(PayloadError);
        }
        const { deps, queue } = setup();
        try {
          const result = await ingestNotifications(body, k, deps);
          expect(result.accepted).toBe(0);
        } catch (error) {
          expect(error).toBeInstanceOf(PayloadError);
        }
        expect(queue.sent).toHaveLength(0);
      }),
      fuzz(300),
    );
  });
});

/** What a mutation must keep out of the queue: a different secret, subscription, tenant or user. */
function mustBeDropped(field: string, before: unknown, after: Record<string, unknown>): boolean {
  const now = after[field];
  if (field === 'clientState') return now !== before;
  if (field === 'subscriptionId') return now !== before;
  if (field === 'tenantId')
    return (
      now !== undefined && (typeof now !== 'string' || now.toLowerCase() !== String(before).toLowerCase())
    );
  return false;
}

describe('almost-valid change notifications, one field mutated', () => {
  const valid = graphChangeNotification(sub, 'AAMkAGI2TG93AAA=');

  it('never enqueue a forged one, never 5xx, and never stop the genuine one next to it', async () => {
    await fc.assert(
      fc.asyncProperty(
        mutateOneField(valid),
        fc.constantFrom('alone', 'with-genuine'),
        async ({ field, value }, mode) => {
          const { post, queue } = setup();
          const genuine = graphChangeNotification(sub, 'genuine-message');
          const items = mode === 'alone' ? [value] : [value, genuine];
          const res = await post('change', { body: JSON.stringify({ value: items }) });
          expectDocumentedRefusal(res);
          const bodies = queue.messages.map((m) => m.body);
          for (const body of bodies) {
            expect(body).toMatchObject({ subscriptionId: sub.subscriptionId, userId: sub.userId });
            expect(JSON.stringify(body)).not.toContain(sub.clientState);
          }
          if (mode === 'with-genuine') {
            expect(res.status).toBe(202);
            expect(bodies.some((b) => b.type === 'change' && b.messageId === 'genuine-message')).toBe(true);
          }
          const forgedEnqueued = bodies.some((b) => b.type === 'change' && b.messageId !== 'genuine-message');
          if (mustBeDropped(field, valid[field], value)) expect(forgedEnqueued).toBe(false);
          if (field === 'resource' && forgedEnqueued) {
            // Only a resource that still names the subscription's user may pass.
            expect(String(value.resource).toLowerCase()).toContain(`users/${sub.userId}/messages/`);
          }
          expect(queue.sent.length).toBeLessThanOrEqual(1);
        },
      ),
      fuzz(400),
    );
  });

  it('resourceData mutated field by field: enqueued only with a printable message id of the same user', async () => {
    const resourceData = valid.resourceData as Record<string, unknown>;
    await fc.assert(
      fc.asyncProperty(mutateOneField(resourceData), async ({ value }) => {
        const { post, queue } = setup();
        const res = await post('change', {
          body: JSON.stringify({ value: [{ ...valid, resourceData: value }] }),
        });
        expectDocumentedRefusal(res);
        for (const m of queue.messages) {
          if (m.body.type !== 'change') throw new Error('expected a change');
          expect(m.body.messageId).toMatch(/^[\x21-\x7e]{1,512}$/);
          expect(m.body.userId).toBe(sub.userId);
        }
      }),
      fuzz(200),
    );
  });
});

describe('lifecycle events (kind lifecycle)', () => {
  it('a genuine event of each kind is enqueued once on the lifecycle URL', async () => {
    for (const event of LIFECYCLE_EVENTS) {
      const { post, queue } = setup();
      const res = await post('lifecycle', {
        body: JSON.stringify({ value: [graphLifecycleNotification(sub, event)] }),
      });
      expect(res.status).toBe(202);
      expect(queue.messages.map((m) => m.body)).toEqual([
        expect.objectContaining({ type: 'lifecycle', lifecycleEvent: event }),
      ]);
    }
  });

  it('one field mutated: never a forged enqueue, never 5xx, change items never enqueued from the lifecycle URL', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...LIFECYCLE_EVENTS),
        fc.constantFrom(...KINDS),
        fc.boolean(),
        fc.nat(),
        async (event, k, includeChange, seed) => {
          const valid = graphLifecycleNotification(sub, event);
          const mutation = fc.sample(mutateOneField(valid), { seed, numRuns: 1 })[0]!;
          const items: unknown[] = [mutation.value];
          if (includeChange) items.push(graphChangeNotification(sub, 'on-the-wrong-url'));
          const { post, queue } = setup();
          const res = await post(k, { body: JSON.stringify({ value: items }) });
          expectDocumentedRefusal(res);
          const bodies = queue.messages.map((m) => m.body);
          if (k === 'lifecycle') expect(bodies.every((b) => b.type === 'lifecycle')).toBe(true);
          if (mustBeDropped(mutation.field, valid[mutation.field], mutation.value))
            expect(bodies.some((b) => b.type === 'lifecycle')).toBe(false);
          for (const b of bodies) {
            expect(b.subscriptionId).toBe(sub.subscriptionId);
            if (b.type === 'lifecycle') expect(LIFECYCLE_EVENTS).toContain(b.lifecycleEvent);
          }
        },
      ),
      fuzz(300),
    );
  });

  it('lifecycleEvent of any other value is malformed (400 when alone), never enqueued', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...KINDS), anyFieldValue, async (k, lifecycleEvent) => {
        fc.pre(
          lifecycleEvent !== undefined && !(LIFECYCLE_EVENTS as readonly unknown[]).includes(lifecycleEvent),
        );
        const { post, queue } = setup();
        const res = await post(k, {
          body: JSON.stringify({ value: [graphLifecycleNotification(sub, 'missed', { lifecycleEvent })] }),
        });
        expect(res.status).toBe(400);
        expect(errorOf(res)?.code).toBe('invalid_notifications');
        expect(queue.sent).toHaveLength(0);
      }),
      fuzz(200),
    );
  });
});
