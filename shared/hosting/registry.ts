import { createRequire } from 'node:module';
import azureFunctions from '@azure/functions';
import type { HttpHandler, HttpMethod, ServiceBusQueueHandler, TimerHandler } from '@azure/functions';

// @azure/functions is a bundled CommonJS module: Node's ESM loader cannot see its named exports.
const { app } = azureFunctions;

/**
 * One list of function definitions shared by the Azure Functions registrations and the local
 * runner (local/), so `npm start` serves exactly what Azure would. Each file in functions/
 * calls `registerFunction` at its bottom.
 */
export interface HttpFunctionDefinition {
  kind: 'http';
  name: string;
  route: string;
  methods: HttpMethod[];
  authLevel: 'anonymous' | 'function' | 'admin';
  handler: HttpHandler;
}

export interface TimerFunctionDefinition {
  kind: 'timer';
  name: string;
  /** NCRONTAB with seconds, or a `%SETTING%` expression resolved from app settings. */
  schedule: string;
  handler: TimerHandler;
}

export interface ServiceBusQueueFunctionDefinition {
  kind: 'serviceBusQueue';
  name: string;
  /** Queue name or `%SETTING%` expression. */
  queueName: string;
  /** App-setting prefix of the connection (`ServiceBusConnection`). */
  connection: string;
  handler: ServiceBusQueueHandler;
}

export type FunctionDefinition =
  HttpFunctionDefinition | TimerFunctionDefinition | ServiceBusQueueFunctionDefinition;

const definitions: FunctionDefinition[] = [];

/**
 * The Functions host injects `@azure/functions-core`; without it (tests, local runner) the
 * `app.*` calls would only print "test mode" warnings, so they are skipped quietly.
 */
const hostPresent = (() => {
  try {
    createRequire(import.meta.url)('@azure/functions-core');
    return true;
  } catch {
    return false;
  }
})();

export function registerFunction<T extends FunctionDefinition>(definition: T): T {
  if (definitions.some((d) => d.name === definition.name)) {
    throw new Error(`function ${definition.name} is registered twice`);
  }
  definitions.push(definition);
  if (!hostPresent) return definition;
  switch (definition.kind) {
    case 'http':
      app.http(definition.name, {
        route: definition.route,
        methods: definition.methods,
        authLevel: definition.authLevel,
        handler: definition.handler,
      });
      break;
    case 'timer':
      app.timer(definition.name, { schedule: definition.schedule, handler: definition.handler });
      break;
    case 'serviceBusQueue':
      app.serviceBusQueue(definition.name, {
        queueName: definition.queueName,
        connection: definition.connection,
        handler: definition.handler,
      });
      break;
  }
  return definition;
}

/**
 * Runs `close` when the Functions host stops this worker (scale-in, deployment, restart), so
 * open AMQP links and sockets are closed instead of cut. The local runner stops its own services.
 */
export function onHostTerminate(close: () => Promise<void>): void {
  if (!hostPresent) return;
  app.hook.appTerminate(async () => {
    await close();
  });
}

export function registeredFunctions(): readonly FunctionDefinition[] {
  return definitions;
}
