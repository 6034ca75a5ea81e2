/**
 * Table Storage repositories. The only code that imports @azure/data-tables lives in this folder.
 */
import { DEVICES_TABLE_SUFFIX, TableDeviceStore } from './device-store.js';
import { LEASES_TABLE_SUFFIX, TableLeaseStore } from './lease-store.js';
import { MAILBOXES_TABLE_SUFFIX, TableMailboxStore } from './mailbox-store.js';
import { RENEWAL_SCHEDULE_TABLE_SUFFIX, TableRenewalScheduleStore } from './renewal-schedule-store.js';
import { SUBSCRIPTIONS_TABLE_SUFFIX, TableSubscriptionStore } from './subscription-store.js';
import { CONTROL_TABLE_SUFFIX, TableControlStore } from './control-store.js';
import { TableImportJobStore } from './import-job-store.js';
import { IDEMPOTENCY_TABLE_SUFFIX } from './idempotency-store.js';
import { TableClients, type TableStoreOptions } from './tables.js';
import { TableWorkQueueStore, WORK_QUEUE_TABLE_SUFFIX } from './work-queue-store.js';

/** Every table the app uses (TABLE_NAME_PREFIX + suffix); infra/main.bicep creates the same list. */
export const TABLE_SUFFIXES = [
  MAILBOXES_TABLE_SUFFIX,
  SUBSCRIPTIONS_TABLE_SUFFIX,
  RENEWAL_SCHEDULE_TABLE_SUFFIX,
  LEASES_TABLE_SUFFIX,
  DEVICES_TABLE_SUFFIX,
  IDEMPOTENCY_TABLE_SUFFIX,
  WORK_QUEUE_TABLE_SUFFIX,
  CONTROL_TABLE_SUFFIX,
] as const;

export interface TableStores {
  mailboxes: TableMailboxStore;
  subscriptions: TableSubscriptionStore;
  /** Renewal schedule by due-time bucket, plus its cursor (table name: `renewalSchedule.tableName`). */
  renewalSchedule: TableRenewalScheduleStore;
  /** Leases for timer runs (table name: `leases.tableName`). */
  leases: TableLeaseStore;
  /** Devices by mailbox (PartitionKey = email, RowKey = device id). */
  devices: TableDeviceStore;
  /** Mailboxes waiting for Graph work (PartitionKey = create | migrate, RowKey = due time + email). */
  work: TableWorkQueueStore;
  /** The control plane's small documents (migration switch, group delta links, run reports). */
  control: TableControlStore;
  /** Large imports' progress (control table, PartitionKey = `import-<job id>`). */
  imports: TableImportJobStore;
  /** The actual table names (prefix + suffix), e.g. for status pages and tests. */
  tableNames: { mailboxes: string; subscriptions: string };
  /** Creates the tables if missing. Idempotent; call once at start-up. */
  ensureTables(): Promise<void>;
}

/** Builds the stores; makes no request until used. Throws ConfigError for bad options. */
export function createTableStores(options: TableStoreOptions): TableStores {
  const tables = new TableClients(options);
  const mailboxes = new TableMailboxStore(tables.client(MAILBOXES_TABLE_SUFFIX));
  const subscriptions = new TableSubscriptionStore(tables.client(SUBSCRIPTIONS_TABLE_SUFFIX));
  const renewalSchedule = new TableRenewalScheduleStore(tables.client(RENEWAL_SCHEDULE_TABLE_SUFFIX));
  const leases = new TableLeaseStore(tables.client(LEASES_TABLE_SUFFIX));
  const devices = new TableDeviceStore(tables.client(DEVICES_TABLE_SUFFIX));
  const work = new TableWorkQueueStore(tables.client(WORK_QUEUE_TABLE_SUFFIX));
  const control = new TableControlStore(tables.client(CONTROL_TABLE_SUFFIX));
  const imports = new TableImportJobStore(tables.client(CONTROL_TABLE_SUFFIX));
  return {
    mailboxes,
    subscriptions,
    renewalSchedule,
    leases,
    devices,
    work,
    control,
    imports,
    tableNames: { mailboxes: mailboxes.tableName, subscriptions: subscriptions.tableName },
    ensureTables: () =>
      tables.ensureTables(TABLE_SUFFIXES.filter((suffix) => suffix !== IDEMPOTENCY_TABLE_SUFFIX)),
  };
}

export { TableMailboxStore, MAILBOXES_TABLE_SUFFIX } from './mailbox-store.js';
export { TableSubscriptionStore, SUBSCRIPTIONS_TABLE_SUFFIX } from './subscription-store.js';
export { TableRenewalScheduleStore, RENEWAL_SCHEDULE_TABLE_SUFFIX } from './renewal-schedule-store.js';
export { TableLeaseStore, LEASES_TABLE_SUFFIX } from './lease-store.js';
export {
  TableClients,
  DEFAULT_TABLE_PREFIX,
  MAX_TABLE_PREFIX_LENGTH,
  validateTablePrefix,
  type TableStoreOptions,
  type TableRetryOptions,
} from './tables.js';
export {
  normaliseEmail,
  validateSubscriptionId,
  assertValidKey,
  MAX_KEY_LENGTH,
  MAX_EMAIL_LENGTH,
} from './keys.js';
export { TableWorkQueueStore, WORK_QUEUE_TABLE_SUFFIX, workKeyFor } from './work-queue-store.js';
export { TableControlStore, CONTROL_TABLE_SUFFIX } from './control-store.js';
export { TableImportJobStore, isImportJobId } from './import-job-store.js';
