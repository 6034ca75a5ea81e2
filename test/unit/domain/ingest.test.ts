import { describe, expect, it } from 'vitest';
import { ingestNotifications } from '../../../shared/domain/ingest.js';
import { PayloadError } from '../../../shared/domain/notifications.js';
import {
  InMemoryNotificationQueue,
  InMemorySubscriptionLookup,
  graphChangeNotification,
  graphLifecycleNotification,
  subscriptionRecord,
} from '../../support/fakes.js';

const subA = subscriptionRecord();
const subB = subscriptionRecord({
  subscriptionId: '11111111-2222-3333-4444-555555555555',
  mailboxEmail: 'lee.gu@contoso.example',
  userId: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
  clientState: 'other-secret',
});

function setup() {
  const subscriptions = new InMemorySubscriptionLookup().add(subA).add(subB);
  const queue = new InMemoryNotificationQueue();
  return {
    subscriptions,
    queue,
    deps: { subscriptions, queue, now: () => new Date('2026-11-23T10:00:00Z') },
  };
}

describe('ingestNotifications', () => {
  it('enqueues every genuine notification of one POST in a single send', async () => {
    const { queue, deps } = setup();
    const result = await ingestNotifications(
      {
        value: [
          graphChangeNotification(subA, 'm1'),
          graphChangeNotification(subB, 'm2'),
          graphChangeNotification(subA, 'm3'),
        ],
      },
      'change',
      deps,
    );
    expect(result).toEqual({ received: 3, accepted: 3, dropped: {} });
    expect(queue.sent).toHaveLength(1);
    expect(queue.messages.map((m) => m.body.mailboxEmail)).toEqual([
      subA.mailboxEmail,
      subB.mailboxEmail,
      subA.mailboxEmail,
    ]);
  });

  it('drops and counts invalid items, enqueuing only the valid ones', async () => {
    const { queue, deps } = setup();
    const result = await ingestNotifications(
      {
        value: [
          graphChangeNotification(subA, 'ok1'),
          graphChangeNotification(subA, 'bad-secret', { clientState: 'guess' }),
          graphChangeNotification(subA, 'unknown', {
            subscriptionId: '99999999-0000-0000-0000-000000000000',
          }),
          { junk: true },
          graphChangeNotification(subB, 'ok2'),
        ],
      },
      'change',
      deps,
    );
    expect(result.accepted).toBe(2);
    expect(result.dropped).toEqual({ client_state_mismatch: 1, unknown_subscription: 1, malformed: 1 });
    expect(queue.messages.map((m) => (m.body.type === 'change' ? m.body.messageId : ''))).toEqual([
      'ok1',
      'ok2',
    ]);
  });

  it('sends nothing when nothing is valid', async () => {
    const { queue, deps } = setup();
    const result = await ingestNotifications(
      { value: [graphChangeNotification(subA, 'x', { clientState: 'no' })] },
      'change',
      deps,
    );
    expect(result.accepted).toBe(0);
    expect(queue.sent).toHaveLength(0);
  });

  it('collapses the same notification repeated inside one POST', async () => {
    const { queue, deps } = setup();
    const n = graphChangeNotification(subA, 'm1');
    const result = await ingestNotifications({ value: [n, n] }, 'change', deps);
    expect(result.accepted).toBe(1);
    expect(queue.messages).toHaveLength(1);
  });

  it('accepts lifecycle events on either URL but change notifications only on the notifications URL', async () => {
    const { queue, deps } = setup();
    const result = await ingestNotifications(
      {
        value: [graphLifecycleNotification(subA, 'subscriptionRemoved'), graphChangeNotification(subA, 'm1')],
      },
      'lifecycle',
      deps,
    );
    expect(result.dropped).toEqual({ change_on_lifecycle_url: 1 });
    expect(queue.messages.map((m) => m.body.type)).toEqual(['lifecycle']);
  });

  it('throws PayloadError for a wrong envelope and enqueues nothing', async () => {
    const { queue, deps } = setup();
    await expect(ingestNotifications({ nope: 1 }, 'change', deps)).rejects.toBeInstanceOf(PayloadError);
    expect(queue.sent).toHaveLength(0);
  });

  it('propagates a queue failure so the webhook answers 503 and Graph retries', async () => {
    const { queue, deps } = setup();
    queue.failWith = new Error('broker down');
    await expect(
      ingestNotifications({ value: [graphChangeNotification(subA, 'm1')] }, 'change', deps),
    ).rejects.toThrow('broker down');
  });

  it('propagates a storage failure rather than dropping notifications it could not check', async () => {
    const { subscriptions, queue, deps } = setup();
    subscriptions.failWith = new Error('table down');
    await expect(
      ingestNotifications({ value: [graphChangeNotification(subA, 'm1')] }, 'change', deps),
    ).rejects.toThrow('table down');
    expect(queue.sent).toHaveLength(0);
  });
});
