import type { InvocationContext } from '@azure/functions';
import { getServices } from '../shared/app/services.js';
import { processQueuedNotification } from '../shared/app/processor.js';
import { registerFunction } from '../shared/hosting/registry.js';

/**
 * The `mail-notifications` queue: lifecycle events act on the subscription. A throw abandons the
 * message; Service Bus redelivers it and dead-letters it after the queue's max delivery count.
 */
export async function notificationProcessor(message: unknown, context: InvocationContext): Promise<void> {
  const outcome = await processQueuedNotification(await getServices(), message);
  context.log(`notification-processor: ${JSON.stringify(outcome)}`);
}

registerFunction({
  kind: 'serviceBusQueue',
  name: 'notification-processor',
  queueName: '%NOTIFICATION_QUEUE_NAME%',
  connection: 'ServiceBusConnection',
  handler: notificationProcessor,
});
