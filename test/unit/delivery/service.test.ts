import { describe, expect, it } from 'vitest';
import type { ChangeMessage } from '../../../shared/domain/model.js';
import { RetryableError } from '../../../shared/delivery/errors.js';
import type { NotificationOutcome } from '../../../shared/delivery/outcome.js';
import type { DeliveryMeta, NotificationPipeline } from '../../../shared/delivery/pipeline.js';
import type { RetryingChangeMessage } from '../../../shared/domain/ports.js';
import { retryMessageId } from '../../../shared/queue/retry-scheduler.js';
import { createNotificationService } from '../../../shared/delivery/service.js';
import { InMemoryRetryScheduler } from '../../support/fakes-push.js';

const NOW = Date.parse('2026-11-23T12:00:00Z');
const META = { deliveryCount: 1, maxDeliveryCount: 10 };

const message: ChangeMessage = {
  type: 'change',
  subscriptionId: '7f105c7d-2dc5-4530-97cd-4e7ae6534c07',
  tenantId: '9188040d-6c67-4c5b-b112-36a304b66dad',
  mailboxEmail: 'adele.vance@contoso.example',
  userId: '87d349ed-44d7-43e1-9a83-5f2406dee5bd',
  changeType: 'created',
  resource: 'Users/87d349ed-44d7-43e1-9a83-5f2406dee5bd/Messages/m1',
  messageId: 'm1',
  receivedAt: new Date(NOW).toISOString(),
};

/** A pipeline that answers from a script and records what it was given. */
function scripted(...steps: (NotificationOutcome | Error)[]) {
  const calls: { message: ChangeMessage; meta: DeliveryMeta }[] = [];
  const pipeline: NotificationPipeline = {
    async process(m, meta) {
      calls.push({ message: m, meta });
      const step = steps.shift();
      if (!step) throw new Error('script exhausted');
      if (step instanceof Error) throw step;
      return step;
    },
  };
  return { pipeline, calls };
}

const throttled = (ms: number, extra: { finalAttempt?: boolean } = {}) =>
  new RetryableError('graph_throttled', ms, 'Graph throttled reading the message', extra);

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('retries scheduled on the queue', () => {
  it('schedules a copy at now + Retry-After and completes (resolves) the original', async () => {
    const scheduler = new InMemoryRetryScheduler();
    const { pipeline } = scripted(throttled(30_000));
    const service = createNotificationService({ pipeline, retryScheduler: scheduler, now: () => NOW });
    const outcome = await service.handle(message, META);
    expect(outcome).toEqual({
      action: 'retry_scheduled',
      reason: 'graph_throttled',
      retryAt: new Date(NOW + 30_000).toISOString(),
      retryAttempt: 1,
      sent: 0,
    });
    expect(scheduler.scheduled).toHaveLength(1);
    expect(scheduler.scheduled[0]!.atMs).toBe(NOW + 30_000);
    expect(scheduler.scheduled[0]!.message).toEqual({
      ...message,
      retryAttempt: 1,
      firstFailedAt: new Date(NOW).toISOString(),
    });
  });

  it('counts attempts across copies, keeps the first failure time, and passes the attempt for backoff', async () => {
    const scheduler = new InMemoryRetryScheduler();
    const { pipeline, calls } = scripted(throttled(1_000));
    const service = createNotificationService({ pipeline, retryScheduler: scheduler, now: () => NOW });
    const copy: RetryingChangeMessage = {
      ...message,
      retryAttempt: 3,
      firstFailedAt: '2026-11-23T11:00:00.000Z',
    };
    await service.handle(copy, { deliveryCount: 2, maxDeliveryCount: 10 });
    expect(calls[0]!.meta.attempt).toBe(5);
    expect(scheduler.scheduled[0]!.message).toMatchObject({
      retryAttempt: 4,
      firstFailedAt: '2026-11-23T11:00:00.000Z',
    });
  });

  it('bounds the delay (at least 1 s, at most 15 min)', async () => {
    const scheduler = new InMemoryRetryScheduler();
    const { pipeline } = scripted(throttled(0), throttled(3_600_000));
    const service = createNotificationService({ pipeline, retryScheduler: scheduler, now: () => NOW });
    await service.handle(message, META);
    await service.handle(message, META);
    expect(scheduler.scheduled.map((s) => s.atMs - NOW)).toEqual([1_000, 15 * 60_000]);
  });

  it('throws the retryable error (abandon) when scheduling fails: nothing is lost', async () => {
    const scheduler = new InMemoryRetryScheduler();
    scheduler.failWith = new Error('broker down');
    const logs: string[] = [];
    const error = throttled(5_000);
    const service = createNotificationService({
      pipeline: scripted(error).pipeline,
      retryScheduler: scheduler,
      log: (l) => logs.push(l),
    });
    expect(await rejection(service.handle(message, META))).toBe(error);
    expect(logs.join('\n')).toMatch(/could not schedule a retry/);
  });

  it('after the maximum of scheduled retries, throws so the queue dead-letters it, and says why on the last delivery', async () => {
    const scheduler = new InMemoryRetryScheduler();
    const logs: string[] = [];
    const service = createNotificationService({
      pipeline: scripted(throttled(1_000), throttled(1_000, { finalAttempt: true })).pipeline,
      retryScheduler: scheduler,
      maxScheduledRetries: 2,
      log: (l) => logs.push(l),
    });
    const exhausted = { ...message, retryAttempt: 2 };
    expect(await rejection(service.handle(exhausted, META))).toBeInstanceOf(RetryableError);
    expect(logs).toHaveLength(0);
    expect(
      await rejection(service.handle(exhausted, { deliveryCount: 10, maxDeliveryCount: 10 })),
    ).toBeInstanceOf(RetryableError);
    expect(logs.join('\n')).toMatch(
      /giving up .* after 10 deliveries and 2 scheduled retries: graph_throttled/,
    );
    expect(scheduler.scheduled).toHaveLength(0);
  });

  it('without a scheduler, a retryable error is thrown (the host abandons)', async () => {
    const error = throttled(5_000);
    const service = createNotificationService({ pipeline: scripted(error).pipeline });
    expect(await rejection(service.handle(message, META))).toBe(error);
  });

  it('other errors are never turned into scheduled retries', async () => {
    const scheduler = new InMemoryRetryScheduler();
    const error = new TypeError('bug');
    const service = createNotificationService({
      pipeline: scripted(error).pipeline,
      retryScheduler: scheduler,
    });
    expect(await rejection(service.handle(message, META))).toBe(error);
    expect(scheduler.scheduled).toHaveLength(0);
  });

  it('passes outcomes through', async () => {
    const outcome: NotificationOutcome = { action: 'dropped', reason: 'no_devices' };
    const service = createNotificationService({ pipeline: scripted(outcome).pipeline });
    expect(await service.handle(message, META)).toBe(outcome);
  });
});

describe('retry message ids', () => {
  it('differ per attempt and from each other message, and are stable for the same attempt', () => {
    const a1 = retryMessageId({ ...message, retryAttempt: 1 });
    expect(a1).toMatch(/^r1-c-[A-Za-z0-9_-]{43}$/);
    expect(retryMessageId({ ...message, retryAttempt: 1 })).toBe(a1);
    expect(retryMessageId({ ...message, retryAttempt: 2 })).not.toBe(a1);
    expect(retryMessageId({ ...message, messageId: 'm2', retryAttempt: 1 })).not.toBe(a1);
    expect(a1.length).toBeLessThanOrEqual(128);
  });
});
