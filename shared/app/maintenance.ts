import { randomUUID } from 'node:crypto';
import { syncEnrolmentGroups, type GroupSyncReport } from '../admin/groups.js';
import { readMigrationSwitch, recordMigrationRun } from '../admin/migration.js';
import {
  MAILBOX_WORK_CONCURRENCY,
  runMailboxWork,
  type MailboxWorkReport,
} from '../domain/enrolment/work-pass.js';
import { runRenewalPass, type RenewalReport } from '../domain/renewal/pass.js';
import { workKeyFor } from '../store/work-queue-store.js';
import { ensureError } from '../errors.js';
import { purgeExpiredDeliveryRecords } from '../delivery/index.js';
import { retentionCutoffDay } from '../domain/idempotency.js';
import { countMaintenanceRun, recordMaintenanceMetrics } from '../telemetry/index.js';
import type { Services } from './services.js';
import {
  RenewedSubscriptions,
  censusIsActive,
  runClientStateCensus,
  type ClientStateCensusReport,
} from './client-state-census.js';

/** Delivery records deleted per run at most; the rest wait for the next run (`more: true`). */
export const DELIVERY_PURGE_MAX_ROWS_PER_RUN = 50_000;
/** Rows per purge call: each call lists then deletes at most this many (bounded memory). */
const DELIVERY_PURGE_ROWS_PER_CALL = 10_000;
/**
 * No purge call starts later than this into a run. host.json's functionTimeout is 5 minutes and
 * the renewal pass stops starting work after 4; a call of 10,000 rows takes seconds.
 */
const DELIVERY_PURGE_START_DEADLINE_MS = 4.5 * 60_000;

/** What the purge of expired delivery records did in this run (part of the timer's log line). */
export type DeliveryPurgeReport =
  | {
      status: 'done' | 'failed';
      /** Days before this one (`yyyyMMdd`, UTC) are past `DELIVERY_RECORD_RETENTION_DAYS`. */
      before: string;
      /** Rows deleted in this run. */
      deleted: number;
      /** Days (`yyyyMMdd`) rows were deleted from, oldest first. */
      days: string[];
      /** True when expired rows are left for the next run (row budget, time, or a failure). */
      more: boolean;
    }
  | {
      status: 'skipped';
      /**
       * `lease_not_held`: another run holds the renewal lease and purges; `lease_lost`: the lease
       * was taken over during this run; `out_of_time`: the renewal pass used the run's time.
       */
      reason: 'lease_not_held' | 'lease_lost' | 'out_of_time';
    };

export interface MaintenanceReport extends RenewalReport {
  /** Members of the enrolment groups enrolled (or unenrolled) from their member delta. */
  groups: GroupSyncReport | { status: 'failed'; error: string };
  /** Pending mailboxes given subscriptions and EWS mailboxes migrated (after the renewals). */
  mailboxes: MailboxWorkReport | { status: 'failed'; error: string };
  purge: DeliveryPurgeReport;
  /** The census of old-style clientStates (lookup path): renewed ones classified, recreated as v2. */
  clientStates: ClientStateCensusReport;
}

/** The last run's report, kept for the status page (control document). */
export const LAST_MAINTENANCE_RUN = 'maintenance-last-run';

/** No mailbox work starts later than this into a run (host.json's functionTimeout is 5 minutes). */
const MAILBOX_WORK_DEADLINE_MS = 4 * 60_000;

export interface MaintenanceOptions {
  /** Epoch ms. Default Date.now. */
  now?: () => number;
  /** Default DELIVERY_PURGE_MAX_ROWS_PER_RUN. */
  purgeMaxRows?: number;
}

/**
 * One run of the subscription-maintenance timer: the renewal pass over the due buckets, under
 * the lease, within the per-tenant write budget. Gone subscriptions are recreated (and their
 * Inbox resynced); 403s are recorded on the mailbox with what to do about them. Then, only if this
 * run held the renewal lease (so of overlapping runs exactly one does it), expired delivery
 * records are purged, bounded per run; a failed purge is a warning, never a failed run.
 */
export async function runMaintenance(
  services: Services,
  warn: (message: string) => void = () => {},
  options: MaintenanceOptions = {},
): Promise<MaintenanceReport> {
  const now = options.now ?? (() => Date.now());
  const start = now();
  countMaintenanceRun();
  // The census watches what the pass renews, until it has switched the lookup path off for good.
  const renewed = new RenewedSubscriptions();
  renewed.active = await censusIsActive(services).catch((error: unknown) => {
    warn(`reading the clientState census failed: ${ensureError(error).message}`);
    return false;
  });
  const renewal = await runRenewalPass({
    now,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    schedule: services.renewalSchedule,
    graph: renewed.wrap(services.renewals),
    lease: services.leases,
    budgets: services.writeBudgets,
    options: {
      windowMs: services.settings.maintenance.renewalWindowMs,
      leaseDurationMs: services.settings.maintenance.leaseDurationMs,
    },
    onGone: async (entry) => {
      await services.lifecycle.recreate(entry.subscriptionId);
    },
    onForbidden: async (entry, reason) => {
      const subscription = await services.subscriptions.getSubscription(entry.subscriptionId);
      if (subscription) await services.lifecycle.recordMailboxError(subscription.mailboxEmail, reason);
    },
    onWarning: (message, error) => warn(error instanceof Error ? `${message}: ${error.message}` : message),
  });

  // Renewals first: new work must never cause an expiry. Then new group members, then the
  // mailboxes waiting for Graph (which picks up the members just enrolled).
  const groups = await runGroupSyncStep(services, warn, now, start + MAILBOX_WORK_DEADLINE_MS);
  const mailboxes = await runMailboxWorkStep(services, warn, now, start + MAILBOX_WORK_DEADLINE_MS);

  const clientStates = await runClientStateCensus(services, renewed, renewal, {
    now,
    deadline: start + MAILBOX_WORK_DEADLINE_MS,
    warn,
  });

  let purge: DeliveryPurgeReport;
  if (!renewal.leaseHeld) purge = { status: 'skipped', reason: 'lease_not_held' };
  else if (renewal.stoppedBy === 'leaseLost') purge = { status: 'skipped', reason: 'lease_lost' };
  else {
    purge = await purgeDeliveryRecords(services, warn, {
      now,
      deadline: start + DELIVERY_PURGE_START_DEADLINE_MS,
      maxRows: options.purgeMaxRows ?? DELIVERY_PURGE_MAX_ROWS_PER_RUN,
    });
  }
  const report = { ...renewal, groups, mailboxes, purge, clientStates };
  await recordMaintenanceMetrics(
    { ...services, graphCredential: services.settings.graph?.credential },
    { renewal, mailboxes },
    now(),
    warn,
  );
  try {
    await services.control.put(LAST_MAINTENANCE_RUN, {
      at: new Date(start).toISOString(),
      durationMs: now() - start,
      report,
    });
  } catch (error) {
    warn(`recording the run report failed: ${ensureError(error).message}`);
  }
  return report;
}

async function runGroupSyncStep(
  services: Services,
  warn: (message: string) => void,
  now: () => number,
  deadline: number,
): Promise<MaintenanceReport['groups']> {
  const { admin } = services.settings;
  try {
    const report = await syncEnrolmentGroups(
      { ...services.controlPlane, now, membership: services.membership, lease: services.leases },
      {
        groupIds: admin.enrolmentGroupIds,
        removeLeavers: admin.enrolmentGroupRemove,
        deadline,
        owner: randomUUID(),
      },
    );
    for (const failure of report.failed) warn(`enrolment group ${failure.groupId}: ${failure.error}`);
    return report;
  } catch (error) {
    const message = ensureError(error).message;
    warn(`enrolment group sync failed; the next run continues: ${message}`);
    return { status: 'failed', error: message };
  }
}

async function runMailboxWorkStep(
  services: Services,
  warn: (message: string) => void,
  now: () => number,
  deadline: number,
): Promise<MaintenanceReport['mailboxes']> {
  try {
    const { admin, graph } = services.settings;
    const migration = await readMigrationSwitch(services.control);
    const report = await runMailboxWork(
      {
        now,
        sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
        mailboxes: services.mailboxes,
        work: services.work,
        directory: services.directory,
        createSubscription: (mailbox) => services.lifecycle.createForMailbox(mailbox),
        budgets: services.writeBudgets,
        lease: services.leases,
        notificationUrl: `${graph.publicBaseUrl}/api/notifications`,
        workKeyFor,
      },
      {
        migrationEnabled: migration.enabled,
        migrationBatchSize: admin.migrationBatchSize,
        maxAttempts: admin.maxAttempts,
        maxCreationsPerRun: admin.creationsPerRun,
        deadline,
        concurrency: MAILBOX_WORK_CONCURRENCY,
        owner: randomUUID(),
      },
    );
    if (migration.enabled && report.leaseHeld) {
      const failed = Object.values(report.failures).reduce((sum, n) => sum + n, 0);
      await recordMigrationRun(services.control, {
        at: new Date(now()).toISOString(),
        migrated: report.migrated,
        failed,
      });
    }
    return report;
  } catch (error) {
    const message = ensureError(error).message;
    warn(`mailbox work failed; the next run continues: ${message}`);
    return { status: 'failed', error: message };
  }
}

/** Deletes delivery records of days past the retention, in calls of ≤ 10,000 rows, within the budgets. */
async function purgeDeliveryRecords(
  services: Services,
  warn: (message: string) => void,
  limits: { now: () => number; deadline: number; maxRows: number },
): Promise<DeliveryPurgeReport> {
  const retentionDays = services.settings.notifications.retentionDays;
  // One clock reading for the whole purge, so every call agrees on the cutoff day.
  const at = limits.now();
  if (at >= limits.deadline) return { status: 'skipped', reason: 'out_of_time' };
  const before = retentionCutoffDay(at, retentionDays);
  const days = new Set<string>();
  let deleted = 0;
  let more = true;
  try {
    while (more && deleted < limits.maxRows && limits.now() < limits.deadline) {
      const report = await purgeExpiredDeliveryRecords(
        services.deliveries,
        retentionDays,
        at,
        Math.min(DELIVERY_PURGE_ROWS_PER_CALL, limits.maxRows - deleted),
      );
      deleted += report.deleted;
      for (const day of report.days) days.add(day);
      more = report.more;
      // Rows listed but already gone (an overlapping purge): do not spin on them.
      if (report.deleted === 0) break;
    }
  } catch (error) {
    warn(
      `purging expired delivery records failed after ${deleted} row(s); the next run continues: ${ensureError(error).message}`,
    );
    return { status: 'failed', before, deleted, days: [...days].sort(), more: true };
  }
  return { status: 'done', before, deleted, days: [...days].sort(), more };
}
