/**
 * The `mail-notifications` queue on Azure Service Bus. With shared/queue/consumer.ts this is the
 * only code that touches @azure/service-bus. Real Service Bus, Microsoft's emulator and the local
 * AMQP stand-in (test/support) are told apart by the connection string alone.
 */
import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import {
  ServiceBusClient,
  type ServiceBusClientOptions,
  type ServiceBusMessage,
  type ServiceBusMessageBatch,
  type ServiceBusSender,
} from '@azure/service-bus';
import type { ImportChunkMessage, QueuedNotification } from '../domain/model.js';
import type { ImportChunkQueue, NotificationQueue } from '../domain/ports.js';
import { ConfigError, DependencyError, ensureError } from '../errors.js';
import { rememberTraceContext, traceApplicationProperties } from '../telemetry/index.js';

export interface ServiceBusClientSettings {
  /** `Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=...[;UseDevelopmentEmulator=true]` */
  connectionString?: string;
  /** `<namespace>.servicebus.windows.net`, used with a managed identity (or developer credentials). */
  fullyQualifiedNamespace?: string;
  /** Client id of a user-assigned managed identity; system-assigned / developer credentials if unset. */
  managedIdentityClientId?: string;
  /** The credential to use with the namespace; wins over managedIdentityClientId (share one token cache). */
  credential?: TokenCredential;
  clientOptions?: ServiceBusClientOptions;
}

export function createServiceBusClient(settings: ServiceBusClientSettings): ServiceBusClient {
  if (settings.connectionString)
    return new ServiceBusClient(settings.connectionString, settings.clientOptions);
  if (settings.fullyQualifiedNamespace) {
    const credential =
      settings.credential ??
      (settings.managedIdentityClientId
        ? new ManagedIdentityCredential({ clientId: settings.managedIdentityClientId })
        : new DefaultAzureCredential());
    return new ServiceBusClient(settings.fullyQualifiedNamespace, credential, settings.clientOptions);
  }
  throw new ConfigError(['Service Bus: set either a connection string or a fully qualified namespace']);
}

export interface ServiceBusNotificationQueueOptions {
  /** Cap on one batch's size; defaults to the link's maximum message size (256 KB on Standard). */
  maxBatchSizeBytes?: number;
}

/**
 * Sends notifications with `messageId` = QueuedNotification.messageId, so the queue's duplicate
 * detection drops Graph's retries. Resolves only when the broker has accepted every message.
 */
export class ServiceBusNotificationQueue implements NotificationQueue, ImportChunkQueue {
  private sender: ServiceBusSender | undefined;

  constructor(
    private readonly client: ServiceBusClient,
    private readonly queueName: string,
    private readonly options: ServiceBusNotificationQueueOptions = {},
  ) {}

  enqueue(messages: readonly QueuedNotification[]): Promise<void> {
    return this.send(messages, toServiceBusMessage);
  }

  /** Import chunks share the queue (`subject` import-chunk); the id lets duplicate detection drop a resend. */
  enqueueImportChunks(chunks: readonly ImportChunkMessage[]): Promise<void> {
    return this.send(
      chunks.map((chunk) => ({ messageId: `import-${chunk.jobId}-${chunk.chunk}`, body: chunk })),
      (message) => ({
        messageId: message.messageId,
        body: message.body,
        contentType: 'application/json',
        subject: message.body.type,
      }),
    );
  }

  private async send<T extends { messageId: string }>(
    messages: readonly T[],
    toMessage: (message: T) => ServiceBusMessage,
  ): Promise<void> {
    if (messages.length === 0) return;
    let sent = 0;
    try {
      this.sender ??= this.client.createSender(this.queueName);
      const sender = this.sender;
      const newBatch = () =>
        sender.createMessageBatch(
          this.options.maxBatchSizeBytes ? { maxSizeInBytes: this.options.maxBatchSizeBytes } : undefined,
        );
      let batch: ServiceBusMessageBatch = await newBatch();
      for (const notification of messages) {
        const message = toMessage(notification);
        if (batch.tryAddMessage(message)) continue;
        if (batch.count > 0) {
          await sender.sendMessages(batch);
          sent += batch.count;
          batch = await newBatch();
          if (batch.tryAddMessage(message)) continue;
        }
        // Too large even alone. Never name the content: it may carry mail data.
        throw new DependencyError(
          'service-bus',
          `message ${notification.messageId} does not fit in one Service Bus message (limit ${batch.maxSizeInBytes} bytes)`,
        );
      }
      if (batch.count > 0) await sender.sendMessages(batch);
    } catch (error) {
      if (error instanceof DependencyError) throw error;
      // Messages already sent stay on the queue; a retry of the whole call is safe because
      // duplicate detection drops them. The SDK's messages do not contain message bodies.
      const cause = ensureError(error);
      const code = (cause as { code?: unknown }).code;
      throw new DependencyError(
        'service-bus',
        `could not enqueue ${messages.length - sent} of ${messages.length} message(s) to queue ${this.queueName}` +
          (typeof code === 'string' ? ` (${code})` : ''),
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

function toServiceBusMessage(notification: QueuedNotification): ServiceBusMessage {
  return {
    messageId: notification.messageId,
    body: notification.body,
    contentType: 'application/json',
    subject: notification.body.type,
    applicationProperties: traceApplicationProperties(notification),
  };
}

export interface CoalescingOptions {
  /** Flush as soon as this many messages are pending. Default 100. */
  maxBatchMessages?: number;
  /** Merged sends allowed at once; further calls wait (and merge further). Default 4. */
  maxInFlight?: number;
  /** How long to wait for more calls before flushing; undefined = next macrotask (setImmediate). */
  flushDelayMs?: number;
}

interface PendingCall {
  messages: readonly QueuedNotification[];
  resolve(): void;
  reject(error: unknown): void;
}

/**
 * Merges concurrent `enqueue` calls (many webhook invocations in one worker) into fewer sends of
 * the wrapped queue. Each caller's promise settles with the send that carried its messages, so a
 * caller only acknowledges Graph when its own notifications were accepted, and sees the error
 * (the webhook answers 503) when that send failed. A caller's messages are never split across sends.
 * While `maxInFlight` sends are running, new calls wait and are merged into the next send.
 */
export class CoalescingNotificationQueue implements NotificationQueue {
  private readonly maxBatchMessages: number;
  private readonly maxInFlight: number;
  private readonly flushDelayMs: number | undefined;
  private pending: PendingCall[] = [];
  private pendingCount = 0;
  private inFlight = 0;
  private flushScheduled = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly inner: NotificationQueue,
    options: CoalescingOptions = {},
  ) {
    this.maxBatchMessages = Math.max(1, options.maxBatchMessages ?? 100);
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 4);
    this.flushDelayMs = options.flushDelayMs;
  }

  enqueue(messages: readonly QueuedNotification[]): Promise<void> {
    if (this.closed) return Promise.reject(new DependencyError('notification-queue', 'the queue is closed'));
    if (messages.length === 0) return Promise.resolve();
    rememberTraceContext(messages);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ messages, resolve, reject });
      this.pendingCount += messages.length;
      if (this.pendingCount >= this.maxBatchMessages) this.pump();
      else this.scheduleFlush();
    });
  }

  /** Sends everything pending and waits for all sends; later `enqueue` calls are refused. */
  async close(): Promise<void> {
    this.closed = true;
    this.pump();
    if (this.pending.length === 0 && this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    const flush = () => {
      this.flushScheduled = false;
      this.pump();
    };
    if (this.flushDelayMs === undefined) setImmediate(flush);
    else setTimeout(flush, this.flushDelayMs);
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.pending.length > 0) {
      const group = this.takeGroup();
      this.inFlight++;
      void this.send(group);
    }
    if (this.pending.length === 0 && this.inFlight === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  /** Whole calls, in arrival order, up to maxBatchMessages (a larger single call goes alone). */
  private takeGroup(): PendingCall[] {
    let count = 0;
    let n = 0;
    while (n < this.pending.length) {
      const size = this.pending[n]!.messages.length;
      if (n > 0 && count + size > this.maxBatchMessages) break;
      count += size;
      n++;
    }
    this.pendingCount -= count;
    return this.pending.splice(0, n);
  }

  private async send(group: PendingCall[]): Promise<void> {
    try {
      await this.inner.enqueue(
        group.length === 1 ? group[0]!.messages : group.flatMap((call) => call.messages),
      );
      for (const call of group) call.resolve();
    } catch (error) {
      for (const call of group) call.reject(error);
    } finally {
      this.inFlight--;
      this.pump();
    }
  }
}
