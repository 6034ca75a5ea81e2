/**
 * Runs the function app on this machine the way the Functions host would: HTTP functions at
 * /api/<route>, timers on their NCRONTAB schedule, Service Bus queue triggers with peek-lock. It
 * uses the same function definitions as the Azure registrations (shared/hosting/registry), and
 * the embedded local services (dev/local/embedded.ts) unless settings point elsewhere.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LogHandler } from '@azure/functions';
import { buildServices, useServices, type Services } from '../../shared/app/services.js';
import { SETTINGS, describeSettings, loadSettings } from '../../shared/config/settings.js';
import {
  registeredFunctions,
  type FunctionDefinition,
  type HttpFunctionDefinition,
  type ServiceBusQueueFunctionDefinition,
  type TimerFunctionDefinition,
} from '../../shared/hosting/registry.js';
import { LocalSinkPushProvider } from '../../shared/push/local-sink.js';
import type { LocalEntraIssuer } from '../sim/entra.js';
import type { GraphSimulator } from '../sim/graph/index.js';
import type { AmqpStandIn } from '../sim/service-bus.js';
import { resolveSettingExpression } from './bindings.js';
import { seedDemo } from './demo.js';
import { startEmbeddedServices } from './embedded.js';
import { httpTriggers, type HttpTriggerHandler } from './http-trigger.js';
import { serveLocalRoute } from './local-routes.js';
import { startQueueTriggers } from './queue-trigger.js';
import { startTimerTriggers } from './timer-trigger.js';

export { DEMO_DEVICE_ID, DEMO_SUBSCRIPTION } from './demo.js';
export { resolveSettingExpression } from './bindings.js';

export interface LocalHostOptions {
  /** 7071 like `func start`; 0 picks a free port. */
  port?: number;
  host?: string;
  /** Settings; unset storage/Service Bus/Graph settings get embedded local services. */
  env?: Record<string, string | undefined>;
  /** Key for `authLevel: function` routes (`x-functions-key` header or `?code=`). */
  functionKey?: string;
  startTimers?: boolean;
  startQueueTriggers?: boolean;
  /** Where log lines go; defaults to the console. `quiet` drops info and debug. */
  log?: (line: string) => void;
  quiet?: boolean;
  /** Seed the demo subscription used by requests.http, and the simulated tenant's mailboxes (npm start). */
  seedDemo?: boolean;
}

export interface LocalHost {
  url: string;
  port: number;
  functionKey: string;
  /** The effective app settings. */
  env: Record<string, string>;
  services: Services;
  amqp: AmqpStandIn | undefined;
  graphSimulator: GraphSimulator | undefined;
  /** Signs API tokens for the simulated tenant's users (local only). */
  entraIssuer: LocalEntraIssuer | undefined;
  stop(): Promise<void>;
}

export const DEFAULT_LOCAL_FUNCTION_KEY = 'local-dev-function-key';

export async function startLocalHost(options: LocalHostOptions = {}): Promise<LocalHost> {
  const log = options.log ?? ((line: string) => console.log(line));
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (error) {
        log(`[local] stop failed: ${String(error)}`);
      }
    }
  };

  try {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, ...options.env })) if (v !== undefined) env[k] = v;
    const embedded = await startEmbeddedServices(env, log);
    stops.push(() => embedded.stop());
    Object.assign(env, embedded.settings);

    const functionKey = options.functionKey ?? env.LOCAL_FUNCTION_KEY ?? DEFAULT_LOCAL_FUNCTION_KEY;
    const logHandlerFor = logHandlerFactory(log, options.quiet ?? false);
    // Listen before building services: the URL is PUBLIC_BASE_URL, which Graph (or the simulator)
    // calls back when subscriptions are created. Requests arriving before the functions are
    // loaded get 503.
    const loaded: { http?: HttpTriggerHandler; sink?: LocalSinkPushProvider } = {};
    const server = createServer((req, res) => {
      const local = {
        amqp: embedded.amqp,
        sink: () => loaded.sink,
        ready: () => loaded.http !== undefined,
        issuer: embedded.entraIssuer,
      };
      if (serveLocalRoute(req, res, local)) return;
      if (!loaded.http) {
        req.resume();
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
        res.end(JSON.stringify({ error: { code: 'starting', message: 'The function host is starting.' } }));
        return;
      }
      loaded.http(req, res).catch((error: unknown) => {
        log(`[local] request failed: ${String(error)}`);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'internal_error', message: 'Internal error.' } }));
      });
    });
    server.keepAliveTimeout = 65_000;
    await listen(server, options.port ?? 7071, options.host ?? '127.0.0.1');
    stops.push(() => closeServer(server));
    const port = (server.address() as AddressInfo).port;
    const url = `http://${options.host ?? '127.0.0.1'}:${port}`;

    env.PUBLIC_BASE_URL ??= url;
    // Binding expressions (%MAINTENANCE_SCHEDULE%, %NOTIFICATION_QUEUE_NAME%) need the app
    // settings to exist, as Bicep sets them in Azure: fill in the documented defaults.
    for (const spec of SETTINGS) if (spec.default !== undefined) env[spec.name] ??= spec.default;

    const settings = loadSettings(env);
    const services = await buildServices(settings, env);
    stops.push(() => services.close());
    // The functions get these services instead of building their own from process.env.
    useServices(services);
    if (services.push instanceof LocalSinkPushProvider) loaded.sink = services.push;
    await import('../../functions/index.js');

    const definitions = registeredFunctions();
    loaded.http = httpTriggers(
      ofKind<HttpFunctionDefinition>(definitions, 'http'),
      functionKey,
      logHandlerFor,
    );
    if (options.seedDemo)
      await seedDemo(services, {
        simulatedTenant: embedded.graphSimulator !== undefined,
        generatedUsers: Number(env.LOCAL_SIM_USERS ?? 0),
        log,
      });
    if (options.startQueueTriggers ?? true) {
      const queues = ofKind<ServiceBusQueueFunctionDefinition>(definitions, 'serviceBusQueue');
      stops.push(startQueueTriggers(queues, settings, env, logHandlerFor));
    }
    if (options.startTimers ?? true) {
      stops.push(
        startTimerTriggers(ofKind<TimerFunctionDefinition>(definitions, 'timer'), env, logHandlerFor),
      );
    }
    logRoutes(definitions, env, url, log);

    let stopping: Promise<void> | undefined;
    return {
      url,
      port,
      functionKey,
      env,
      services,
      amqp: embedded.amqp,
      graphSimulator: embedded.graphSimulator,
      entraIssuer: embedded.entraIssuer,
      stop: () => (stopping ??= stopAll()),
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function ofKind<T extends FunctionDefinition>(
  definitions: readonly FunctionDefinition[],
  kind: T['kind'],
): T[] {
  return definitions.filter((d): d is T => d.kind === kind);
}

function logHandlerFactory(log: (line: string) => void, quiet: boolean) {
  return (functionName: string): LogHandler =>
    (level, ...args) => {
      if (quiet && (level === 'information' || level === 'debug' || level === 'trace')) return;
      log(`[${new Date().toISOString()}] [${functionName}] ${level}: ${args.map(String).join(' ')}`);
    };
}

function logRoutes(
  definitions: readonly FunctionDefinition[],
  env: Record<string, string>,
  url: string,
  log: (line: string) => void,
): void {
  log(`[local] settings: ${JSON.stringify(describeSettings(env))}`);
  for (const def of definitions) {
    if (def.kind === 'http') {
      log(
        `[local] ${def.name}: [${def.methods.join(',')}] ${url}/api/${def.route}${def.authLevel === 'anonymous' ? '' : ' (x-functions-key)'}`,
      );
    } else if (def.kind === 'timer') {
      log(`[local] ${def.name}: timer ${resolveSettingExpression(def.schedule, env)}`);
    } else {
      log(`[local] ${def.name}: Service Bus queue ${resolveSettingExpression(def.queueName, env)}`);
    }
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
