import type { InvocationContext } from '@azure/functions';
import { getServices } from '../shared/app/services.js';
import {
  IMPORT_QUEUE_MAX_DELIVERY_COUNT,
  describeImportChunkOutcome,
  processImportChunkMessage,
} from '../shared/app/import-processor.js';
import { registerFunction } from '../shared/hosting/registry.js';

/**
 * The `mailbox-imports` queue: each message is 100 rows of a large import, written here. Resolving
 * completes the message; a throw abandons it (redelivered, dead-lettered after 10 deliveries).
 */
export async function mailboxImportProcessor(message: unknown, context: InvocationContext): Promise<void> {
  const services = await getServices();
  const outcome = await processImportChunkMessage(services, message, {
    deliveryCount: Number(context.triggerMetadata?.deliveryCount),
    maxDeliveryCount: IMPORT_QUEUE_MAX_DELIVERY_COUNT,
  });
  context.log(describeImportChunkOutcome(outcome));
}

registerFunction({
  kind: 'serviceBusQueue',
  name: 'mailbox-import-processor',
  queueName: '%IMPORT_QUEUE_NAME%',
  connection: 'ServiceBusConnection',
  handler: mailboxImportProcessor,
});
