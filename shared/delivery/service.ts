/**
 * The queue-facing side of the pipeline: what to do when a change message must be tried again.
 *
 * Why scheduled retries, not just abandon: the Functions Service Bus trigger settles a message by
 * completing it (success) or abandoning it (a throw), and an abandoned message comes back at once —
 * the trigger has no "redeliver after N seconds". A Graph 429 asking for 30 s of quiet would burn the
 * queue's 10 deliveries in seconds and dead-letter mail that only needed to wait. So a RetryableError
 * becomes a copy of the message scheduled for `now + Retry-After` (Service Bus
 * `scheduledEnqueueTimeUtc`), and the original completes. The copy carries `retryAttempt` (the
 * backoff grows with it; after `maxScheduledRetries` the copy is thrown back instead and the queue
 * dead-letters it) and a messageId of its own (`r<n>-<message key>`: deterministic, so two workers
 * scheduling the same retry produce one copy — duplicate detection drops the second).
 *
 * Failure modes stay safe: if scheduling fails, the error is thrown and the message is abandoned
 * (redelivered at once; nothing lost). If the copy is scheduled but completing the original fails
 * (lock lost), both run later and the idempotency records turn the second into a `duplicate` drop.
 * Without a scheduler (or when retries are exhausted) the error is thrown: the host abandons, and on
 * the queue's last delivery dead-letters, the message; the error message says why.
 */
import { ensureError } from '../errors.js';
import { RetryableError, type RetryReason } from './errors.js';
import { NotificationCounters, type NotificationOutcome } from './outcome.js';
import type { DeliveryMeta, NotificationPipeline } from './pipeline.js';
import type { RetryScheduler, RetryingChangeMessage } from '../domain/ports.js';
import { recordChangeOutcome } from '../telemetry/recorders.js';

export type ChangeHandlingOutcome =
  | NotificationOutcome
  | {
      action: 'retry_scheduled';
      reason: RetryReason;
      /** When the copy becomes visible on the queue (ISO). */
      retryAt: string;
      /** The copy's retryAttempt (1 for the first scheduled retry). */
      retryAttempt: number;
      /** Pushes that did go out in this attempt. */
      sent: number;
    };

export interface NotificationServiceOptions {
  pipeline: NotificationPipeline;
  /** Absent: retries are abandons (immediate redelivery) only. */
  retryScheduler?: RetryScheduler;
  /** Scheduled retries of one message before it is left to the queue's dead-lettering. Default 12. */
  maxScheduledRetries?: number;
  /** Bounds of a scheduled retry's delay. Defaults 1 s and 15 min (a longer Retry-After is cut). */
  minRetryDelayMs?: number;
  maxRetryDelayMs?: number;
  counters?: NotificationCounters;
  now?: () => number;
  /** Warnings (retry scheduling failed, giving up). Never mail content. */
  log?: (line: string) => void;
}

export interface NotificationService {
  readonly pipeline: NotificationPipeline;
  readonly counters: NotificationCounters;
  /**
   * One change message from the queue. Resolves with its outcome (including `retry_scheduled`: then
   * complete the original); throws when the queue must redeliver it (abandon / dead-letter).
   */
  handle(message: RetryingChangeMessage, meta: DeliveryMeta): Promise<ChangeHandlingOutcome>;
}

export function createNotificationService(options: NotificationServiceOptions): NotificationService {
  const now = options.now ?? Date.now;
  const log = options.log ?? (() => {});
  const maxScheduledRetries = options.maxScheduledRetries ?? 12;
  const minDelay = options.minRetryDelayMs ?? 1_000;
  const maxDelay = options.maxRetryDelayMs ?? 15 * 60_000;
  const counters = options.counters ?? new NotificationCounters();

  return {
    pipeline: options.pipeline,
    counters,
    async handle(message, meta) {
      const retryAttempt = validRetryAttempt(message.retryAttempt);
      try {
        const outcome = await options.pipeline.process(message, {
          ...meta,
          attempt: retryAttempt + meta.deliveryCount,
        });
        recordChangeOutcome(message, outcome, now());
        return outcome;
      } catch (error) {
        if (!(error instanceof RetryableError)) throw error;
        if (options.retryScheduler && retryAttempt < maxScheduledRetries) {
          const at = now() + Math.min(maxDelay, Math.max(minDelay, error.retryAfterMs));
          const copy: RetryingChangeMessage = {
            ...message,
            retryAttempt: retryAttempt + 1,
            firstFailedAt: message.firstFailedAt ?? new Date(now()).toISOString(),
          };
          try {
            await options.retryScheduler.scheduleRetry(copy, at);
            return {
              action: 'retry_scheduled',
              reason: error.reason,
              retryAt: new Date(at).toISOString(),
              retryAttempt: retryAttempt + 1,
              sent: error.sent,
            };
          } catch (scheduleError) {
            log(
              `could not schedule a retry (${ensureError(scheduleError).message}); abandoning instead: ${error.message}`,
            );
            throw error;
          }
        }
        if (meta.deliveryCount >= meta.maxDeliveryCount) {
          log(
            `giving up on the change notification after ${meta.deliveryCount} deliveries and ${retryAttempt} scheduled retries: ${error.reason}: ${error.message} — the queue dead-letters it`,
          );
        }
        throw error;
      }
    },
  };
}

function validRetryAttempt(value: unknown): number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 1000 ? value : 0;
}
