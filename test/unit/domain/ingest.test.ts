import { describe, expect, it } from 'vitest';
import { ingestNotifications } from '../../../shared/domain/ingest.js';
import { LookupPathGate } from '../../../shared/domain/lookup-path.js';
import { PayloadError } from '../../../shared/domain/notifications.js';
import {
  isKeyring,
  parseClientStateKeys,
  signClientState,
  type ClientStateKeyring,
} from '../../../shared/domain/client-state.js';
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

describe('ingestNotifications with signed clientStates', () => {
  const parsed = parseClientStateKeys(
    `k2:${Buffer.alloc(32, 2).toString('base64')},k1:${Buffer.alloc(32, 1).toString('base64')}`,
  );
  if (!isKeyring(parsed)) throw new Error('test keys');
  const keys: ClientStateKeyring = parsed;
  const nonce = (fill: number) => () => new Uint8Array(16).fill(fill);
  const signed = subscriptionRecord({
    subscriptionId: '22222222-3333-4444-5555-666666666666',
    clientState: signClientState(keys, subscriptionRecord(), nonce(7)),
  });
  /** Random subscription ids, as a flood would send; a valid-looking v1 clientState under our key id. */
  const forged = Array.from({ length: 50 }, (_, i) =>
    graphChangeNotification(signed, `m${i}`, {
      subscriptionId: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`,
      clientState: signClientState(keys, { tenantId: signed.tenantId, userId: 'someone-else' }, nonce(i)),
    }),
  );

  function setupSigned() {
    const subscriptions = new InMemorySubscriptionLookup().add(signed).add(subA);
    const queue = new InMemoryNotificationQueue();
    const deps = {
      subscriptions,
      queue,
      now: () => new Date('2026-11-23T10:00:00Z'),
      clientStateKeys: keys,
    };
    return { subscriptions, queue, deps };
  }

  it('enqueues a genuine signed notification after its lookup (which gives the mailbox)', async () => {
    const { subscriptions, queue, deps } = setupSigned();
    const result = await ingestNotifications(
      { value: [graphChangeNotification(signed, 'm1')] },
      'change',
      deps,
    );
    expect(result).toEqual({ received: 1, accepted: 1, dropped: {} });
    expect(subscriptions.reads).toBe(1);
    expect(queue.messages[0]?.body.mailboxEmail).toBe(signed.mailboxEmail);
  });

  it('drops forged signed notifications without a single lookup', async () => {
    const { subscriptions, queue, deps } = setupSigned();
    const result = await ingestNotifications({ value: forged }, 'change', deps);
    expect(result).toEqual({ received: 50, accepted: 0, dropped: { client_state_mismatch: 50 } });
    expect(subscriptions.reads).toBe(0);
    expect(queue.sent).toHaveLength(0);
  });

  it.each([
    ['another tenant', { tenantId: '11111111-2222-3333-4444-555555555555' }],
    ['another user in the resource', { resource: 'Users/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee/Messages/m1' }],
    ['no tenant', { tenantId: undefined }],
    ['a truncated MAC', { clientState: signed.clientState.slice(0, -1) }],
    ['an unknown key id', { clientState: signed.clientState.replace(/^(v[12]\.)k[12]\./, '$1k9.') }],
  ])('drops a genuine clientState replayed with %s before any lookup', async (_name, overrides) => {
    const { subscriptions, deps } = setupSigned();
    const result = await ingestNotifications(
      { value: [graphChangeNotification(signed, 'm1', overrides)] },
      'change',
      deps,
    );
    expect(result.dropped).toEqual({ client_state_mismatch: 1 });
    expect(subscriptions.reads).toBe(0);
  });

  it('still compares a valid MAC with the stored clientState (another subscription of the same user)', async () => {
    const { subscriptions, deps } = setupSigned();
    const other = signClientState(keys, signed, nonce(9));
    const result = await ingestNotifications(
      { value: [graphChangeNotification(signed, 'm1', { clientState: other })] },
      'change',
      deps,
    );
    expect(result.dropped).toEqual({ client_state_mismatch: 1 });
    expect(subscriptions.reads).toBe(1);
  });

  it('keeps the lookup path for unsigned clientStates (subscriptions from before signing)', async () => {
    const { subscriptions, queue, deps } = setupSigned();
    const result = await ingestNotifications(
      {
        value: [
          graphChangeNotification(subA, 'm1'),
          graphChangeNotification(subA, 'm2', { clientState: 'guess' }),
        ],
      },
      'change',
      deps,
    );
    expect(result).toEqual({ received: 2, accepted: 1, dropped: { client_state_mismatch: 1 } });
    expect(subscriptions.reads).toBe(2);
    expect(queue.messages).toHaveLength(1);
  });

  it('checks the shape and key id of a lifecycle event (which names no user), then its stored secret', async () => {
    const { subscriptions, queue, deps } = setupSigned();
    const result = await ingestNotifications(
      {
        value: [
          graphLifecycleNotification(signed, 'missed'),
          graphLifecycleNotification(signed, 'missed', { clientState: 'v1.k9.garbage' }),
        ],
      },
      'lifecycle',
      deps,
    );
    expect(result).toEqual({ received: 2, accepted: 1, dropped: { client_state_mismatch: 1 } });
    expect(subscriptions.reads).toBe(1);
    expect(queue.messages.map((m) => m.body.type)).toEqual(['lifecycle']);
  });

  it('without keys, takes today’s lookup path for signed clientStates too', async () => {
    const { subscriptions, deps } = setupSigned();
    const result = await ingestNotifications({ value: forged }, 'change', {
      ...deps,
      clientStateKeys: undefined,
    });
    expect(result.dropped).toEqual({ unknown_subscription: 50 });
    expect(subscriptions.reads).toBe(50);
  });

  describe('once the lookup path is off (no old-style subscription left)', () => {
    const v1 = subscriptionRecord({
      subscriptionId: '33333333-3333-4444-5555-666666666666',
      clientState: signClientState(keys, subscriptionRecord(), nonce(8), 'v1'),
    });
    function setupOff(on = false) {
      const { subscriptions, queue, deps } = setupSigned();
      subscriptions.add(v1);
      let censusReads = 0;
      const lookupPath = new LookupPathGate({
        mode: 'auto',
        read: () => {
          censusReads++;
          return Promise.resolve(on);
        },
        refreshMs: 60_000,
        now: () => 0,
      });
      return { subscriptions, queue, deps: { ...deps, lookupPath }, reads: () => censusReads };
    }
    const forgedLifecycle = Array.from({ length: 50 }, (_, i) =>
      graphLifecycleNotification(signed, 'subscriptionRemoved', {
        subscriptionId: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`,
        clientState:
          i % 3 === 0
            ? `v2.k2.${subscriptionRecord().userId}.${'A'.repeat(22)}.${'B'.repeat(43)}`
            : i % 3 === 1
              ? `v1.k2.${'A'.repeat(22)}.${'B'.repeat(43)}`
              : `unsigned-${i}`,
      }),
    );

    it('drops forged lifecycle events (v2 by their MAC, old-style by the census) without a lookup', async () => {
      const { subscriptions, queue, deps, reads } = setupOff();
      const first = await ingestNotifications({ value: forgedLifecycle }, 'lifecycle', deps);
      const second = await ingestNotifications({ value: forgedLifecycle }, 'lifecycle', deps);
      for (const result of [first, second]) {
        expect(result.accepted).toBe(0);
        expect(result.dropped).toEqual({ client_state_mismatch: 17, old_client_state: 33 });
      }
      expect(subscriptions.reads).toBe(0);
      expect(reads()).toBe(1); // read once, then remembered as off for good
      expect(queue.sent).toHaveLength(0);
    });

    it('drops unsigned and v1 change notifications, even genuine-looking ones, without a lookup', async () => {
      const { subscriptions, deps } = setupOff();
      const result = await ingestNotifications(
        { value: [graphChangeNotification(subA, 'm1'), graphChangeNotification(v1, 'm2')] },
        'change',
        deps,
      );
      expect(result.dropped).toEqual({ old_client_state: 2 });
      expect(subscriptions.reads).toBe(0);
    });

    it('still accepts genuine v2 change and lifecycle notifications (one lookup each, for the mailbox)', async () => {
      const { subscriptions, queue, deps, reads } = setupOff();
      const change = await ingestNotifications(
        { value: [graphChangeNotification(signed, 'm1')] },
        'change',
        deps,
      );
      const lifecycle = await ingestNotifications(
        { value: [graphLifecycleNotification(signed, 'missed')] },
        'lifecycle',
        deps,
      );
      expect([change.accepted, lifecycle.accepted]).toEqual([1, 1]);
      expect(subscriptions.reads).toBe(2);
      expect(reads()).toBe(0); // only old-style items make it ask
      expect(queue.messages).toHaveLength(2);
    });

    it('while on, looks old-style items up as before (the census read once per interval)', async () => {
      const { subscriptions, deps, reads } = setupOff(true);
      const result = await ingestNotifications(
        { value: [graphChangeNotification(subA, 'm1'), graphChangeNotification(v1, 'm2')] },
        'change',
        deps,
      );
      expect(result.accepted).toBe(2);
      await ingestNotifications({ value: [graphChangeNotification(subA, 'm3')] }, 'change', deps);
      expect(subscriptions.reads).toBe(3);
      expect(reads()).toBe(1);
    });
  });
});
