/**
 * The production queue adapter and consumer against the AMQP stand-in, with the real
 * @azure/service-bus client in between.
 */
import {
  ServiceBusClient,
  type ServiceBusReceivedMessage,
  type ServiceBusReceiver,
} from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChangeMessage, QueuedNotification } from '../../../shared/domain/model.js';
import type { NotificationQueue } from '../../../shared/domain/ports.js';
import { DependencyError } from '../../../shared/errors.js';
import { consumeQueue } from '../../../dev/local/queue-consumer.js';
import {
  CoalescingNotificationQueue,
  ServiceBusNotificationQueue,
  createServiceBusClient,
} from '../../../shared/queue/notification-queue.js';
import { startAmqpStandIn, type AmqpStandIn } from '../../../dev/sim/service-bus.js';

let standIn: AmqpStandIn;
let client: ServiceBusClient;

beforeAll(async () => {
  standIn = await startAmqpStandIn({
    autoCreateQueues: false,
    queues: {
      split: {},
      dedup: {},
      coalesce: {},
      'too-large': {},
      'consume-ok': {},
      'consume-retry': { maxDeliveryCount: 5 },
      'consume-poison': { maxDeliveryCount: 2 },
    },
  });
  client = createServiceBusClient({ connectionString: standIn.connectionString });
});

afterAll(async () => {
  await client?.close();
  await standIn?.stop();
});

function notification(n: number, padding = 0): QueuedNotification {
  const body: ChangeMessage = {
    type: 'change',
    subscriptionId: `sub-${n % 7}`,
    tenantId: 'tenant-1',
    mailboxEmail: `user${n}@contoso.example`,
    userId: `user-${n}`,
    changeType: 'created',
    resource: `Users/user-${n}/Messages/msg-${n}`,
    messageId: `msg-${n}`,
    receivedAt: '2026-11-23T10:00:00.000Z',
    ...(padding > 0 ? { encryptedContent: { data: 'x'.repeat(padding) } } : {}),
  };
  return { messageId: `notif-${n}`, body };
}

async function drain(queue: string, count: number): Promise<ServiceBusReceivedMessage[]> {
  const receiver: ServiceBusReceiver = client.createReceiver(queue, { receiveMode: 'receiveAndDelete' });
  const received: ServiceBusReceivedMessage[] = [];
  const deadline = Date.now() + 10_000;
  while (received.length < count && Date.now() < deadline) {
    received.push(...(await receiver.receiveMessages(count - received.length, { maxWaitTimeInMs: 2000 })));
  }
  await receiver.close();
  return received;
}

/** Counts the SDK sends (one per batch) by wrapping the client's senders. */
function countingClient(): { client: ServiceBusClient; sends: number[] } {
  const sends: number[] = [];
  const wrapped = Object.create(client) as ServiceBusClient;
  wrapped.createSender = (queueName: string) => {
    const sender = client.createSender(queueName);
    const original = sender.sendMessages.bind(sender);
    sender.sendMessages = async (messages, options) => {
      sends.push('count' in messages ? messages.count : Array.isArray(messages) ? messages.length : 1);
      return original(messages, options);
    };
    return sender;
  };
  return { client: wrapped, sends };
}

describe('ServiceBusNotificationQueue', () => {
  it('sends 250 notifications in one call, split over several batches, all with their ids and shape', async () => {
    const { client: counting, sends } = countingClient();
    const queue = new ServiceBusNotificationQueue(counting, 'split');
    // ~2 KB each (rich notifications are that size): 250 of them do not fit in one 256 KB batch.
    const messages = Array.from({ length: 250 }, (_, i) => notification(i, 2000));
    await queue.enqueue(messages);
    expect(sends.length).toBeGreaterThan(1);
    expect(sends.reduce((a, b) => a + b, 0)).toBe(250);
    expect(standIn.stats('split').active).toBe(250);

    const received = await drain('split', 250);
    expect(received.map((m) => m.messageId)).toEqual(messages.map((m) => m.messageId));
    expect(received[0]).toMatchObject({
      contentType: 'application/json',
      subject: 'change',
      body: messages[0]!.body,
    });
    expect(received[249]!.body).toEqual(messages[249]!.body);
    await queue.close();
  });

  it('lets duplicate detection drop a re-sent notification', async () => {
    const queue = new ServiceBusNotificationQueue(client, 'dedup');
    const messages = [notification(1), notification(2), notification(3)];
    await queue.enqueue(messages);
    await queue.enqueue(messages); // Graph retried the POST
    expect(standIn.stats('dedup')).toMatchObject({ active: 3, duplicatesDropped: 3 });
    await drain('dedup', 3);
    await queue.close();
  });

  it('rejects with a DependencyError carrying the cause and no message content when the broker refuses', async () => {
    const failing = createServiceBusClient({
      connectionString: standIn.connectionString,
      clientOptions: { retryOptions: { maxRetries: 0 } },
    });
    const queue = new ServiceBusNotificationQueue(failing, 'no-such-queue');
    const message = notification(9);
    const error: unknown = await queue.enqueue([message]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DependencyError);
    const dependencyError = error as DependencyError;
    expect(dependencyError.dependency).toBe('service-bus');
    expect(dependencyError.cause).toBeInstanceOf(Error);
    expect(dependencyError.message).toContain('no-such-queue');
    expect(dependencyError.message).not.toContain(message.body.mailboxEmail);
    expect(dependencyError.message).not.toContain('Messages/msg-9');
    await queue.close();
    await failing.close();
  });

  it('refuses a notification too large for one message, naming only its id', async () => {
    const queue = new ServiceBusNotificationQueue(client, 'too-large');
    const huge = notification(1, 300 * 1024);
    const error: unknown = await queue.enqueue([notification(0), huge]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DependencyError);
    expect((error as Error).message).toContain(huge.messageId);
    expect((error as Error).message).not.toContain('xxxx');
    await queue.close();
  });
});

describe('CoalescingNotificationQueue over Service Bus', () => {
  it('merges concurrent calls into fewer sends and delivers every message', async () => {
    const inner = new ServiceBusNotificationQueue(client, 'coalesce');
    let innerCalls = 0;
    const countingInner: NotificationQueue = {
      enqueue: (messages) => {
        innerCalls++;
        return inner.enqueue(messages);
      },
    };
    const queue = new CoalescingNotificationQueue(countingInner);
    const calls = Array.from({ length: 60 }, (_, i) =>
      queue.enqueue([notification(2 * i), notification(2 * i + 1)]),
    );
    await Promise.all(calls);
    expect(innerCalls).toBeLessThan(calls.length);
    expect(standIn.stats('coalesce').active).toBe(120);
    const received = await drain('coalesce', 120);
    expect(new Set(received.map((m) => m.messageId)).size).toBe(120);
    await queue.close();
    await inner.close();
  });
});

describe('consumeQueue', () => {
  it('hands each body to the handler and completes it', async () => {
    const queue = new ServiceBusNotificationQueue(client, 'consume-ok');
    await queue.enqueue([notification(1), notification(2)]);
    const seen: { body: unknown; messageId?: string; deliveryCount: number; enqueuedAt?: Date }[] = [];
    const done = new Promise<void>((resolve) => {
      const consumer = consumeQueue(client, 'consume-ok', async (body, meta) => {
        seen.push({ body, ...meta });
        if (seen.length === 2) setImmediate(() => void consumer.close().then(resolve));
      });
    });
    await done;
    expect(seen.map((s) => s.messageId).sort()).toEqual(['notif-1', 'notif-2']);
    expect(seen.find((s) => s.messageId === 'notif-1')!.body).toEqual(notification(1).body);
    expect(seen.every((s) => s.deliveryCount === 1 && s.enqueuedAt instanceof Date)).toBe(true);
    expect(standIn.stats('consume-ok')).toMatchObject({ active: 0, locked: 0, deadLettered: 0 });
    await queue.close();
  });

  it('abandons on handler failure so the message comes back, then completes it', async () => {
    const queue = new ServiceBusNotificationQueue(client, 'consume-retry');
    await queue.enqueue([notification(7)]);
    const attempts: number[] = [];
    const errors: Error[] = [];
    let consumer: { close(): Promise<void> } | undefined;
    await new Promise<void>((resolve) => {
      consumer = consumeQueue(
        client,
        'consume-retry',
        async (_body, meta) => {
          attempts.push(meta.deliveryCount);
          if (meta.deliveryCount < 3) throw new Error(`transient failure ${meta.deliveryCount}`);
          setImmediate(resolve);
        },
        { onError: (err) => errors.push(err) },
      );
    });
    await consumer!.close();
    expect(attempts).toEqual([1, 2, 3]);
    expect(errors.map((e) => e.message)).toEqual([
      expect.stringContaining('transient failure 1'),
      expect.stringContaining('transient failure 2'),
    ]);
    expect(standIn.stats('consume-retry')).toMatchObject({ active: 0, locked: 0, deadLettered: 0 });
    await queue.close();
  });

  it('dead-letters with the error once the last attempt fails', async () => {
    const queue = new ServiceBusNotificationQueue(client, 'consume-poison');
    await queue.enqueue([notification(5)]);
    let calls = 0;
    const consumer = consumeQueue(
      client,
      'consume-poison',
      async () => {
        calls++;
        throw new TypeError('cannot handle this');
      },
      { maxDeliveryCount: 2, onError: () => undefined },
    );
    const deadline = Date.now() + 10_000;
    while (standIn.stats('consume-poison').deadLettered === 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await consumer.close();
    expect(calls).toBe(2);
    const dlq = client.createReceiver('consume-poison', { subQueueType: 'deadLetter' });
    const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 2000 });
    expect(dead).toMatchObject({
      messageId: 'notif-5',
      deadLetterReason: 'HandlerFailed',
      deadLetterErrorDescription: 'TypeError: cannot handle this',
    });
    await dlq.completeMessage(dead!);
    await dlq.close();
    await queue.close();
  });
});
