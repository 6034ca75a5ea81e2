import { ConfigError, echoValue, mayCarryKey } from '../errors.js';
import { GRAPH_SETTING_SPECS, readGraphSettings, type GraphSettings } from './graph-settings.js';
import { DEVICE_SETTING_SPECS, readDeviceApiSettings, type DeviceApiSettings } from '../devices/settings.js';
import { PUSH_SETTING_SPECS, readPushSettings, type PushSettings } from '../push/settings.js';
import {
  NOTIFICATION_SETTING_SPECS,
  readNotificationSettings,
  type NotificationSettings,
} from '../delivery/settings.js';
import { ADMIN_SETTING_SPECS, readAdminSettings, type AdminSettings } from '../admin/settings.js';
import {
  CLIENT_STATE_SETTING_SPECS,
  readClientStateKeys,
  readClientStateLookupMode,
  readClientStateLookupRefreshMs,
} from './client-state-settings.js';
import type { LookupPathMode } from '../domain/lookup-path.js';
import type { ClientStateKeyring } from '../domain/client-state.js';

/**
 * Every setting the app reads, typed and validated once at start-up. Names match the app
 * settings written by infra/modules (Bicep) and local.settings.example.json.
 */
export interface Settings {
  tables:
    | { kind: 'connectionString'; connectionString: string; tablePrefix: string }
    | { kind: 'endpoint'; endpoint: string; tablePrefix: string };
  serviceBus:
    | { kind: 'connectionString'; connectionString: string }
    | { kind: 'namespace'; fullyQualifiedNamespace: string };
  /** Client id of the user-assigned managed identity (Azure); undefined locally. */
  managedIdentityClientId: string | undefined;
  notificationQueueName: string;
  /** Service Bus queue for import chunks (IMPORT_QUEUE_NAME). */
  importQueueName: string;
  /** How long the webhook trusts a cached subscription lookup. */
  subscriptionCacheSeconds: number;
  /** How long the webhook remembers that a subscription id is unknown (caps table reads under attack). */
  unknownSubscriptionCacheSeconds: number;
  /** Keys of signed clientStates (the first signs); undefined: unsigned random clientStates. */
  clientStateKeys: ClientStateKeyring | undefined;
  /** CLIENT_STATE_LOOKUP: whether old-style clientStates are looked up (auto: the timer's census). */
  clientStateLookup: LookupPathMode;
  /** CLIENT_STATE_LOOKUP_REFRESH_SECONDS in ms. */
  clientStateLookupRefreshMs: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  graph: GraphSettings;
  deviceApi: DeviceApiSettings;
  push: PushSettings;
  notifications: NotificationSettings;
  admin: AdminSettings;
  maintenance: {
    /** NCRONTAB of the subscription-maintenance timer (read by the trigger binding). */
    schedule: string;
    /** Subscription writes (create/renew/delete) per tenant per 20 s we allow ourselves. */
    subscriptionWritesPer20Seconds: number;
    /** Renew subscriptions that expire within this window. */
    renewalWindowMs: number;
    /** A full Inbox resync never looks further back than this. */
    resyncWindowMs: number;
    /** The renewal run's lease (renewed at half): how soon a crashed run's lease can be taken over. */
    leaseDurationMs: number;
  };
}

export type Env = Readonly<Record<string, string | undefined>>;

interface SettingSpec {
  name: string;
  secret: boolean;
  description: string;
  default?: string;
}

/**
 * The catalogue of settings: README's table is checked against it by a test, and
 * `describeSettings` uses it to print the effective configuration with secrets redacted.
 */
export const SETTINGS: readonly SettingSpec[] = [
  {
    name: 'TABLES_CONNECTION_STRING',
    secret: true,
    description: 'Table Storage connection string (local/Azurite). Either this or TABLES_ENDPOINT.',
  },
  {
    name: 'TABLES_ENDPOINT',
    secret: false,
    description: 'Table endpoint `https://<account>.table.core.windows.net`, used with the managed identity.',
  },
  {
    name: 'TABLE_NAME_PREFIX',
    secret: false,
    default: 'mailpush',
    description: 'Prefix of every table name (letters and digits, starts with a letter).',
  },
  {
    name: 'ServiceBusConnection',
    secret: true,
    description:
      'Service Bus connection string. Either this or ServiceBusConnection__fullyQualifiedNamespace.',
  },
  {
    name: 'ServiceBusConnection__fullyQualifiedNamespace',
    secret: false,
    description: 'Service Bus namespace host `<ns>.servicebus.windows.net`, used with the managed identity.',
  },
  {
    name: 'AZURE_CLIENT_ID',
    secret: false,
    description: 'Client id of the user-assigned managed identity (set by Bicep).',
  },
  {
    name: 'NOTIFICATION_QUEUE_NAME',
    secret: false,
    default: 'mail-notifications',
    description: 'Service Bus queue for change and lifecycle notifications.',
  },
  {
    name: 'IMPORT_QUEUE_NAME',
    secret: false,
    default: 'mailbox-imports',
    description:
      'Service Bus queue for the chunks of large mailbox imports (written by mailbox-import-processor), so an import never delays mail notifications.',
  },
  {
    name: 'SUBSCRIPTION_CACHE_SECONDS',
    secret: false,
    default: '60',
    description: 'Webhook cache lifetime of a known subscription (0–3600).',
  },
  {
    name: 'UNKNOWN_SUBSCRIPTION_CACHE_SECONDS',
    secret: false,
    default: '10',
    description: 'Webhook cache lifetime of an unknown subscription id (0–3600).',
  },
  ...CLIENT_STATE_SETTING_SPECS,
  {
    name: 'LOG_LEVEL',
    secret: false,
    default: 'info',
    description: '`debug`, `info`, `warn` or `error`.',
  },
  ...GRAPH_SETTING_SPECS,
  ...DEVICE_SETTING_SPECS,
  ...PUSH_SETTING_SPECS,
  ...NOTIFICATION_SETTING_SPECS,
  ...ADMIN_SETTING_SPECS,
  {
    name: 'MAINTENANCE_SCHEDULE',
    secret: false,
    default: '0 */5 * * * *',
    description: 'NCRONTAB (with seconds) of the subscription-maintenance timer.',
  },
  {
    name: 'SUBSCRIPTION_WRITES_PER_20_SECONDS',
    secret: false,
    default: '600',
    description:
      'Subscription writes per tenant per 20 s the renewal timer allows itself (40–1000; Graph publishes 1,000 per app per tenant).',
  },
  {
    name: 'RENEWAL_WINDOW_HOURS',
    secret: false,
    default: '24',
    description: 'Renew subscriptions that expire within this many hours (2–72).',
  },
  {
    name: 'MAINTENANCE_LEASE_SECONDS',
    secret: false,
    default: '300',
    description:
      'Length of the renewal run’s lease (30–600; renewed at half while the run works): after a crashed run, the next run takes the lease over once this has passed.',
  },
  {
    name: 'RESYNC_WINDOW_MINUTES',
    secret: false,
    default: '60',
    description:
      'After `missed` or `subscriptionRemoved`, an Inbox resync without a usable delta link looks back at most this far (5–1440), so old mail is never pushed.',
  },
];

const TABLE_PREFIX = /^[A-Za-z][A-Za-z0-9]{0,31}$/; // 32 leaves room for our longest table suffix within Azure's 63
const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,259}$/;
const SB_NAMESPACE = /^[A-Za-z0-9.-]+(:\d+)?$/;

/**
 * Reads and validates every setting. Collects all problems and throws one ConfigError that
 * names each bad setting and the expected form; values of secret settings are never echoed.
 */
export function loadSettings(env: Env): Settings {
  const problems: string[] = [];
  const get = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const withDefault = (name: string): string => get(name) ?? defaultOf(name);

  const intIn = (name: string, min: number, max: number): number => {
    const raw = withDefault(name);
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max) {
      problems.push(`${name}: expected a whole number from ${min} to ${max}, got ${echoValue(raw)}`);
      return Number(defaultOf(name));
    }
    return value;
  };

  const tablePrefix = withDefault('TABLE_NAME_PREFIX');
  if (!TABLE_PREFIX.test(tablePrefix)) {
    problems.push(
      `TABLE_NAME_PREFIX: expected 1–32 letters or digits starting with a letter, got ${echoValue(tablePrefix)}`,
    );
  }
  let tables: Settings['tables'] | undefined;
  const tablesConnectionString = get('TABLES_CONNECTION_STRING');
  const tablesEndpoint = get('TABLES_ENDPOINT');
  if (tablesConnectionString && tablesEndpoint) {
    problems.push('TABLES_CONNECTION_STRING and TABLES_ENDPOINT: set only one of them');
  } else if (tablesConnectionString) {
    if (!/(^|;)\s*(TableEndpoint|AccountName)=/i.test(tablesConnectionString)) {
      problems.push(
        'TABLES_CONNECTION_STRING: expected a storage connection string with AccountName=… or TableEndpoint=… (value not shown)',
      );
    }
    tables = { kind: 'connectionString', connectionString: tablesConnectionString, tablePrefix };
  } else if (tablesEndpoint) {
    if (!isHttpsUrl(tablesEndpoint)) {
      problems.push(
        `TABLES_ENDPOINT: expected an https URL like https://<account>.table.core.windows.net, got ${echoValue(tablesEndpoint)}`,
      );
    }
    tables = { kind: 'endpoint', endpoint: tablesEndpoint.replace(/\/+$/, ''), tablePrefix };
  } else {
    problems.push(
      'TABLES_CONNECTION_STRING or TABLES_ENDPOINT: one is required (connection string locally, endpoint with managed identity in Azure)',
    );
  }

  let serviceBus: Settings['serviceBus'] | undefined;
  const sbConnectionString = get('ServiceBusConnection');
  const sbNamespace = get('ServiceBusConnection__fullyQualifiedNamespace');
  if (sbConnectionString && sbNamespace) {
    problems.push(
      'ServiceBusConnection and ServiceBusConnection__fullyQualifiedNamespace: set only one of them',
    );
  } else if (sbConnectionString) {
    if (!/(^|;)\s*Endpoint=sb:\/\//i.test(sbConnectionString)) {
      problems.push(
        'ServiceBusConnection: expected a Service Bus connection string starting Endpoint=sb://… (value not shown)',
      );
    }
    serviceBus = { kind: 'connectionString', connectionString: sbConnectionString };
  } else if (sbNamespace) {
    if (!SB_NAMESPACE.test(sbNamespace)) {
      problems.push(
        `ServiceBusConnection__fullyQualifiedNamespace: expected a host name like <namespace>.servicebus.windows.net, got ${echoValue(sbNamespace)}`,
      );
    }
    serviceBus = { kind: 'namespace', fullyQualifiedNamespace: sbNamespace };
  } else {
    problems.push('ServiceBusConnection or ServiceBusConnection__fullyQualifiedNamespace: one is required');
  }

  const notificationQueueName = withDefault('NOTIFICATION_QUEUE_NAME');
  if (!QUEUE_NAME.test(notificationQueueName)) {
    problems.push(
      `NOTIFICATION_QUEUE_NAME: expected a queue name of letters, digits, '.', '-' or '_', got ${echoValue(notificationQueueName)}`,
    );
  }

  const importQueueName = withDefault('IMPORT_QUEUE_NAME');
  if (!QUEUE_NAME.test(importQueueName) || importQueueName === notificationQueueName) {
    problems.push(
      `IMPORT_QUEUE_NAME: expected a queue name of letters, digits, '.', '-' or '_', other than NOTIFICATION_QUEUE_NAME, got ${echoValue(importQueueName)}`,
    );
  }

  const subscriptionCacheSeconds = intIn('SUBSCRIPTION_CACHE_SECONDS', 0, 3600);
  const unknownSubscriptionCacheSeconds = intIn('UNKNOWN_SUBSCRIPTION_CACHE_SECONDS', 0, 3600);
  const clientStateKeys = readClientStateKeys(get, problems);
  const clientStateLookup = readClientStateLookupMode(get, problems);
  const clientStateLookupRefreshMs = readClientStateLookupRefreshMs(get, problems);

  const logLevel = withDefault('LOG_LEVEL');
  if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) {
    problems.push(`LOG_LEVEL: expected debug, info, warn or error, got ${echoValue(logLevel)}`);
  }

  const graph = readGraphSettings(get, problems);
  const deviceApi = readDeviceApiSettings(get, problems, { graphTenantId: get('GRAPH_TENANT_ID') });
  const push = readPushSettings(get, problems);
  const notifications = readNotificationSettings(get, problems, { authorityHost: graph?.authorityHost });
  const admin = readAdminSettings(get, problems);

  const schedule = withDefault('MAINTENANCE_SCHEDULE');
  if (!/^\S+( \S+){5}$/.test(schedule)) {
    problems.push(
      `MAINTENANCE_SCHEDULE: expected an NCRONTAB with six fields (second minute hour day month weekday), got ${echoValue(schedule)}`,
    );
  }
  const subscriptionWritesPer20Seconds = intIn('SUBSCRIPTION_WRITES_PER_20_SECONDS', 40, 1000);
  const renewalWindowHours = intIn('RENEWAL_WINDOW_HOURS', 2, 72);
  const resyncWindowMinutes = intIn('RESYNC_WINDOW_MINUTES', 5, 1440);
  const leaseSeconds = intIn('MAINTENANCE_LEASE_SECONDS', 30, 600);

  if (
    problems.length > 0 ||
    !tables ||
    !serviceBus ||
    !graph ||
    !deviceApi ||
    !push ||
    !notifications ||
    !admin
  ) {
    throw new ConfigError(problems);
  }
  return {
    tables,
    serviceBus,
    managedIdentityClientId: get('AZURE_CLIENT_ID'),
    notificationQueueName,
    importQueueName,
    subscriptionCacheSeconds,
    unknownSubscriptionCacheSeconds,
    clientStateKeys,
    clientStateLookup,
    clientStateLookupRefreshMs,
    logLevel: logLevel as Settings['logLevel'],
    graph,
    deviceApi,
    push,
    notifications,
    admin,
    maintenance: {
      schedule,
      subscriptionWritesPer20Seconds,
      renewalWindowMs: renewalWindowHours * 3_600_000,
      resyncWindowMs: resyncWindowMinutes * 60_000,
      leaseDurationMs: leaseSeconds * 1000,
    },
  };
}

/** The effective configuration as name → value, with secret values replaced, for start-up logs and status. */
export function describeSettings(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const spec of SETTINGS) {
    const value = env[spec.name]?.trim();
    if (value) out[spec.name] = spec.secret || mayCarryKey(value) ? '(set, hidden)' : value;
    else if (spec.default !== undefined) out[spec.name] = `${spec.default} (default)`;
  }
  return out;
}

function defaultOf(name: string): string {
  const spec = SETTINGS.find((s) => s.name === name);
  if (spec?.default === undefined) throw new Error(`setting ${name} has no default`);
  return spec.default;
}

function isHttpsUrl(value: string): boolean {
  try {
    return new URL(value).protocol === 'https:';
  } catch {
    return false;
  }
}
