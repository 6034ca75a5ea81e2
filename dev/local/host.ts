import { randomUUID, timingSafeEqual, createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import azureFunctions from '@azure/functions';
import type { HttpResponse as HttpResponseInstance, HttpResponseInit, LogHandler } from '@azure/functions';
import { SETTINGS, describeSettings, loadSettings } from '../../shared/config/settings.js';
import { buildServices, useServices, type Services } from '../../shared/app/services.js';
import { registeredFunctions, type HttpFunctionDefinition } from '../../shared/hosting/registry.js';
import { consumeQueue } from './queue-consumer.js';
import { createServiceBusClient } from '../../shared/queue/notification-queue.js';
import { LocalSinkPushProvider } from '../../shared/push/local-sink.js';
import { startAzurite } from '../sim/azurite.js';
import { startAmqpStandIn, type AmqpStandIn } from '../sim/service-bus.js';
import { LocalEntraIssuer } from '../sim/entra.js';
import { DEMO_TENANT } from '../sim/graph/demo.js';
import { startGraphSimulator, type GraphSimulator } from '../sim/graph/index.js';
import { parseNcrontab } from './ncrontab.js';

// @azure/functions is a bundled CommonJS module: Node's ESM loader cannot see its named exports.
const { HttpRequest, HttpResponse, InvocationContext } = azureFunctions;

/**
 * Runs the function app on this machine the way the Functions host would: HTTP functions at
 * /api/<route>, timers on their NCRONTAB schedule, Service Bus queue triggers with peek-lock.
 * It uses the same function definitions as the Azure registrations (shared/hosting/registry).
 * Azurite and the AMQP stand-in are started unless settings point elsewhere.
 */
export interface LocalHostOptions {
  /** 7071 like `func start`; 0 picks a free port. */
  port?: number;
  host?: string;
  /** Settings; unset storage/Service Bus settings get embedded local services. */
  env?: Record<string, string | undefined>;
  /** Key for `authLevel: function` routes (`x-functions-key` header or `?code=`). */
  functionKey?: string;
  startTimers?: boolean;
  startQueueTriggers?: boolean;
  /** Where log lines go; defaults to the console. `quiet` drops info and debug. */
  log?: (line: string) => void;
  quiet?: boolean;
  /** Seed the demo subscription used by requests.http (npm start). */
  seedDemo?: boolean;
}

export interface LocalHost {
  url: string;
  port: number;
  functionKey: string;
  env: Record<string, string>;
  services: Services;
  amqp: AmqpStandIn | undefined;
  graphSimulator: GraphSimulator | undefined;
  /** Signs device-API tokens for the simulated tenant's users (local only). */
  entraIssuer: LocalEntraIssuer | undefined;
  stop(): Promise<void>;
}

const MAX_LOCAL_BODY_BYTES = 8 * 1024 * 1024;
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

    if (!env.TABLES_CONNECTION_STRING && !env.TABLES_ENDPOINT) {
      const azurite = await startAzurite();
      stops.push(() => azurite.stop());
      env.TABLES_CONNECTION_STRING = azurite.tablesConnectionString;
      log(`[local] Azurite (Table Storage, in memory) at ${azurite.tableEndpoint}`);
    }
    let amqp: AmqpStandIn | undefined;
    if (!env.ServiceBusConnection && !env.ServiceBusConnection__fullyQualifiedNamespace) {
      const queueName = env.NOTIFICATION_QUEUE_NAME ?? 'mail-notifications';
      // Mirrors infra: duplicate detection over 4 hours (Graph's retry horizon), 10 deliveries.
      const standIn = await startAmqpStandIn({
        queues: { [queueName]: { duplicateDetectionWindowMs: 4 * 60 * 60 * 1000, maxDeliveryCount: 10 } },
      });
      amqp = standIn;
      stops.push(() => standIn.stop());
      env.ServiceBusConnection = standIn.connectionString;
      log(`[local] AMQP stand-in for Service Bus on port ${standIn.port}`);
    }
    // Listen first: the URL is PUBLIC_BASE_URL, which Graph (or the simulator) calls back.
    // Requests arriving before the functions are loaded get 503.
    const loaded: { routes?: CompiledRoute[]; sink?: LocalSinkPushProvider } = {};
    const functionKey = options.functionKey ?? env.LOCAL_FUNCTION_KEY ?? DEFAULT_LOCAL_FUNCTION_KEY;
    const quiet = options.quiet ?? false;
    const logHandlerFor =
      (functionName: string): LogHandler =>
      (level, ...args) => {
        if (quiet && (level === 'information' || level === 'debug' || level === 'trace')) return;
        log(`[${new Date().toISOString()}] [${functionName}] ${level}: ${args.map(String).join(' ')}`);
      };
    const server = createServer((req, res) => {
      if (amqp && req.method === 'GET' && req.url?.startsWith('/local/queues/')) {
        // Local-only window on the embedded queue, so a person can see what the webhook enqueued.
        const name = decodeURIComponent(req.url.slice('/local/queues/'.length));
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ queue: name, ...amqp.stats(name) }));
        return;
      }
      if (loaded.routes && req.method === 'GET' && isLocalPushesPath(req.url)) {
        // Local-only window on the local push sink: what a phone would have shown.
        servePushes(req, res, loaded.sink);
        return;
      }
      const routes = loaded.routes;
      if (!routes) {
        req.resume();
        res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
        res.end(JSON.stringify({ error: { code: 'starting', message: 'The function host is starting.' } }));
        return;
      }
      void serveHttp(req, res, routes, functionKey, logHandlerFor).catch((error: unknown) => {
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

    let graphSimulator: GraphSimulator | undefined;
    if (!env.GRAPH_TENANT_ID) {
      // No Graph credentials: the simulated tenant plays Graph and Entra ID (its CA must be trusted
      // through NODE_EXTRA_CA_CERTS, which local/start.ts arranges before this process starts).
      const sim = await startGraphSimulator({ seed: true });
      graphSimulator = sim;
      stops.push(() => sim.stop());
      env.GRAPH_TENANT_ID = DEMO_TENANT.tenantId;
      env.GRAPH_CLIENT_ID = DEMO_TENANT.clientId;
      env.GRAPH_CLIENT_SECRET = DEMO_TENANT.clientSecret;
      env.GRAPH_AUTHORITY_HOST = sim.url;
      env.GRAPH_ENDPOINT = sim.url;
      log(
        `[local] simulated Graph tenant ${DEMO_TENANT.domain} at ${sim.url} (users: ${DEMO_TENANT.users.map((u) => u.mail).join(', ')})`,
      );
    }
    env.PUBLIC_BASE_URL ??= url;
    let entraIssuer: LocalEntraIssuer | undefined;
    if (!env.DEVICE_API_AUDIENCE && graphSimulator) {
      // The devices API validates Entra ID access tokens; locally a stand-in issuer signs them.
      const issuer = new LocalEntraIssuer({
        tenantId: DEMO_TENANT.tenantId,
        audience: 'api://mailpush-local',
      });
      const jwks = await issuer.serve();
      stops.push(() => jwks.close());
      entraIssuer = issuer;
      env.DEVICE_API_AUDIENCE = issuer.audience;
      env.DEVICE_API_TENANT_ID = DEMO_TENANT.tenantId;
      env.DEVICE_API_AUTHORITY_HOST = jwks.authorityHost;
      log(`[local] local Entra ID token issuer (devices API) at ${jwks.authorityHost}`);
    }
    // Binding expressions (%MAINTENANCE_SCHEDULE%, %NOTIFICATION_QUEUE_NAME%) need the app
    // settings to exist, as Bicep sets them in Azure: fill in the documented defaults.
    for (const spec of SETTINGS) if (spec.default !== undefined) env[spec.name] ??= spec.default;

    // Function code reads settings from process.env, as it does in Azure.
    Object.assign(process.env, env);

    const settings = loadSettings(env);
    const services = await buildServices(settings);
    stops.push(() => services.close());
    useServices(services);
    if (services.push instanceof LocalSinkPushProvider) loaded.sink = services.push;
    await import('../../functions/index.js');

    const definitions = registeredFunctions();
    loaded.routes = definitions
      .filter((d): d is HttpFunctionDefinition => d.kind === 'http')
      .map((d) => ({ definition: d, ...compileRoute(d.route) }))
      .sort((a, b) => a.paramCount - b.paramCount);

    if (options.seedDemo) {
      await seedDemoSubscription(services);
      log(
        `[local] seeded demo subscription ${DEMO_SUBSCRIPTION.subscriptionId} for ${DEMO_SUBSCRIPTION.mailboxEmail} (see requests.http)`,
      );
      if (graphSimulator) {
        await enrolDemoMailboxes(services, log);
        if (loaded.sink) await registerDemoDevices(services, loaded.sink, log);
      }
    }

    if (options.startQueueTriggers ?? true) {
      const queueDefs = definitions.filter((d) => d.kind === 'serviceBusQueue');
      if (queueDefs.length > 0) {
        const client = createServiceBusClient(
          settings.serviceBus.kind === 'connectionString'
            ? { connectionString: settings.serviceBus.connectionString }
            : {
                fullyQualifiedNamespace: settings.serviceBus.fullyQualifiedNamespace,
                managedIdentityClientId: settings.managedIdentityClientId,
              },
        );
        stops.push(() => client.close());
        for (const def of queueDefs) {
          const queueName = resolveSettingExpression(def.queueName, env);
          const consumer = consumeQueue(
            client,
            queueName,
            async (body, meta) => {
              const context = new InvocationContext({
                invocationId: randomUUID(),
                functionName: def.name,
                logHandler: logHandlerFor(def.name),
                triggerMetadata: {
                  messageId: meta.messageId,
                  deliveryCount: meta.deliveryCount,
                  enqueuedTimeUtc: meta.enqueuedAt?.toISOString(),
                },
              });
              await def.handler(body, context);
            },
            hostJsonServiceBusOptions(),
          );
          stops.push(() => consumer.close());
        }
      }
    }

    if (options.startTimers ?? true) {
      for (const def of definitions) {
        if (def.kind !== 'timer') continue;
        const schedule = parseNcrontab(resolveSettingExpression(def.schedule, env));
        let timer: NodeJS.Timeout | undefined;
        let stopped = false;
        let last = new Date();
        const arm = () => {
          if (stopped) return;
          const next = schedule.next(new Date());
          timer = setTimeout(
            () => {
              const context = new InvocationContext({
                invocationId: randomUUID(),
                functionName: def.name,
                logHandler: logHandlerFor(def.name),
              });
              const fired = new Date();
              Promise.resolve(
                def.handler(
                  {
                    isPastDue: false,
                    schedule: { adjustForDST: false },
                    scheduleStatus: {
                      last: last.toISOString(),
                      next: schedule.next(fired).toISOString(),
                      lastUpdated: fired.toISOString(),
                    },
                  },
                  context,
                ),
              )
                .catch((error: unknown) => context.error(`timer run failed: ${String(error)}`))
                .finally(() => {
                  last = fired;
                  arm();
                });
            },
            Math.max(0, next.getTime() - Date.now()),
          );
        };
        arm();
        stops.push(async () => {
          stopped = true;
          if (timer) clearTimeout(timer);
        });
      }
    }

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

    let stopping: Promise<void> | undefined;
    return {
      url,
      port,
      functionKey,
      env,
      services,
      amqp,
      graphSimulator,
      entraIssuer,
      stop: () => (stopping ??= stopAll()),
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** The subscription requests.http talks about. Local only: its clientState is public. */
export const DEMO_SUBSCRIPTION = {
  subscriptionId: '00000000-0000-4000-8000-00000000d3e0',
  mailboxEmail: 'adele.vance@contoso.example',
  userId: '87d349ed-44d7-43e1-9a83-5f2406dee5bd',
  tenantId: '9188040d-6c67-4c5b-b112-36a304b66dad',
  clientState: 'local-demo-client-state',
  resource: "users/87d349ed-44d7-43e1-9a83-5f2406dee5bd/mailFolders('Inbox')/messages",
} as const;

async function seedDemoSubscription(services: Services): Promise<void> {
  const now = new Date();
  const existing = await services.subscriptions.getSubscription(DEMO_SUBSCRIPTION.subscriptionId);
  if (existing) return;
  await services.subscriptions.insertSubscription({
    ...DEMO_SUBSCRIPTION,
    expiresAt: new Date(now.getTime() + 3 * 24 * 3600_000).toISOString(),
    createdAt: now.toISOString(),
  });
}

/**
 * Enrols the simulated tenant's users: a mailbox row each and a real Graph subscription, created
 * through the simulator, which performs the validation handshake against this host's webhook.
 */
async function enrolDemoMailboxes(services: Services, log: (line: string) => void): Promise<void> {
  const now = new Date().toISOString();
  for (const user of DEMO_TENANT.users) {
    let mailbox = await services.mailboxes.getMailbox(user.mail);
    mailbox ??= await services.mailboxes.insertMailbox({
      email: user.mail,
      userId: user.id,
      tenantId: DEMO_TENANT.tenantId,
      transport: 'graph',
      createdAt: now,
      updatedAt: now,
    });
    if (mailbox.subscriptionId) continue;
    try {
      const subscription = await services.lifecycle.createForMailbox(mailbox);
      log(
        `[local] ${user.mail}: subscription ${subscription.subscriptionId} until ${subscription.expiresAt}`,
      );
    } catch (error) {
      log(`[local] ${user.mail}: could not create a subscription: ${String(error)}`);
    }
  }
}

/** The device `npm start` registers for each demo user, so a delivered mail shows a push at the local sink. */
export const DEMO_DEVICE_ID = 'demo-phone';

/**
 * One device per simulated user, in the devices table and at the local sink (never with a real
 * push service: the tokens are made up). A device the user already has is left alone.
 */
async function registerDemoDevices(
  services: Services,
  sink: LocalSinkPushProvider,
  log: (line: string) => void,
): Promise<void> {
  const now = new Date().toISOString();
  const registered: string[] = [];
  for (const user of DEMO_TENANT.users) {
    const existing = await services.devices.getDevice(user.mail, DEMO_DEVICE_ID);
    const device =
      existing ??
      (await services.devices.upsertDevice({
        mailboxEmail: user.mail,
        deviceId: DEMO_DEVICE_ID,
        platform: 'apns',
        // An APNs-shaped token (64 hex characters) derived from the user id; local only.
        token: createHash('sha256').update(`demo-device:${user.id}`).digest('hex'),
        userObjectId: user.id,
        createdAt: now,
        updatedAt: now,
      }));
    await sink.registerDevice(device);
    registered.push(user.mail);
  }
  log(
    `[local] registered device ${DEMO_DEVICE_ID} (apns) at the local push sink for ${registered.join(', ')}`,
  );
}

/** Most pushes `GET /local/pushes` returns (the sink keeps the last 1,000). */
const LOCAL_PUSHES_DEFAULT_LIMIT = 100;

function isLocalPushesPath(url: string | undefined): boolean {
  const path = (url ?? '').split('?')[0]!;
  return path === '/local/pushes' || path === '/local/pushes/';
}

/**
 * `GET /local/pushes[?limit=n][&mailbox=a@b]`: the most recent pushes the local sink recorded,
 * newest last, and `count`, every push recorded since start (also those no longer kept in memory).
 */
function servePushes(req: IncomingMessage, res: ServerResponse, sink: LocalSinkPushProvider | undefined) {
  req.resume();
  const headers = { 'content-type': 'application/json', 'cache-control': 'no-store' };
  if (!sink) {
    res.writeHead(404, headers);
    res.end(
      JSON.stringify({
        error: {
          code: 'not_found',
          message: 'Pushes are only recorded when PUSH_PROVIDER is local.',
        },
      }),
    );
    return;
  }
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const rawLimit = query.get('limit');
  const limit = rawLimit === null ? LOCAL_PUSHES_DEFAULT_LIMIT : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1) {
    res.writeHead(400, headers);
    res.end(JSON.stringify({ error: { code: 'bad_request', message: 'limit must be a positive integer.' } }));
    return;
  }
  const mailbox = query.get('mailbox');
  const kept = sink.list(mailbox ? { mailbox } : {});
  const pushes = kept.slice(Math.max(0, kept.length - limit));
  res.writeHead(200, headers);
  res.end(
    JSON.stringify({
      count: sink.count(),
      returned: pushes.length,
      ...(sink.filePath ? { file: sink.filePath } : {}),
      ...(sink.fileError ? { fileError: sink.fileError } : {}),
      pushes,
    }),
  );
}

/** The queue trigger's concurrency and lock renewal from host.json, as the Functions host reads them. */
function hostJsonServiceBusOptions(): {
  maxConcurrentCalls?: number;
  maxAutoLockRenewalDurationInMs?: number;
} {
  try {
    // dev/local/host.ts runs from the source tree (tests) or from dist-dev/dev/local (npm start).
    const path = [new URL('../../host.json', import.meta.url), new URL('../../../host.json', import.meta.url)].find(
      (u) => existsSync(u),
    );
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

/** `%NAME%` binding expressions, resolved from app settings like the Functions host does. */
export function resolveSettingExpression(value: string, env: Record<string, string | undefined>): string {
  return value.replace(/%([^%]+)%/g, (_, name: string) => {
    const resolved = env[name];
    if (resolved === undefined) throw new Error(`binding expression %${name}% has no app setting`);
    return resolved;
  });
}

interface CompiledRoute {
  definition: HttpFunctionDefinition;
  pattern: RegExp;
  names: string[];
  paramCount: number;
}

/** Functions route templates: `devices/{id}`, `{id:int}` (constraint ignored), `{*rest}` catch-all. */
function compileRoute(route: string): Omit<CompiledRoute, 'definition'> {
  const names: string[] = [];
  const source = route
    .split('/')
    .map((segment) => {
      const param = /^\{(\*?)([A-Za-z0-9_]+)(?::[^}]*)?\??\}$/.exec(segment);
      if (!param) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(param[2]!);
      return param[1] ? '(.+)' : '([^/]+)';
    })
    .join('/');
  return { pattern: new RegExp(`^/api/${source}/?$`, 'i'), names, paramCount: names.length };
}

async function serveHttp(
  req: IncomingMessage,
  res: ServerResponse,
  routes: CompiledRoute[],
  functionKey: string,
  logHandlerFor: (name: string) => LogHandler,
): Promise<void> {
  const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
  let match: { route: CompiledRoute; params: Record<string, string> } | undefined;
  let methodMismatch = false;
  for (const route of routes) {
    const m = route.pattern.exec(url.pathname);
    if (!m) continue;
    if (!route.definition.methods.includes((req.method ?? 'GET').toUpperCase() as never)) {
      methodMismatch = true;
      continue;
    }
    const params: Record<string, string> = {};
    route.names.forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1] ?? '')));
    match = { route, params };
    break;
  }
  if (!match) {
    req.resume();
    res.writeHead(methodMismatch ? 405 : 404, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        error: { code: methodMismatch ? 'method_not_allowed' : 'not_found', message: 'No such route.' },
      }),
    );
    return;
  }
  const { definition } = match.route;
  if (definition.authLevel !== 'anonymous') {
    const presented =
      (req.headers['x-functions-key'] as string | undefined) ?? url.searchParams.get('code') ?? '';
    if (!sameSecret(presented, functionKey)) {
      req.resume();
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ error: { code: 'unauthorized', message: 'A valid function key is required.' } }),
      );
      return;
    }
  }

  const body = await readBody(req);
  if (body === 'too_large') {
    res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
    res.end(JSON.stringify({ error: { code: 'payload_too_large', message: 'Body too large.' } }));
    return;
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const query: Record<string, string> = {};
  url.searchParams.forEach((value, key) => (query[key] = value));
  const request = new HttpRequest({
    method: req.method ?? 'GET',
    url: url.toString(),
    headers,
    query,
    params: match.params,
    ...(body.length > 0 ? { body: { bytes: body } } : {}),
  });
  const context = new InvocationContext({
    invocationId: randomUUID(),
    functionName: definition.name,
    logHandler: logHandlerFor(definition.name),
  });
  const result = await definition.handler(request, context);
  await writeResponse(res, result);
}

function readBody(req: IncomingMessage): Promise<Buffer | 'too_large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_LOCAL_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? 'too_large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function writeResponse(
  res: ServerResponse,
  result: HttpResponseInit | HttpResponseInstance | undefined | void,
) {
  if (!result) {
    res.writeHead(204).end();
    return;
  }
  if (result instanceof HttpResponse) {
    const headers: Record<string, string> = {};
    result.headers.forEach((value, key) => (headers[key] = value));
    res.writeHead(result.status, headers);
    res.end(Buffer.from(await result.arrayBuffer()));
    return;
  }
  const headers: Record<string, string> = {};
  new Headers(result.headers).forEach((value, key) => (headers[key] = value));
  let payload: Buffer | string | undefined;
  if (result.jsonBody !== undefined) {
    payload = JSON.stringify(result.jsonBody);
    headers['content-type'] ??= 'application/json';
  } else if (typeof result.body === 'string') {
    payload = result.body;
    headers['content-type'] ??= 'text/plain; charset=utf-8';
  } else if (result.body instanceof Uint8Array) {
    payload = Buffer.from(result.body);
  } else if (result.body !== undefined && result.body !== null) {
    payload = Buffer.from(
      await new Response(result.body as ConstructorParameters<typeof Response>[0]).arrayBuffer(),
    );
  }
  res.writeHead(result.status ?? 200, headers);
  res.end(payload);
}

function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
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
