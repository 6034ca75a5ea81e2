/**
 * Peek-lock consumption of a Service Bus queue, the way the Functions host runs a queue trigger:
 * the handler succeeds → complete; it throws → abandon, so the broker redelivers and, after the
 * queue's max delivery count, dead-letters. The local runner uses this for queue-triggered functions.
 */
import type { ServiceBusClient, ServiceBusReceivedMessage, ServiceBusReceiver } from '@azure/service-bus';
import { ensureError } from '../../shared/errors.js';

export interface QueueMessageMeta {
  messageId?: string;
  /** Attempt number, 1 on the first delivery (like the Functions host's `deliveryCount`). */
  deliveryCount: number;
  enqueuedAt?: Date;
  applicationProperties?: Record<string, unknown>;
}

export type QueueMessageHandler = (body: unknown, meta: QueueMessageMeta) => Promise<void>;

export interface ConsumeQueueOptions {
  /** Messages handled at once. Default 16 (the Functions host's default per instance). */
  maxConcurrentCalls?: number;
  /**
   * When set, a failure on this attempt number or later dead-letters the message with the error
   * as reason, instead of abandoning it (keep equal to the queue's MaxDeliveryCount so the
   * dead-letter queue says why). Unset: always abandon and let the broker count.
   */
  maxDeliveryCount?: number;
  /** Receive errors, handler failures and settlement failures. Defaults to console.error. */
  onError?: (err: Error) => void;
  /** Renew locks while a handler runs, up to this long. Default 5 minutes, like the host. */
  maxAutoLockRenewalDurationInMs?: number;
}

export interface QueueConsumer {
  /** Stops receiving, waits for running handlers and their settlement, closes the receiver. */
  close(): Promise<void>;
}

export function consumeQueue(
  client: ServiceBusClient,
  queueName: string,
  handler: QueueMessageHandler,
  opts: ConsumeQueueOptions = {},
): QueueConsumer {
  const onError = opts.onError ?? ((err: Error) => console.error(`[queue ${queueName}] ${err.message}`));
  const receiver: ServiceBusReceiver = client.createReceiver(queueName, {
    receiveMode: 'peekLock',
    maxAutoLockRenewalDurationInMs: opts.maxAutoLockRenewalDurationInMs ?? 5 * 60_000,
  });
  const running = new Set<Promise<void>>();

  const processOne = async (message: ServiceBusReceivedMessage): Promise<void> => {
    // The JS SDK reports the AMQP header's count of earlier deliveries (0 the first time).
    const attempt = (message.deliveryCount ?? 0) + 1;
    let failure: Error | undefined;
    try {
      await handler(message.body, {
        messageId: message.messageId === undefined ? undefined : String(message.messageId),
        deliveryCount: attempt,
        enqueuedAt: message.enqueuedTimeUtc,
        ...(message.applicationProperties ? { applicationProperties: message.applicationProperties } : {}),
      });
    } catch (error) {
      failure = ensureError(error);
      onError(
        new Error(
          `handler failed for message ${String(message.messageId)} (attempt ${attempt}): ${failure.message}`,
          { cause: failure },
        ),
      );
    }
    try {
      if (!failure) await receiver.completeMessage(message);
      else if (opts.maxDeliveryCount !== undefined && attempt >= opts.maxDeliveryCount) {
        await receiver.deadLetterMessage(message, {
          deadLetterReason: 'HandlerFailed',
          deadLetterErrorDescription: `${failure.name}: ${failure.message}`.slice(0, 4096),
        });
      } else await receiver.abandonMessage(message);
    } catch (error) {
      // Typically a lost lock: the broker will redeliver the message, nothing is lost.
      onError(ensureError(error));
    }
  };

  const subscription = receiver.subscribe(
    {
      processMessage: (message) => {
        const task = processOne(message);
        running.add(task);
        void task.finally(() => running.delete(task));
        // Resolving after settlement keeps at most maxConcurrentCalls messages in hand.
        return task;
      },
      processError: async (args) => onError(args.error),
    },
    { autoCompleteMessages: false, maxConcurrentCalls: opts.maxConcurrentCalls ?? 16 },
  );

  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= (async () => {
        await subscription.close();
        await Promise.allSettled([...running]);
        await receiver.close();
      })();
      return closing;
    },
  };
}
