/**
 * Change messages through the queue the way the Functions host runs the trigger (peek-lock,
 * complete on success, abandon on a throw), with the real @azure/service-bus client against the
 * AMQP stand-in: retries scheduled with Retry-After, and dead-lettering when a message never succeeds.
 */
import type { ServiceBusClient, ServiceBusReceivedMessage } from '@azure/service-bus';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { processQueuedNotification, type ProcessOutcome } from '../../../shared/app/processor.js';
import type { Services } from '../../../shared/app/services.js';
import type { ChangeMessage } from '../../../shared/domain/model.js';
import { dedupKeyFor } from '../../../shared/domain/notifications.js';
import { GraphRequestError } from '../../../shared/graph/errors.js';
import { createNotificationPipeline } from '../../../shared/delivery/pipeline.js';
import { ServiceBusRetryScheduler, retryMessageId } from '../../../shared/queue/retry-scheduler.js';
import { createNotificationService, type NotificationService } from '../../../shared/delivery/service.js';
import { consumeQueue, type QueueConsumer } from '../../../dev/local/queue-consumer.js';
import {
  ServiceBusNotificationQueue,
  createServiceBusClient,
} from '../../../shared/queue/notification-queue.js';
import { startAmqpStandIn, type AmqpStandIn } from '../../../dev/sim/service-bus.js';
import { InMemoryMailboxStore } from '../../support/fakes.js';
import {
  FakeMessageSource,
  InMemoryDeviceStore,
  InMemoryIdempotencyStore,
  InMemoryPushProvider,
  deviceRecord,
} from '../../support/fakes-push.js';

const TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';
const USER = '87d349ed-44d7-43e1-9a83-5f2406dee5bd';
const EMAIL = 'adele.vance@contoso.example';
const HOURS_4 = 4 * 3_600_000;

let standIn: AmqpStandIn;
let client: ServiceBusClient;
let mailboxes: InMemoryMailboxStore;
let devices: InMemoryDeviceStore;
let push: InMemoryPushProvider;
let messages: FakeMessageSource;

beforeAll(async () => {
  standIn = await startAmqpStandIn({
    autoCreateQueues: false,
    queues: {
      scheduled: { duplicateDetectionWindowMs: HOURS_4, maxDeliveryCount: 10 },
      'scheduled-dedup': { duplicateDetectionWindowMs: HOURS_4 },
      poison: { duplicateDetectionWindowMs: HOURS_4, maxDeliveryCount: 3 },
    },
  });
  client = createServiceBusClient({ connectionString: standIn.connectionString });
});

afterAll(async () => {
  await client?.close();
  await standIn?.stop();
});

beforeEach(async () => {
  mailboxes = new InMemoryMailboxStore();
  devices = new InMemoryDeviceStore();
  push = new InMemoryPushProvider();
  messages = new FakeMessageSource();
  const now = new Date().toISOString();
  await mailboxes.insertMailbox({
    email: EMAIL,
    userId: USER,
    tenantId: TENANT,
    transport: 'graph',
    createdAt: now,
    updatedAt: now,
  });
  await devices.upsertDevice(deviceRecord({ mailboxEmail: EMAIL, deviceId: 'phone' }));
});

function change(messageId: string): { messageId: string; body: ChangeMessage } {
  const body: ChangeMessage = {
    type: 'change',
    subscriptionId: '7f105c7d-2dc5-4530-97cd-4e7ae6534c07',
    tenantId: TENANT,
    mailboxEmail: EMAIL,
    userId: USER,
    changeType: 'created',
    resource: `Users/${USER}/Messages/${messageId}`,
    messageId,
    receivedAt: new Date().toISOString(),
  };
  return {
    messageId: dedupKeyFor({
      kind: 'change',
      subscriptionId: body.subscriptionId,
      clientState: undefined,
      tenantId: TENANT,
      changeType: 'created',
      resource: body.resource,
      resourceUserId: USER,
      messageId,
    }),
    body,
  };
}

function service(queueName: string | undefined): NotificationService {
  const pipeline = createNotificationPipeline({
    mailboxes,
    devices,
    push,
    idempotency: new InMemoryIdempotencyStore(),
    messages,
    defaultPrivacyMode: 'subject',
    mailboxCacheMs: 0,
    deviceCacheMs: 0,
    backoff: { baseMs: 200, maxMs: 1_000 },
  });
  return createNotificationService({
    pipeline,
    ...(queueName ? { retryScheduler: new ServiceBusRetryScheduler(client, queueName) } : {}),
    minRetryDelayMs: 100,
  });
}

interface Handled {
  at: number;
  deliveryCount: number;
  retryAttempt: number | undefined;
  outcome?: ProcessOutcome;
  error?: unknown;
}

/** The notification-processor function, as the local runner / Functions host runs it. */
function consume(queueName: string, notifications: NotificationService, maxDeliveryCount?: number) {
  const services = { notifications } as unknown as Services;
  const handled: Handled[] = [];
  const consumer: QueueConsumer = consumeQueue(
    client,
    queueName,
    async (body, meta) => {
      const entry: Handled = {
        at: Date.now(),
        deliveryCount: meta.deliveryCount,
        retryAttempt: (body as { retryAttempt?: number }).retryAttempt,
      };
      handled.push(entry);
      try {
        entry.outcome = await processQueuedNotification(services, body, {
          deliveryCount: meta.deliveryCount,
          ...(maxDeliveryCount ? { maxDeliveryCount } : {}),
        });
      } catch (error) {
        entry.error = error;
        throw error;
      }
    },
    { maxConcurrentCalls: 4, onError: () => undefined, ...(maxDeliveryCount ? { maxDeliveryCount } : {}) },
  );
  return { handled, consumer };
}

async function until(probe: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('scheduled retries on Service Bus', () => {
  it('a Graph 429 schedules a copy after Retry-After, completes the original, and the copy pushes once', async () => {
    messages.add(USER, {
      id: 'm-429',
      subject: 'Throttled first',
      receivedDateTime: new Date().toISOString(),
      isRead: false,
    });
    messages.failures.push(
      new GraphRequestError({ operation: 'GET /users/{id}/messages/{id}', status: 429, retryAfterMs: 1_500 }),
    );
    const { handled, consumer } = consume('scheduled', service('scheduled'));
    const queue = new ServiceBusNotificationQueue(client, 'scheduled');
    const started = Date.now();
    await queue.enqueue([change('m-429')]);
    await until(() => push.pushes.length > 0, 'the push');
    await until(() => standIn.stats('scheduled').locked === 0, 'settlement');
    await consumer.close();
    await queue.close();

    expect(handled).toHaveLength(2);
    expect(handled[0]).toMatchObject({ deliveryCount: 1, retryAttempt: undefined });
    expect(handled[0]!.outcome).toMatchObject({
      action: 'retry_scheduled',
      reason: 'graph_throttled',
      retryAttempt: 1,
    });
    // The copy is a new message (delivery 1, not a redelivery of an abandoned one), after Retry-After.
    expect(handled[1]).toMatchObject({ deliveryCount: 1, retryAttempt: 1 });
    expect(handled[1]!.at - started).toBeGreaterThanOrEqual(1_400);
    expect(handled[1]!.outcome).toMatchObject({ action: 'pushed', sent: 1 });
    expect(push.pushes).toHaveLength(1);
    expect(standIn.stats('scheduled')).toMatchObject({ active: 0, scheduled: 0, deadLettered: 0 });
  });

  it('two workers scheduling the same retry attempt leave one copy (duplicate detection)', async () => {
    const scheduler = new ServiceBusRetryScheduler(client, 'scheduled-dedup');
    const copy = { ...change('m-dup').body, retryAttempt: 1 };
    await Promise.all([
      scheduler.scheduleRetry(copy, Date.now() + 300),
      scheduler.scheduleRetry(copy, Date.now() + 300),
    ]);
    await scheduler.scheduleRetry({ ...copy, retryAttempt: 2 }, Date.now() + 300);
    const receiver = client.createReceiver('scheduled-dedup', { receiveMode: 'receiveAndDelete' });
    const received: ServiceBusReceivedMessage[] = [];
    const deadline = Date.now() + 3_000;
    while (Date.now() < deadline) {
      received.push(...(await receiver.receiveMessages(10, { maxWaitTimeInMs: 500 })));
    }
    await receiver.close();
    await scheduler.close();
    expect(received.map((m) => m.messageId).sort()).toEqual(
      [retryMessageId(copy), retryMessageId({ ...copy, retryAttempt: 2 })].sort(),
    );
    expect(received[0]!.body).toMatchObject({ type: 'change', messageId: 'm-dup' });
    expect(standIn.stats('scheduled-dedup').duplicatesDropped).toBe(1);
  });
});

describe('when a message never succeeds', () => {
  it('is redelivered up to the max delivery count, then dead-lettered with the reason', async () => {
    messages.add(USER, { id: 'm-poison', subject: 'x', receivedDateTime: new Date().toISOString() });
    for (let i = 0; i < 5; i++) {
      messages.failures.push(new GraphRequestError({ operation: 'GET', status: 503 }));
    }
    // No scheduler: every failure is an abandon (immediate redelivery), like the plain trigger.
    const { handled, consumer } = consume('poison', service(undefined), 3);
    const queue = new ServiceBusNotificationQueue(client, 'poison');
    await queue.enqueue([change('m-poison')]);
    await until(() => standIn.stats('poison').deadLettered === 1, 'the dead letter');
    await consumer.close();
    await queue.close();

    expect(handled.map((h) => h.deliveryCount)).toEqual([1, 2, 3]);
    expect(handled.every((h) => h.error !== undefined)).toBe(true);
    expect(handled[2]!.error).toMatchObject({ reason: 'graph_unavailable', finalAttempt: true });
    expect(push.pushes).toHaveLength(0);

    const dlq = client.createReceiver('poison', {
      subQueueType: 'deadLetter',
      receiveMode: 'receiveAndDelete',
    });
    const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 2_000 });
    await dlq.close();
    expect(dead?.deadLetterReason).toBe('HandlerFailed');
    expect(dead?.deadLetterErrorDescription).toMatch(
      /RetryableError: Graph failed reading the message \(HTTP 503\)/,
    );
  });
});
