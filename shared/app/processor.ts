import { ValidationError } from '../errors.js';
import type { LifecycleOutcome } from '../domain/subscription-lifecycle.js';
import { LIFECYCLE_EVENTS } from '../domain/notifications.js';
import type { LifecycleMessage } from '../domain/model.js';
import type { Services } from './services.js';

export type ProcessOutcome = LifecycleOutcome | { action: 'not_supported'; type: string };

/**
 * One message from the `mail-notifications` queue. Lifecycle events act on the subscription;
 * change notifications are turned into pushes by the notification-to-push processor (a later
 * capability): until it exists they are thrown back, so Service Bus keeps and finally
 * dead-letters them instead of dropping them.
 */
export async function processQueuedNotification(services: Services, body: unknown): Promise<ProcessOutcome> {
  const message = body as Partial<LifecycleMessage> | undefined;
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
    throw new ValidationError(
      'change notifications are not processed by this version (push delivery is not built yet)',
      'not_supported',
    );
  }
  throw new ValidationError('unknown message type on the notification queue');
}
