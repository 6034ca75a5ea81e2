/**
 * Service Bus queue triggers as the Functions host runs them: peek-lock, complete on success,
 * abandon on a throw (redelivery, then dead-letter), concurrency and lock renewal from host.json.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import azureFunctions from '@azure/functions';
import type { LogHandler } from '@azure/functions';
import type { Settings } from '../../shared/config/settings.js';
import type { ServiceBusQueueFunctionDefinition } from '../../shared/hosting/registry.js';
import { createServiceBusClient } from '../../shared/queue/notification-queue.js';
import { resolveSettingExpression } from './bindings.js';
import { consumeQueue } from './queue-consumer.js';

const { InvocationContext } = azureFunctions;

/** Starts one consumer per queue function; resolves to a function that stops them all. */
export function startQueueTriggers(
  definitions: readonly ServiceBusQueueFunctionDefinition[],
  settings: Settings,
  env: Record<string, string | undefined>,
  logHandlerFor: (functionName: string) => LogHandler,
): () => Promise<void> {
  if (definitions.length === 0) return async () => {};
  const client = createServiceBusClient(
    settings.serviceBus.kind === 'connectionString'
      ? { connectionString: settings.serviceBus.connectionString }
      : {
          fullyQualifiedNamespace: settings.serviceBus.fullyQualifiedNamespace,
          managedIdentityClientId: settings.managedIdentityClientId,
        },
  );
  const consumers = definitions.map((def) =>
    consumeQueue(
      client,
      resolveSettingExpression(def.queueName, env),
      async (body, meta) => {
        const context = new InvocationContext({
          invocationId: randomUUID(),
          functionName: def.name,
          logHandler: logHandlerFor(def.name),
          triggerMetadata: {
            messageId: meta.messageId,
            deliveryCount: meta.deliveryCount,
            enqueuedTimeUtc: meta.enqueuedAt?.toISOString(),
            applicationProperties: meta.applicationProperties,
          },
        });
        await def.handler(body, context);
      },
      hostJsonServiceBusOptions(),
    ),
  );
  return async () => {
    for (const consumer of consumers) await consumer.close();
    await client.close();
  };
}

/** The queue trigger's concurrency and lock renewal from host.json, as the Functions host reads them. */
function hostJsonServiceBusOptions(): {
  maxConcurrentCalls?: number;
  maxAutoLockRenewalDurationInMs?: number;
} {
  try {
    // This file runs from the source tree (tests) or from dist-dev/dev/local (npm start).
    const path = [
      new URL('../../host.json', import.meta.url),
      new URL('../../../host.json', import.meta.url),
    ].find((u) => existsSync(u));
    if (!path) return {};
    const hostJson = JSON.parse(readFileSync(path, 'utf8')) as {
      extensions?: { serviceBus?: { maxConcurrentCalls?: number; maxAutoLockRenewalDuration?: string } };
    };
    const sb = hostJson.extensions?.serviceBus ?? {};
    const renewal = /^(\d+):(\d+):(\d+)$/.exec(sb.maxAutoLockRenewalDuration ?? '');
    return {
      ...(sb.maxConcurrentCalls ? { maxConcurrentCalls: sb.maxConcurrentCalls } : {}),
      ...(renewal
        ? {
            maxAutoLockRenewalDurationInMs:
              (Number(renewal[1]) * 3600 + Number(renewal[2]) * 60 + Number(renewal[3])) * 1000,
          }
        : {}),
    };
  } catch {
    return {};
  }
}
