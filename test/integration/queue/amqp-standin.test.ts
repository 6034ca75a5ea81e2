/**
 * The AMQP stand-in, driven by the REAL @azure/service-bus client: if the SDK's wire behaviour and
 * the stand-in disagree, these fail.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ServiceBusClient,
  isServiceBusError,
  type ServiceBusReceivedMessage,
  type ServiceBusReceiver,
} from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAmqpStandIn, type AmqpStandIn } from '../../../dev/sim/service-bus.js';

let standIn: AmqpStandIn;
let client: ServiceBusClient;

beforeAll(async () => {
  standIn = await startAmqpStandIn({
    queues: {
      short: { lockDurationMs: 400 },
      renew: { lockDurationMs: 1000 },
      three: { maxDeliveryCount: 3 },
      'no-dedup': { duplicateDetectionWindowMs: 0 },
      'brief-dedup': { duplicateDetectionWindowMs: 200 },
    },
  });
  client = new ServiceBusClient(standIn.connectionString, { retryOptions: { maxRetries: 0 } });
});

afterAll(async () => {
  await client?.close();
  await standIn?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Receives exactly `count` messages (the SDK may return fewer per call). */
async function receive(
  receiver: ServiceBusReceiver,
  count: number,
  maxWaitTimeInMs = 5000,
): Promise<ServiceBusReceivedMessage[]> {
  const received: ServiceBusReceivedMessage[] = [];
  const deadline = Date.now() + maxWaitTimeInMs;
  while (received.length < count && Date.now() < deadline) {
    received.push(
      ...(await receiver.receiveMessages(count - received.length, {
        maxWaitTimeInMs: deadline - Date.now(),
      })),
    );
  }
  return received;
}

function peekLock(queue: string, subQueueType?: 'deadLetter'): ServiceBusReceiver {
  // No automatic lock renewal, so lock behaviour is the broker's alone.
  return client.createReceiver(queue, {
    maxAutoLockRenewalDurationInMs: 0,
    ...(subQueueType ? { subQueueType } : {}),
  });
}

describe('AMQP stand-in with the real Service Bus client', () => {
  it('delivers single and batched sends in order with broker properties, and complete removes them', async () => {
    const sender = client.createSender('basic');
    const before = Date.now();
    await sender.sendMessages({
      body: { n: 1 },
      messageId: 'basic-1',
      subject: 'change',
      contentType: 'application/json',
    });
    await sender.sendMessages([
      { body: { n: 2 }, messageId: 'basic-2', applicationProperties: { tenant: 't1' } },
      { body: 'three', messageId: 'basic-3' },
    ]);
    const batch = await sender.createMessageBatch();
    expect(batch.tryAddMessage({ body: { n: 4 }, messageId: 'basic-4' })).toBe(true);
    await sender.sendMessages(batch);
    expect(standIn.stats('basic')).toMatchObject({ active: 4, locked: 0 });

    const receiver = peekLock('basic');
    const messages = await receive(receiver, 4);
    expect(messages.map((m) => m.messageId)).toEqual(['basic-1', 'basic-2', 'basic-3', 'basic-4']);
    expect(messages.map((m): unknown => m.body)).toEqual([{ n: 1 }, { n: 2 }, 'three', { n: 4 }]);
    expect(messages[0]).toMatchObject({
      subject: 'change',
      contentType: 'application/json',
      deliveryCount: 0,
    });
    expect(messages[1]!.applicationProperties).toEqual({ tenant: 't1' });
    const sequenceNumbers = messages.map((m) => Number(m.sequenceNumber));
    expect(sequenceNumbers).toEqual([...sequenceNumbers].sort((a, b) => a - b));
    expect(new Set(sequenceNumbers).size).toBe(4);
    for (const m of messages) {
      expect(m.lockToken).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(m.enqueuedTimeUtc!.getTime()).toBeGreaterThanOrEqual(before - 5);
      expect(m.lockedUntilUtc!.getTime()).toBeGreaterThan(Date.now() + 30_000); // default lock: 60 s
    }
    expect(new Set(messages.map((m) => m.lockToken)).size).toBe(4);
    expect(standIn.stats('basic')).toMatchObject({ active: 0, locked: 4 });

    for (const m of messages) await receiver.completeMessage(m);
    expect(standIn.stats('basic')).toMatchObject({ active: 0, locked: 0, deadLettered: 0 });
    expect(await receiver.peekMessages(10)).toEqual([]);
    await receiver.close();
    await sender.close();
  });

  it('gives a receiver no more messages than its credit', async () => {
    const sender = client.createSender('credit');
    await sender.sendMessages([1, 2, 3, 4, 5].map((n) => ({ body: n, messageId: `credit-${n}` })));
    const receiver = peekLock('credit');
    const first = await receiver.receiveMessages(2, { maxWaitTimeInMs: 2000 });
    expect(first.map((m): unknown => m.body)).toEqual([1, 2]);
    expect(standIn.stats('credit')).toMatchObject({ active: 3, locked: 2 });
    const rest = await receive(receiver, 3);
    expect(rest.map((m): unknown => m.body)).toEqual([3, 4, 5]);
    for (const m of [...first, ...rest]) await receiver.completeMessage(m);
    await receiver.close();
    await sender.close();
  });

  it('removes messages on receipt in receive-and-delete mode', async () => {
    const sender = client.createSender('rad');
    await sender.sendMessages([{ body: 'a' }, { body: 'b' }]);
    const receiver = client.createReceiver('rad', { receiveMode: 'receiveAndDelete' });
    const messages = await receive(receiver, 2);
    expect(messages.map((m): unknown => m.body)).toEqual(['a', 'b']);
    expect(standIn.stats('rad')).toMatchObject({ active: 0, locked: 0 });
    expect(await receiver.peekMessages(10)).toEqual([]);
    await receiver.close();
    await sender.close();
  });

  it('redelivers an abandoned message with its delivery count incremented', async () => {
    const sender = client.createSender('abandon');
    await sender.sendMessages({ body: 'retry me', messageId: 'abandon-1' });
    const receiver = peekLock('abandon');
    const [first] = await receive(receiver, 1);
    expect(first!.deliveryCount).toBe(0);
    await receiver.abandonMessage(first!, { attempt: 'one' });
    const [second] = await receive(receiver, 1);
    expect(second).toMatchObject({ messageId: 'abandon-1', body: 'retry me', deliveryCount: 1 });
    expect(second!.sequenceNumber!.toString()).toBe(first!.sequenceNumber!.toString());
    expect(second!.applicationProperties).toMatchObject({ attempt: 'one' });
    expect(second!.lockToken).not.toBe(first!.lockToken);
    await receiver.completeMessage(second!);
    expect(standIn.stats('abandon')).toMatchObject({ active: 0, locked: 0 });
    await receiver.close();
    await sender.close();
  });

  it('dead-letters with reason and description into a dead-letter queue that can be received from', async () => {
    const sender = client.createSender('dead');
    await sender.sendMessages({ body: { poison: true }, messageId: 'dead-1' });
    const receiver = peekLock('dead');
    const [message] = await receive(receiver, 1);
    await receiver.deadLetterMessage(message!, {
      deadLetterReason: 'Unparseable',
      deadLetterErrorDescription: 'no type',
    });
    expect(standIn.stats('dead')).toMatchObject({ active: 0, locked: 0, deadLettered: 1 });

    const dlq = peekLock('dead', 'deadLetter');
    const [dead] = await receive(dlq, 1);
    expect(dead).toMatchObject({
      messageId: 'dead-1',
      body: { poison: true },
      deadLetterReason: 'Unparseable',
      deadLetterErrorDescription: 'no type',
    });
    await dlq.completeMessage(dead!);
    expect(standIn.stats('dead').deadLettered).toBe(0);
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 })).toEqual([]);
    await dlq.close();
    await receiver.close();
    await sender.close();
  });

  it('moves a message to the dead-letter queue once it has been delivered maxDeliveryCount times', async () => {
    const sender = client.createSender('three');
    await sender.sendMessages({ body: 'always fails', messageId: 'three-1' });
    const receiver = peekLock('three');
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const [m] = await receive(receiver, 1);
      counts.push(m!.deliveryCount!);
      await receiver.abandonMessage(m!);
    }
    expect(counts).toEqual([0, 1, 2]);
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 300 })).toEqual([]);
    expect(standIn.stats('three')).toMatchObject({ active: 0, locked: 0, deadLettered: 1 });

    const dlq = peekLock('three', 'deadLetter');
    const [dead] = await receive(dlq, 1);
    expect(dead).toMatchObject({
      messageId: 'three-1',
      deadLetterReason: 'MaxDeliveryCountExceeded',
      deliveryCount: 3,
    });
    await dlq.completeMessage(dead!);
    await dlq.close();
    await receiver.close();
    await sender.close();
  });

  it('redelivers when the lock expires, and settling with the lost lock fails', async () => {
    const sender = client.createSender('short');
    await sender.sendMessages({ body: 'slow', messageId: 'short-1' });
    const receiver = peekLock('short');
    const [first] = await receive(receiver, 1);
    expect(first!.lockedUntilUtc!.getTime() - Date.now()).toBeLessThanOrEqual(400);
    const [again] = await receive(receiver, 1, 5000); // arrives after the 400 ms lock expired
    expect(again).toMatchObject({ messageId: 'short-1', deliveryCount: 1 });

    const error: unknown = await receiver.completeMessage(first!).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isServiceBusError(error) && error.code).toBe('MessageLockLost');
    await receiver.completeMessage(again!);
    expect(standIn.stats('short')).toMatchObject({ active: 0, locked: 0, deadLettered: 0 });
    await receiver.close();
    await sender.close();
  });

  it('renews a lock so the message can be settled after the original lock time', async () => {
    const sender = client.createSender('renew');
    await sender.sendMessages({ body: 'long job', messageId: 'renew-1' });
    const receiver = peekLock('renew');
    const [message] = await receive(receiver, 1);
    const firstLock = message!.lockedUntilUtc!.getTime();
    await sleep(600);
    const renewed = await receiver.renewMessageLock(message!);
    expect(renewed.getTime()).toBeGreaterThan(firstLock + 300);
    await sleep(600); // now past the first lock's expiry
    expect(standIn.stats('renew')).toMatchObject({ locked: 1, active: 0 });
    await receiver.completeMessage(message!);
    expect(standIn.stats('renew')).toMatchObject({ locked: 0, active: 0 });
    await receiver.close();
    await sender.close();
  });

  it('delivers a scheduled message at its time, and a cancelled one never', async () => {
    const sender = client.createSender('scheduled');
    const at = new Date(Date.now() + 500);
    const [keep] = await sender.scheduleMessages({ body: 'later', messageId: 'sched-1' }, at);
    const [drop] = await sender.scheduleMessages({ body: 'never', messageId: 'sched-2' }, at);
    expect(Number(drop) - Number(keep)).toBe(1);
    expect(standIn.stats('scheduled')).toMatchObject({ scheduled: 2, active: 0 });
    await sender.cancelScheduledMessages(drop!);
    expect(standIn.stats('scheduled')).toMatchObject({ scheduled: 1 });

    const receiver = peekLock('scheduled');
    const [peeked] = await receiver.peekMessages(5);
    expect(peeked).toMatchObject({ messageId: 'sched-1', state: 'scheduled' });
    const [message] = await receive(receiver, 1);
    expect(message).toMatchObject({ body: 'later', messageId: 'sched-1' });
    expect(Date.now()).toBeGreaterThanOrEqual(at.getTime() - 5);
    expect(message!.sequenceNumber!.toString()).toBe(keep!.toString());
    await receiver.completeMessage(message!);
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 500 })).toEqual([]);
    expect(standIn.stats('scheduled')).toMatchObject({ scheduled: 0, active: 0 });
    await receiver.close();
    await sender.close();
  });

  it('drops a duplicate messageId within the detection window, single or batched', async () => {
    const sender = client.createSender('dedup');
    await sender.sendMessages({ body: 'first', messageId: 'dup-1' });
    await sender.sendMessages({ body: 'retry', messageId: 'dup-1' });
    await sender.sendMessages([
      { body: 'other', messageId: 'dup-2' },
      { body: 'retry again', messageId: 'dup-1' },
    ]);
    expect(standIn.stats('dedup')).toMatchObject({ active: 2, duplicatesDropped: 2 });
    const receiver = peekLock('dedup');
    const messages = await receive(receiver, 2);
    expect(messages.map((m): unknown => m.body)).toEqual(['first', 'other']);
    for (const m of messages) await receiver.completeMessage(m);
    // Completing does not reset the window: a late retry is still dropped.
    await sender.sendMessages({ body: 'late retry', messageId: 'dup-1' });
    expect(standIn.stats('dedup')).toMatchObject({ active: 0, duplicatesDropped: 3 });
    await receiver.close();
    await sender.close();
  });

  it('keeps duplicates when detection is off or the window has passed', async () => {
    const noDedup = client.createSender('no-dedup');
    await noDedup.sendMessages({ body: 1, messageId: 'same' });
    await noDedup.sendMessages({ body: 2, messageId: 'same' });
    expect(standIn.stats('no-dedup')).toMatchObject({ active: 2, duplicatesDropped: 0 });

    const brief = client.createSender('brief-dedup');
    await brief.sendMessages({ body: 1, messageId: 'same' });
    await brief.sendMessages({ body: 2, messageId: 'same' });
    await sleep(300);
    await brief.sendMessages({ body: 3, messageId: 'same' });
    expect(standIn.stats('brief-dedup')).toMatchObject({ active: 2, duplicatesDropped: 1 });
    await noDedup.close();
    await brief.close();
  });

  it('settles through $management (update-disposition) once the receiving link has gone', async () => {
    const sender = client.createSender('mgmt-settle');
    await sender.sendMessages([
      { body: 'complete me', messageId: 'ms-1' },
      { body: 'dead-letter me', messageId: 'ms-2' },
    ]);
    const receiver = peekLock('mgmt-settle');
    const [first, second] = await receive(receiver, 2);
    // Detach the AMQP link the messages came on (as a connection blip would); the SDK then
    // settles by lock token over the management link. The locks outlive the link.
    const link = (first as unknown as { delivery: { link: { close(): Promise<void> | void } } }).delivery
      .link;
    await link.close();
    expect(standIn.stats('mgmt-settle')).toMatchObject({ locked: 2 });
    await receiver.completeMessage(first!);
    await receiver.deadLetterMessage(second!, {
      deadLetterReason: 'ViaManagement',
      deadLetterErrorDescription: 'link gone',
    });
    expect(standIn.stats('mgmt-settle')).toMatchObject({ locked: 0, active: 0, deadLettered: 1 });
    const dlq = peekLock('mgmt-settle', 'deadLetter');
    const [dead] = await receive(dlq, 1);
    expect(dead).toMatchObject({
      messageId: 'ms-2',
      deadLetterReason: 'ViaManagement',
      deadLetterErrorDescription: 'link gone',
    });
    await dlq.close();
    await receiver.close();
    await sender.close();
  });

  it('keeps delivering on one link past the 2048 deliveries a rhea session buffers', async () => {
    const total = 2500;
    const sender = client.createSender('many');
    for (let start = 0; start < total; start += 500) {
      await sender.sendMessages(Array.from({ length: 500 }, (_, i) => ({ body: start + i })));
    }
    const receiver = peekLock('many');
    let handled = 0;
    const subscription = receiver.subscribe(
      { processMessage: async () => void handled++, processError: async () => undefined },
      { autoCompleteMessages: true, maxConcurrentCalls: 100 },
    );
    const deadline = Date.now() + 20_000;
    while (standIn.stats('many').active + standIn.stats('many').locked > 0 && Date.now() < deadline)
      await sleep(20);
    await subscription.close();
    expect(handled).toBe(total);
    expect(standIn.stats('many')).toMatchObject({ active: 0, locked: 0 });
    await receiver.close();
    await sender.close();
  });

  it('gives messages sent without an id a broker-assigned one', async () => {
    const sender = client.createSender('no-id');
    await sender.sendMessages([{ body: 1 }, { body: 2 }]);
    const receiver = client.createReceiver('no-id', { receiveMode: 'receiveAndDelete' });
    const messages = await receive(receiver, 2);
    expect(messages.map((m) => typeof m.messageId)).toEqual(['string', 'string']);
    expect(messages[0]!.messageId).not.toBe(messages[1]!.messageId);
    await receiver.close();
    await sender.close();
  });

  it('peeks without locking', async () => {
    const sender = client.createSender('peek');
    await sender.sendMessages([{ body: 'p1' }, { body: 'p2' }, { body: 'p3' }]);
    const receiver = peekLock('peek');
    const peeked = await receiver.peekMessages(2);
    expect(peeked.map((m): unknown => m.body)).toEqual(['p1', 'p2']);
    expect((await receiver.peekMessages(5)).map((m): unknown => m.body)).toEqual(['p3']); // continues after the last peeked
    expect(standIn.stats('peek')).toMatchObject({ active: 3, locked: 0 });
    expect((await receive(receiver, 3)).map((m): unknown => m.body)).toEqual(['p1', 'p2', 'p3']);
    await receiver.close();
    await sender.close();
  });
});

describe('AMQP stand-in lifecycle', () => {
  it('refuses unknown queues when auto-creation is off', async () => {
    const strict = await startAmqpStandIn({ autoCreateQueues: false, queues: { known: {} } });
    const strictClient = new ServiceBusClient(strict.connectionString, { retryOptions: { maxRetries: 0 } });
    try {
      await strictClient.createSender('known').sendMessages({ body: 'ok' });
      expect(strict.stats('known').active).toBe(1);
      const error: unknown = await strictClient
        .createSender('unknown')
        .sendMessages({ body: 'lost?' })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(isServiceBusError(error) && error.code).toBe('MessagingEntityNotFound');
    } finally {
      await strictClient.close();
      await strict.stop();
    }
  });

  it('frees its port on stop, even with a client still connected', async () => {
    const temporary = await startAmqpStandIn();
    const lingering = new ServiceBusClient(temporary.connectionString, { retryOptions: { maxRetries: 0 } });
    await lingering.createSender('q').sendMessages({ body: 'x' });
    await temporary.stop();
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(temporary.port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => server.close(resolve));
    await lingering.close();
  });

  it('with persistPath, keeps its queues across a restart on the same port, as a durable broker does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'standin-journal-'));
    const persistPath = join(dir, 'journal');
    const first = await startAmqpStandIn({ persistPath, queues: { q: { maxDeliveryCount: 5 } } });
    const firstClient = new ServiceBusClient(first.connectionString, { retryOptions: { maxRetries: 0 } });
    let second: AmqpStandIn | undefined;
    let secondClient: ServiceBusClient | undefined;
    try {
      const sender = firstClient.createSender('q');
      await sender.sendMessages(
        ['done', 'poison', 'abandoned', 'locked'].map((id) => ({ body: id, messageId: id })),
      );
      await sender.scheduleMessages({ body: 'later', messageId: 'later' }, new Date(Date.now() + 60_000));
      const receiver = firstClient.createReceiver('q', { maxAutoLockRenewalDurationInMs: 0 });
      const messages = await receive(receiver, 4);
      const byId = new Map(messages.map((m) => [m.messageId, m]));
      await receiver.completeMessage(byId.get('done')!);
      await receiver.deadLetterMessage(byId.get('poison')!, {
        deadLetterReason: 'Poison',
        deadLetterErrorDescription: 'cannot parse',
      });
      await receiver.abandonMessage(byId.get('abandoned')!);
      // 'abandoned' is now available again; 'locked' stays locked when the broker goes away.
      await receiver.close();
      await firstClient.close();
      await first.stop();

      second = await startAmqpStandIn({
        persistPath,
        port: first.port,
        queues: { q: { maxDeliveryCount: 5 } },
      });
      expect(second.port).toBe(first.port);
      // The lock did not survive the restart: 'locked' is available again, like 'abandoned'.
      expect(second.stats('q')).toMatchObject({ active: 2, locked: 0, scheduled: 1, deadLettered: 1 });
      expect(second.deadLetters('q')).toEqual([
        { messageId: 'poison', reason: 'Poison', description: 'cannot parse', body: 'poison' },
      ]);
      secondClient = new ServiceBusClient(second.connectionString, { retryOptions: { maxRetries: 0 } });
      // Duplicate detection remembers ids from before the restart.
      await secondClient.createSender('q').sendMessages({ body: 'done again', messageId: 'done' });
      expect(second.stats('q')).toMatchObject({ active: 2, duplicatesDropped: 1 });
      const again = secondClient.createReceiver('q', { maxAutoLockRenewalDurationInMs: 0 });
      const restored = await receive(again, 2);
      expect(restored.map((m) => [m.messageId, m.body, m.deliveryCount]).sort()).toEqual([
        ['abandoned', 'abandoned', 1],
        ['locked', 'locked', 0],
      ]);
      for (const m of restored) await again.completeMessage(m);
      await again.close();
    } finally {
      await secondClient?.close();
      await second?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
