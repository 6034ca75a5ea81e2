import { describe, expect, it } from 'vitest';
import { describeProcessOutcome, processQueuedNotification } from '../../../shared/app/processor.js';
import type { Services } from '../../../shared/app/services.js';
import type { ChangeMessage, LifecycleMessage } from '../../../shared/domain/model.js';
import { ConfigError, ValidationError } from '../../../shared/errors.js';
import type { DeliveryMeta } from '../../../shared/delivery/pipeline.js';
import type { NotificationService } from '../../../shared/delivery/service.js';
import { NotificationCounters } from '../../../shared/delivery/outcome.js';

const change: ChangeMessage = {
  type: 'change',
  subscriptionId: 's1',
  tenantId: 't1',
  mailboxEmail: 'adele.vance@contoso.example',
  userId: 'u1',
  changeType: 'created',
  resource: 'Users/u1/Messages/m1',
  messageId: 'm1',
  receivedAt: '2026-11-23T12:00:00.000Z',
};

function servicesWith(notifications?: NotificationService) {
  const handled: { message: ChangeMessage; meta: DeliveryMeta }[] = [];
  const lifecycle: LifecycleMessage[] = [];
  const services = {
    lifecycle: {
      handleLifecycle: async (m: LifecycleMessage) => {
        lifecycle.push(m);
        return { action: 'ignored', reason: 'test' };
      },
    },
    ...(notifications ? { notifications } : {}),
  } as unknown as Services;
  return { services, handled, lifecycle };
}

function recordingService(handled: { message: ChangeMessage; meta: DeliveryMeta }[]): NotificationService {
  return {
    pipeline: { process: async () => ({ action: 'dropped', reason: 'no_devices' }) },
    counters: new NotificationCounters(),
    async handle(message, meta) {
      handled.push({ message, meta });
      return { action: 'dropped', reason: 'no_devices' };
    },
  };
}

describe('processQueuedNotification', () => {
  it('routes change messages to services.notifications with the delivery count', async () => {
    const handled: { message: ChangeMessage; meta: DeliveryMeta }[] = [];
    const { services } = servicesWith(recordingService(handled));
    const outcome = await processQueuedNotification(services, change, {
      deliveryCount: 3,
      maxDeliveryCount: 10,
    });
    expect(outcome).toEqual({ action: 'dropped', reason: 'no_devices' });
    expect(handled).toEqual([{ message: change, meta: { deliveryCount: 3, maxDeliveryCount: 10 } }]);
    expect(describeProcessOutcome(outcome)).toBe('notification dropped: no_devices');
  });

  it('defaults to the first of 10 deliveries', async () => {
    const handled: { message: ChangeMessage; meta: DeliveryMeta }[] = [];
    await processQueuedNotification(servicesWith(recordingService(handled)).services, change);
    expect(handled[0]!.meta).toEqual({ deliveryCount: 1, maxDeliveryCount: 10 });
  });

  it('throws a clear error (the message stays on the queue) when the pipeline is not wired', async () => {
    const error = await processQueuedNotification(servicesWith().services, change).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/services\.notifications is not set/);
  });

  it('refuses a change message with missing fields', async () => {
    const handled: { message: ChangeMessage; meta: DeliveryMeta }[] = [];
    const { services } = servicesWith(recordingService(handled));
    const noUser: Partial<ChangeMessage> = { ...change };
    delete noUser.userId;
    const error = await processQueuedNotification(services, { ...noUser, messageId: '' }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as Error).message).toBe('change message is missing userId, messageId');
    expect(handled).toHaveLength(0);
  });

  it('still hands lifecycle messages to the lifecycle', async () => {
    const { services, lifecycle } = servicesWith();
    const message: LifecycleMessage = {
      type: 'lifecycle',
      subscriptionId: 's1',
      tenantId: 't1',
      mailboxEmail: 'adele.vance@contoso.example',
      userId: 'u1',
      lifecycleEvent: 'missed',
      receivedAt: '2026-11-23T12:00:00.000Z',
    };
    await processQueuedNotification(services, message);
    expect(lifecycle).toEqual([message]);
  });

  it('describes pushes and scheduled retries in one line', () => {
    expect(
      describeProcessOutcome({
        action: 'pushed',
        sent: 2,
        alreadySent: 1,
        removedDevices: 0,
        tookOver: 0,
        contentSource: 'graph',
        privacyMode: 'subject',
      }),
    ).toBe('notification pushed: 2 device(s), subject content from graph; 1 already sent');
    expect(
      describeProcessOutcome({
        action: 'retry_scheduled',
        reason: 'graph_throttled',
        retryAt: '2026-11-23T12:00:30.000Z',
        retryAttempt: 1,
        sent: 0,
      }),
    ).toBe('notification retry scheduled: graph_throttled, attempt 1 at 2026-11-23T12:00:30.000Z (0 sent)');
  });
});
