import { ConfigError, ValidationError } from '../errors.js';
import type { LifecycleOutcome } from '../domain/subscription-lifecycle.js';
import { LIFECYCLE_EVENTS } from '../domain/notifications.js';
import type { LifecycleMessage } from '../domain/model.js';
import { describeNotificationOutcome } from '../delivery/outcome.js';
import type { RetryingChangeMessage } from '../domain/ports.js';
import type { ChangeHandlingOutcome, NotificationService } from '../delivery/service.js';
import { DEFAULT_MAX_DELIVERY_COUNT } from '../delivery/settings.js';
import { recordDeadLettered, withQueueMessageSpan } from '../telemetry/index.js';
import type { Services } from './services.js';

export type ProcessOutcome = LifecycleOutcome | ChangeHandlingOutcome;

/** The queue trigger's view of the delivery (the Functions host's `deliveryCount`). */
export interface QueueDelivery {
  /** 1 on the first delivery. Default (also for NaN, 0 or a fraction): 1. */
  deliveryCount?: number;
  /** The queue's MaxDeliveryCount. Default: `NOTIFICATION_MAX_DELIVERY_COUNT`'s default, 10. */
  maxDeliveryCount?: number;
  /** The message's application properties: `traceparent` continues the webhook's trace. */
  applicationProperties?: Record<string, unknown> | undefined;
}

/**
 * One message from the `mail-notifications` queue. Lifecycle events act on the subscription;
 * change notifications go through the notification-to-push pipeline (`services.notifications`).
 * Resolving completes the message (pushed, dropped with a reason, or a retry scheduled on the
 * queue); throwing abandons it, and Service Bus redelivers it and dead-letters it after the
 * queue's max delivery count, so nothing is lost.
 */
export function processQueuedNotification(
  services: Services,
  body: unknown,
  delivery: QueueDelivery = {},
): Promise<ProcessOutcome> {
  return withQueueMessageSpan(delivery.applicationProperties, async () => {
    try {
      return await processMessage(services, body, delivery);
    } catch (error) {
      const deliveryCount = positiveInteger(delivery.deliveryCount) ?? 1;
      if (deliveryCount >= (positiveInteger(delivery.maxDeliveryCount) ?? DEFAULT_MAX_DELIVERY_COUNT)) {
        recordDeadLettered(String((body as { type?: unknown } | undefined)?.type));
      }
      throw error;
    }
  });
}

async function processMessage(
  services: Services,
  body: unknown,
  delivery: QueueDelivery,
): Promise<ProcessOutcome> {
  const message = body as Partial<LifecycleMessage> | Partial<RetryingChangeMessage> | undefined;
  if (message?.type === 'lifecycle') {
    if (
      typeof message.subscriptionId !== 'string' ||
      typeof message.tenantId !== 'string' ||
      typeof message.mailboxEmail !== 'string' ||
      !LIFECYCLE_EVENTS.includes(message.lifecycleEvent as LifecycleMessage['lifecycleEvent'])
    ) {
      throw new ValidationError(
        'lifecycle message is missing subscriptionId, tenantId, mailboxEmail or lifecycleEvent',
      );
    }
    return services.lifecycle.handleLifecycle(message as LifecycleMessage);
  }
  if (message?.type === 'change') {
    const missing = (
      ['subscriptionId', 'tenantId', 'mailboxEmail', 'userId', 'changeType', 'resource', 'messageId'] as const
    ).filter((field) => typeof message[field] !== 'string' || message[field] === '');
    if (missing.length > 0) {
      throw new ValidationError(`change message is missing ${missing.join(', ')}`);
    }
    const deliveryCount = positiveInteger(delivery.deliveryCount) ?? 1;
    const maxDeliveryCount = positiveInteger(delivery.maxDeliveryCount) ?? DEFAULT_MAX_DELIVERY_COUNT;
    return notificationsOf(services).handle(message as RetryingChangeMessage, {
      deliveryCount,
      maxDeliveryCount,
    });
  }
  throw new ValidationError('unknown message type on the notification queue');
}

/**
 * `services.notifications`, built by the composition root with buildNotificationService
 * (shared/delivery). Absent: the change message is thrown back (kept on the queue, dead-lettered
 * after the max delivery count), never dropped.
 */
export function notificationsOf(services: Services): NotificationService {
  const notifications = (services as Services & { notifications?: NotificationService }).notifications;
  if (!notifications) {
    throw new ConfigError([
      'services.notifications is not set: build it with buildNotificationService (shared/delivery) in shared/app/services.ts to process change notifications',
    ]);
  }
  return notifications;
}

/** The line the function logs for an outcome, e.g. `notification dropped: no_devices`. */
export function describeProcessOutcome(outcome: ProcessOutcome): string {
  switch (outcome.action) {
    case 'pushed':
    case 'dropped':
      return describeNotificationOutcome(outcome);
    case 'retry_scheduled':
      return `notification retry scheduled: ${outcome.reason}, attempt ${outcome.retryAttempt} at ${outcome.retryAt} (${outcome.sent} sent)`;
    default:
      return `notification-processor: ${JSON.stringify(outcome)}`;
  }
}

/** A delivery count as the host reports it: a positive integer, else undefined. */
export function positiveInteger(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}
