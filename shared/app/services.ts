import { randomUUID } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DefaultAzureCredential, ManagedIdentityCredential, type TokenCredential } from '@azure/identity';
import { createGraphCredential, graphScope } from '../auth/index.js';
import { serviceBusDeadLetters } from '../queue/dead-letters.js';
import { StatusReporter, intervalOfSchedule } from '../admin/status.js';
import type { ConnectivityDeps } from '../admin/connectivity.js';
import { TenantBudgets } from '../domain/renewal/token-bucket.js';
import { SubscriptionLifecycle } from '../domain/subscription-lifecycle.js';
import { signClientState, type ClientStateKeyring } from '../domain/client-state.js';
import type { AdminApiDeps } from '../admin/http.js';
import type { ControlPlaneDeps } from '../admin/mailboxes.js';
import { selfServiceEnrolment } from '../admin/self-service.js';
import { workKeyFor } from '../store/work-queue-store.js';
import {
  GraphClientFactory,
  GraphDirectory,
  GraphLifecyclePort,
  GraphMessageSource,
  GraphSubscriptionRenewal,
} from '../graph/index.js';
import { createDeviceBearerValidator, type DeviceApiDeps } from '../devices/index.js';
import { createPushProvider } from '../push/index.js';
import { buildNotificationService } from '../delivery/index.js';
import { ServiceBusRetryScheduler } from '../queue/retry-scheduler.js';
import type { IdempotencyStore } from '../domain/ports.js';
import type { NotificationService } from '../delivery/service.js';
import { createIdempotencyStore } from '../store/idempotency-store.js';
import { describeSettings, loadSettings, type Env, type Settings } from '../config/settings.js';
import { ConfigError } from '../errors.js';
import type { IngestDeps } from '../domain/ingest.js';
import type {
  ControlStorePort,
  DeviceStore,
  GroupMembershipPort,
  LeasePort,
  MailboxDirectoryPort,
  PushProvider,
  MailboxStore,
  NotificationQueue,
  RenewalSchedulePort,
  SubscriptionRenewalPort,
  SubscriptionStore,
  WorkQueuePort,
} from '../domain/ports.js';
import { CachedSubscriptionLookup } from '../domain/subscription-cache.js';
import { CLIENT_STATE_CENSUS, LookupPathGate, type ClientStateCensus } from '../domain/lookup-path.js';
import { createTableStores } from '../store/index.js';
import {
  CoalescingNotificationQueue,
  ServiceBusNotificationQueue,
  createServiceBusClient,
} from '../queue/notification-queue.js';

/**
 * The composition root: builds every adapter from validated settings, once per process.
 * Functions get their dependencies from here; tests build their own with real adapters
 * pointed at Azurite and the local AMQP stand-in.
 */
export interface Services {
  settings: Settings;
  mailboxes: MailboxStore;
  subscriptions: SubscriptionStore;
  subscriptionLookup: CachedSubscriptionLookup;
  /** Whether the webhook still looks up old-style clientStates (the timer's census, read at most once a minute). */
  lookupPath: LookupPathGate;
  queue: NotificationQueue;
  ingest: IngestDeps;
  renewalSchedule: RenewalSchedulePort;
  leases: LeasePort;
  graphClients: GraphClientFactory;
  renewals: SubscriptionRenewalPort;
  /** Per-tenant subscription-write budgets, shared by consecutive timer runs of this process. */
  writeBudgets: TenantBudgets;
  lifecycle: SubscriptionLifecycle;
  devices: DeviceStore;
  push: PushProvider;
  /** The devices API: stores, push provider and the bearer validator (built once, so signing keys stay cached). */
  deviceApi: DeviceApiDeps;
  /** Change notification → push (the queue trigger's change path). */
  notifications: NotificationService;
  /**
   * Delivery records, one per (message, device): what keeps a push from going out twice. The
   * maintenance timer purges the days past `DELIVERY_RECORD_RETENTION_DAYS`.
   */
  deliveries: IdempotencyStore;
  /** Mailboxes waiting for Graph work (creations, migrations): the timer's work queue. */
  work: WorkQueuePort;
  /** The control plane's small documents (migration switch, run reports, group delta links). */
  control: ControlStorePort;
  /** Graph as the control plane needs it (users, Inbox check, our subscriptions, group delta). */
  directory: MailboxDirectoryPort;
  /** Members of the enrolment groups, by user id (group sync, self-service enrolment). */
  membership: GroupMembershipPort;
  /** What the admin API's use cases need. */
  controlPlane: ControlPlaneDeps;
  /** The admin API: the control plane plus its bearer validator (same audience as the devices API). */
  adminApi: AdminApiDeps;
  close(): Promise<void>;
}

/**
 * `env` is what the settings were read from: the status page shows it (secrets hidden). The local
 * runner builds from its own settings and should pass them.
 */
export async function buildServices(settings: Settings, env: Env = process.env): Promise<Services> {
  const credential = needsCredential(settings) ? azureCredential(settings) : undefined;
  const tableOptions =
    settings.tables.kind === 'connectionString'
      ? { connectionString: settings.tables.connectionString, tablePrefix: settings.tables.tablePrefix }
      : {
          endpoint: settings.tables.endpoint,
          credential: credential!,
          tablePrefix: settings.tables.tablePrefix,
        };
  const stores = createTableStores(tableOptions);
  const deliveries = createIdempotencyStore(tableOptions);
  await Promise.all([stores.ensureTables(), deliveries.ensureTable()]);

  // The webhook waits for the broker before answering Graph, and Graph penalises slow answers:
  // fail fast (then 503, and Graph retries) instead of the SDK's 60 s default.
  const clientOptions = { retryOptions: { timeoutInMs: 2500, maxRetries: 1, retryDelayInMs: 100 } };
  const serviceBus = createServiceBusClient(
    settings.serviceBus.kind === 'connectionString'
      ? { connectionString: settings.serviceBus.connectionString, clientOptions }
      : {
          fullyQualifiedNamespace: settings.serviceBus.fullyQualifiedNamespace,
          // The same credential as Table Storage: one token cache, not a second credential chain.
          credential: credential!,
          clientOptions,
        },
  );
  const sender = new ServiceBusNotificationQueue(serviceBus, settings.notificationQueueName);
  // Import chunks have their own queue (and trigger): a large import never delays a notification.
  const importSender = new ServiceBusNotificationQueue(serviceBus, settings.importQueueName);
  // Many webhook invocations run concurrently in one worker; merging their sends is what
  // keeps the acknowledgement fast under load.
  const queue = new CoalescingNotificationQueue(sender);
  const subscriptionLookup = new CachedSubscriptionLookup(stores.subscriptions, {
    knownTtlMs: settings.subscriptionCacheSeconds * 1000,
    unknownTtlMs: settings.unknownSubscriptionCacheSeconds * 1000,
    maxEntries: 100_000,
    now: () => Date.now(),
  });
  // Read only when an old-style clientState arrives, at most once a minute (by default) per instance; once it
  // has read `off`, never again: then forged traffic costs no storage request at all.
  const lookupPath = new LookupPathGate({
    mode: settings.clientStateLookup,
    read: async () =>
      (await stores.control.get<ClientStateCensus>(CLIENT_STATE_CENSUS))?.value.lookupPath !== 'off',
    refreshMs: settings.clientStateLookupRefreshMs,
    now: () => Date.now(),
  });
  const graph = settings.graph;
  const graphCredentialFor = (tenantId: string) =>
    createGraphCredential({
      tenant: tenantId,
      clientId: graph.clientId,
      authorityHost: graph.authorityHost,
      ...(graph.credential.kind === 'secret'
        ? { secret: graph.credential.secret }
        : { certificate: graph.credential.certificate }),
    });
  const graphClients = new GraphClientFactory({
    graphEndpoint: graph.graphEndpoint,
    // One app registration; an app-only token is issued per tenant.
    credentialFor: graphCredentialFor,
  });
  // A credential of its own per check (no token cache): proves the secret or certificate works now.
  const acquireFreshToken = async () => {
    const token = await graphCredentialFor(graph.tenantId).getToken(graphScope(graph.graphEndpoint));
    if (!token) throw new Error('Entra ID issued no token');
  };
  const lifecycle = new SubscriptionLifecycle({
    now: () => Date.now(),
    newClientState: newClientStateFor(settings.clientStateKeys),
    graph: new GraphLifecyclePort(graphClients),
    mailboxes: stores.mailboxes,
    subscriptions: stores.subscriptions,
    schedule: stores.renewalSchedule,
    queue,
    publicBaseUrl: graph.publicBaseUrl,
    resyncWindowMs: settings.maintenance.resyncWindowMs,
    forget: (subscriptionId) => subscriptionLookup.forget(subscriptionId),
  });
  const push = createPushProvider(settings.push);
  const directory = new GraphDirectory(graphClients);
  // One validator for both APIs (same app registration): signing keys are fetched once.
  const bearer = createDeviceBearerValidator(settings.deviceApi);
  const controlPlane: ControlPlaneDeps = {
    tenantId: graph.tenantId,
    now: () => Date.now(),
    mailboxes: stores.mailboxes,
    work: stores.work,
    control: stores.control,
    directory,
    subscriptions: stores.subscriptions,
    devices: stores.devices,
    push,
    workKeyFor,
    forgetSubscription: (subscriptionId) => subscriptionLookup.forget(subscriptionId),
    imports: { jobs: stores.imports, queue: importSender, newJobId: () => randomUUID().replace(/-/g, '') },
  };
  const enrolIfMissing = selfServiceEnrolment(
    { ...controlPlane, membership: stores.control },
    { mode: settings.admin.enrolOnDeviceRegistration, groupIds: settings.admin.enrolmentGroupIds },
  );
  // A Graph 429 asks for quiet; the trigger can only abandon (immediate redelivery), so a retry
  // is a copy scheduled on the queue for after Retry-After.
  const retryScheduler = new ServiceBusRetryScheduler(serviceBus, settings.notificationQueueName);
  const notifications = buildNotificationService({
    settings: settings.notifications,
    appId: graph.clientId,
    authorityHost: graph.authorityHost,
    mailboxes: stores.mailboxes,
    devices: stores.devices,
    push,
    idempotency: deliveries.store,
    messages: new GraphMessageSource(graphClients),
    retryScheduler,
    // Warnings outside one message's outcome line: a retry that could not be scheduled, giving up
    // on the queue's last delivery, a dead device that could not be removed. Never mail content.
    log: (line) => console.warn(`[notification-processor] ${line}`),
    testMarks: stores.control,
  });
  const status = new StatusReporter({
    now: () => Date.now(),
    version: appVersion(),
    settings: () => describeSettings(env),
    credential:
      graph.credential.kind === 'secret'
        ? { kind: 'secret', expiresOn: graph.credential.expiresOn }
        : { kind: 'certificate', info: graph.credential.certificate.info },
    acquireToken: acquireFreshToken,
    deadLetters: serviceBusDeadLetters(
      settings.serviceBus.kind === 'connectionString'
        ? { connectionString: settings.serviceBus.connectionString }
        : { fullyQualifiedNamespace: settings.serviceBus.fullyQualifiedNamespace, credential: credential! },
      settings.notificationQueueName,
    ),
    mailboxes: stores.mailboxes,
    renewalSchedule: stores.renewalSchedule,
    control: stores.control,
    work: stores.work,
    migrationBatchSize: settings.admin.migrationBatchSize,
    lookupPath: { mode: settings.clientStateLookup, keysConfigured: settings.clientStateKeys !== undefined },
    ...withInterval(intervalOfSchedule(settings.maintenance.schedule)),
  });
  const connectivity: ConnectivityDeps = {
    tenantId: graph.tenantId,
    clientId: graph.clientId,
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    acquireToken: acquireFreshToken,
    graph: () => graphClients.forTenant(graph.tenantId),
    directory,
    mailboxes: stores.mailboxes,
    devices: stores.devices,
    control: stores.control,
    notificationUrl: `${graph.publicBaseUrl}/api/notifications`,
  };
  return {
    settings,
    notifications,
    deliveries: deliveries.store,
    renewalSchedule: stores.renewalSchedule,
    leases: stores.leases,
    graphClients,
    renewals: new GraphSubscriptionRenewal(graphClients),
    writeBudgets: new TenantBudgets({
      writes: settings.maintenance.subscriptionWritesPer20Seconds,
      windowMs: 20_000,
      // A fifth of the budget as burst, but at least one full $batch of 20.
      burst: Math.max(20, Math.floor(settings.maintenance.subscriptionWritesPer20Seconds / 5)),
    }),
    lifecycle,
    devices: stores.devices,
    push,
    deviceApi: {
      mailboxes: stores.mailboxes,
      devices: stores.devices,
      push,
      bearer,
      now: () => new Date(),
      ...(enrolIfMissing ? { enrolIfMissing } : {}),
    },
    mailboxes: stores.mailboxes,
    subscriptions: stores.subscriptions,
    subscriptionLookup,
    lookupPath,
    queue,
    ingest: {
      subscriptions: subscriptionLookup,
      queue,
      now: () => new Date(),
      clientStateKeys: settings.clientStateKeys,
      lookupPath,
    },
    work: stores.work,
    control: stores.control,
    directory,
    membership: stores.control,
    controlPlane,
    adminApi: {
      bearer,
      controlPlane,
      migrationBatchSize: settings.admin.migrationBatchSize,
      status,
      connectivity,
    },
    async close() {
      await retryScheduler.close?.();
      await queue.close();
      await sender.close();
      await importSender.close();
      await serviceBus.close();
    },
  };
}

function withInterval(intervalMs: number | undefined): { maintenanceIntervalMs?: number } {
  return intervalMs === undefined ? {} : { maintenanceIntervalMs: intervalMs };
}

/** package.json's version (next to dist/ in Azure, two folders up from the sources locally). */
function appVersion(): string {
  for (const path of ['../../package.json', '../../../package.json']) {
    try {
      const parsed = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (typeof parsed.version === 'string') return parsed.version;
    } catch {
      // try the next place
    }
  }
  return 'unknown';
}

function needsCredential(settings: Settings): boolean {
  return settings.tables.kind === 'endpoint' || settings.serviceBus.kind === 'namespace';
}

function azureCredential(settings: Settings): TokenCredential {
  return settings.managedIdentityClientId
    ? new ManagedIdentityCredential({ clientId: settings.managedIdentityClientId })
    : new DefaultAzureCredential();
}

let current: Promise<Services> | undefined;

/** The process-wide services, built on first use from the environment. */
export function getServices(): Promise<Services> {
  current ??= buildServices(loadSettings(process.env)).catch((error: unknown) => {
    current = undefined; // let a later invocation retry a transient start-up failure
    throw error;
  });
  return current;
}

/** Closes the process-wide services (the Functions host's appTerminate hook); a later call builds them again. */
export async function closeServices(): Promise<void> {
  const services = current;
  current = undefined;
  if (!services) return;
  await (await services.catch(() => undefined))?.close();
}

/** Used by the local runner, which builds services from its own embedded settings. */
export function useServices(services: Services): void {
  current = Promise.resolve(services);
}

/** Fails start-up with one message naming every bad setting (values of secrets never shown). */
export function validateSettingsAtStartup(env: Env = process.env): void {
  if (current) return;
  try {
    loadSettings(env);
  } catch (error) {
    if (error instanceof ConfigError) console.error(error.message);
    throw error;
  }
}

/**
 * Signed (`v2.…`, at most 123 characters) when CLIENT_STATE_KEYS is set, so the webhook can reject
 * a forged one without a storage read; otherwise 32 random bytes in base64url (43 characters).
 */
function newClientStateFor(
  keys: ClientStateKeyring | undefined,
): (subject: { tenantId: string; userId: string }) => string {
  if (!keys) return () => randomBytes(32).toString('base64url');
  return (subject) => signClientState(keys, subject, randomBytes);
}
