import type { InvocationContext } from '@azure/functions';
import { getServices } from '../shared/app/services.js';
import { describeProcessOutcome, processQueuedNotification } from '../shared/app/processor.js';
import { registerFunction } from '../shared/hosting/registry.js';

/**
 * The `mail-notifications` queue: change notifications become pushes, lifecycle events act on
 * the subscription. Resolving completes the message; a throw abandons it, and Service Bus
 * redelivers it and dead-letters it after the queue's max delivery count (nothing is lost).
 */
export async function notificationProcessor(message: unknown, context: InvocationContext): Promise<void> {
  const services = await getServices();
  const outcome = await processQueuedNotification(services, message, {
    // processQueuedNotification treats anything but a positive integer as the first delivery.
    deliveryCount: Number(context.triggerMetadata?.deliveryCount),
    maxDeliveryCount: services.settings.notifications.maxDeliveryCount,
    applicationProperties: context.triggerMetadata?.applicationProperties as
      Record<string, unknown> | undefined,
  });
  context.log(describeProcessOutcome(outcome));
}

registerFunction({
  kind: 'serviceBusQueue',
  name: 'notification-processor',
  queueName: '%NOTIFICATION_QUEUE_NAME%',
  connection: 'ServiceBusConnection',
  handler: notificationProcessor,
});
