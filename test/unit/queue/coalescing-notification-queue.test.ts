import { describe, expect, it } from 'vitest';
import type { QueuedNotification } from '../../../shared/domain/model.js';
import type { NotificationQueue } from '../../../shared/domain/ports.js';
import { DependencyError } from '../../../shared/errors.js';
import { CoalescingNotificationQueue } from '../../../shared/queue/notification-queue.js';

/** Records each underlying send; sends can be held open and released or failed by the test. */
class FakeQueue implements NotificationQueue {
  readonly sends: string[][] = [];
  inFlight = 0;
  maxInFlightSeen = 0;
  failNext: Error | undefined;
  hold = false;
  private held: { resolve(): void; reject(e: Error): void }[] = [];

  async enqueue(messages: readonly QueuedNotification[]): Promise<void> {
    this.sends.push(messages.map((m) => m.messageId));
    this.inFlight++;
    this.maxInFlightSeen = Math.max(this.maxInFlightSeen, this.inFlight);
    try {
      if (this.hold) await new Promise<void>((resolve, reject) => this.held.push({ resolve, reject }));
      const failure = this.failNext;
      this.failNext = undefined;
      if (failure) throw failure;
    } finally {
      this.inFlight--;
    }
  }

  releaseAll(): void {
    this.hold = false;
    for (const h of this.held.splice(0)) h.resolve();
  }

  get heldCount(): number {
    return this.held.length;
  }
}

function msgs(prefix: string, count: number): QueuedNotification[] {
  return Array.from({ length: count }, (_, i) => ({
    messageId: `${prefix}-${i}`,
    body: {
      type: 'lifecycle',
      subscriptionId: 's',
      tenantId: 't',
      mailboxEmail: 'a@b.example',
      userId: 'u',
      lifecycleEvent: 'missed',
      receivedAt: '2026-11-23T00:00:00.000Z',
    },
  }));
}

const settled = <T>(p: Promise<T>) =>
  p.then(
    () => 'resolved' as const,
    (e: unknown) => e,
  );
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('CoalescingNotificationQueue', () => {
  it('merges calls made in the same turn into one send, in call order', async () => {
    const fake = new FakeQueue();
    const queue = new CoalescingNotificationQueue(fake);
    const calls = ['a', 'b', 'c', 'd', 'e'].map((p) => queue.enqueue(msgs(p, 2)));
    await Promise.all(calls);
    expect(fake.sends).toEqual([['a-0', 'a-1', 'b-0', 'b-1', 'c-0', 'c-1', 'd-0', 'd-1', 'e-0', 'e-1']]);
  });

  it('does not resolve a caller before its send has been accepted', async () => {
    const fake = new FakeQueue();
    fake.hold = true;
    const queue = new CoalescingNotificationQueue(fake);
    let done = false;
    const call = queue.enqueue(msgs('a', 1)).then(() => (done = true));
    await tick();
    await tick();
    expect(fake.heldCount).toBe(1);
    expect(done).toBe(false);
    fake.releaseAll();
    await call;
    expect(done).toBe(true);
  });

  it('rejects every caller of a failed merged send, and later calls still go through', async () => {
    const fake = new FakeQueue();
    const failure = new DependencyError('service-bus', 'broker unavailable');
    fake.failNext = failure;
    const queue = new CoalescingNotificationQueue(fake);
    const results = await Promise.all([1, 2, 3].map((n) => settled(queue.enqueue(msgs(`f${n}`, 1)))));
    expect(fake.sends).toHaveLength(1);
    expect(results).toEqual([failure, failure, failure]);
    await expect(queue.enqueue(msgs('ok', 1))).resolves.toBeUndefined();
    expect(fake.sends).toHaveLength(2);
  });

  it('flushes at maxBatchMessages without splitting a caller', async () => {
    const fake = new FakeQueue();
    const queue = new CoalescingNotificationQueue(fake, { maxBatchMessages: 10 });
    await Promise.all([
      queue.enqueue(msgs('a', 4)),
      queue.enqueue(msgs('b', 4)),
      queue.enqueue(msgs('c', 4)),
      queue.enqueue(msgs('big', 25)),
    ]);
    expect(fake.sends.map((s) => s.length)).toEqual([8, 4, 25]);
    expect(fake.sends[0]).toEqual([...msgs('a', 4), ...msgs('b', 4)].map((m) => m.messageId));
  });

  it('runs at most maxInFlight sends at once and merges the calls that wait', async () => {
    const fake = new FakeQueue();
    fake.hold = true;
    const queue = new CoalescingNotificationQueue(fake, { maxInFlight: 2, maxBatchMessages: 1 });
    const first = [queue.enqueue(msgs('a', 1)), queue.enqueue(msgs('b', 1))];
    await tick();
    const waiting = Array.from({ length: 6 }, (_, i) => queue.enqueue(msgs(`w${i}`, 1)));
    await tick();
    expect(fake.heldCount).toBe(2);
    fake.releaseAll();
    await Promise.all([...first, ...waiting]);
    expect(fake.maxInFlightSeen).toBe(2);
    // Waiting calls went out as slots freed (one per slot here, since maxBatchMessages is 1).
    expect(fake.sends.flat().sort()).toEqual(
      ['a-0', 'b-0', ...Array.from({ length: 6 }, (_, i) => `w${i}-0`)].sort(),
    );
  });

  it('merges calls that arrive while all send slots are busy into the next send', async () => {
    const fake = new FakeQueue();
    fake.hold = true;
    const queue = new CoalescingNotificationQueue(fake, { maxInFlight: 1 });
    const first = queue.enqueue(msgs('first', 1));
    await tick();
    const later = Array.from({ length: 20 }, (_, i) => queue.enqueue(msgs(`l${i}`, 1)));
    await tick();
    expect(fake.sends).toHaveLength(1);
    fake.releaseAll();
    await Promise.all([first, ...later]);
    expect(fake.sends).toHaveLength(2);
    expect(fake.sends[1]).toHaveLength(20);
  });

  it('waits flushDelayMs to collect calls when configured', async () => {
    const fake = new FakeQueue();
    const queue = new CoalescingNotificationQueue(fake, { flushDelayMs: 30 });
    const a = queue.enqueue(msgs('a', 1));
    await new Promise((resolve) => setTimeout(resolve, 5));
    const b = queue.enqueue(msgs('b', 1));
    await Promise.all([a, b]);
    expect(fake.sends).toEqual([['a-0', 'b-0']]);
  });

  it('close() flushes pending calls and refuses new ones', async () => {
    const fake = new FakeQueue();
    const queue = new CoalescingNotificationQueue(fake, { flushDelayMs: 60_000 });
    const pending = queue.enqueue(msgs('p', 3));
    await queue.close();
    await expect(pending).resolves.toBeUndefined();
    expect(fake.sends).toEqual([['p-0', 'p-1', 'p-2']]);
    await expect(queue.enqueue(msgs('late', 1))).rejects.toBeInstanceOf(DependencyError);
  });

  it('resolves an empty call without sending', async () => {
    const fake = new FakeQueue();
    const queue = new CoalescingNotificationQueue(fake);
    await queue.enqueue([]);
    await tick();
    expect(fake.sends).toEqual([]);
  });
});
