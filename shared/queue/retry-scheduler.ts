/**
 * RetryScheduler on Service Bus: a copy of the change message, scheduled with
 * `scheduledEnqueueTimeUtc` on the same queue (see service.ts for why). Sent like the webhook's
 * messages (JSON body, `subject` = type), with a messageId of its own per retry attempt.
 */
import type { ServiceBusClient, ServiceBusSender } from '@azure/service-bus';
import { DependencyError, ensureError } from '../errors.js';
import { messageKeyFor } from '../delivery/pipeline.js';
import type { RetryScheduler, RetryingChangeMessage } from '../domain/ports.js';

export class ServiceBusRetryScheduler implements RetryScheduler {
  private sender: ServiceBusSender | undefined;

  constructor(
    private readonly client: ServiceBusClient,
    private readonly queueName: string,
  ) {}

  async scheduleRetry(message: RetryingChangeMessage, atMs: number): Promise<void> {
    const messageId = retryMessageId(message);
    try {
      this.sender ??= this.client.createSender(this.queueName);
      await this.sender.sendMessages({
        messageId,
        body: message,
        contentType: 'application/json',
        subject: message.type,
        scheduledEnqueueTimeUtc: new Date(atMs),
      });
    } catch (error) {
      const code = (ensureError(error) as { code?: unknown }).code;
      throw new DependencyError(
        'service-bus',
        `could not schedule retry ${messageId} on queue ${this.queueName}${typeof code === 'string' ? ` (${code})` : ''}`,
        { cause: error },
      );
    }
  }

  async close(): Promise<void> {
    const sender = this.sender;
    this.sender = undefined;
    await sender?.close();
  }
}

/**
 * `r<attempt>-<message key>`: unique per retry attempt (the original's id would be dropped by
 * duplicate detection), the same for two workers scheduling the same attempt (so one copy survives).
 */
export function retryMessageId(message: RetryingChangeMessage): string {
  return `r${message.retryAttempt ?? 0}-${messageKeyFor(message)}`;
}
