/**
 * The notification queue's dead-letter count for the status page, from Service Bus's management
 * API (`getQueueRuntimeProperties`). Reading it needs the Manage right (e.g. Azure Service Bus Data
 * Owner on the queue); without it, or against a broker without the management API (the local AMQP
 * stand-in), the count is `null` with a detail: never a failed status.
 */
import type { TokenCredential } from '@azure/identity';
import { ServiceBusAdministrationClient } from '@azure/service-bus';
import { ensureError } from '../errors.js';
import type { DeadLetterCount } from './status.js';

export type DeadLetterSource =
  { connectionString: string } | { fullyQualifiedNamespace: string; credential: TokenCredential };

const TIMEOUT_MS = 3_000;

export function serviceBusDeadLetters(
  source: DeadLetterSource,
  queueName: string,
): () => Promise<DeadLetterCount> {
  const emulator =
    'connectionString' in source && /UseDevelopmentEmulator=true/i.test(source.connectionString);
  let client: ServiceBusAdministrationClient | undefined;
  return async () => {
    // The local AMQP stand-in speaks no HTTP: do not wait for a timeout on every status.
    if (emulator)
      return {
        deadLetters: null,
        detail: 'dead-letter count unavailable: the local Service Bus stand-in has no management API',
      };
    try {
      client ??=
        'connectionString' in source
          ? new ServiceBusAdministrationClient(source.connectionString)
          : new ServiceBusAdministrationClient(source.fullyQualifiedNamespace, source.credential);
      const properties = await client.getQueueRuntimeProperties(queueName, {
        abortSignal: AbortSignal.timeout(TIMEOUT_MS),
      });
      return { deadLetters: properties.deadLetterMessageCount };
    } catch (error) {
      const err = ensureError(error) as Error & { statusCode?: number };
      const why =
        err.statusCode === 401 || err.statusCode === 403
          ? 'this app may not read the queue’s runtime properties (grant its identity Azure Service Bus Data Owner on the queue)'
          : `the management API did not answer: ${err.message.split('\n')[0]?.slice(0, 200) ?? ''}`;
      return { deadLetters: null, detail: `dead-letter count unavailable: ${why}` };
    }
  };
}
