/**
 * Metrics of one subscription-maintenance run: the heartbeat, renewal outcomes, and gauges read
 * after the run (so `expiring_24h` counts what the renewal pass left, not what it was about to fix).
 */
import { nextRenewalBucket, renewalBucketOf } from '../domain/renewal/buckets.js';
import type { RenewalSchedulePort, WorkQueuePort } from '../domain/ports.js';
import type { RenewalReport } from '../domain/renewal/pass.js';
import type { MailboxWorkReport } from '../domain/enrolment/work-pass.js';
import type { GraphSettings } from '../config/graph-settings.js';
import { ensureError } from '../errors.js';
import { instruments } from './metrics.js';
import { telemetryActive } from './meter.js';

const DAY_MS = 24 * 3_600_000;
/** Bucket partitions listed at once by the expiring scan (288 buckets cover 24 h). */
const SCAN_CONCURRENCY = 16;

export interface MaintenanceMetricsDeps {
  renewalSchedule: Pick<RenewalSchedulePort, 'getCursor' | 'listBucket'>;
  work: Pick<WorkQueuePort, 'count'>;
  graphCredential?: GraphSettings['credential'] | undefined;
}

export interface MaintenanceRunSummary {
  renewal: Pick<RenewalReport, 'leaseHeld' | 'renewed' | 'failed' | 'forbidden'>;
  mailboxes: MailboxWorkReport | { status: 'failed'; error: string };
}

/** One per timer run, first thing: the heartbeat alert fires when these stop. */
export function countMaintenanceRun(): void {
  instruments().maintenanceRuns.add(1);
}

/**
 * Renewal outcomes, then the gauges. The reads behind the gauges happen only when telemetry is on
 * and this run held the renewal lease (one of overlapping runs); a failed read is a warning.
 */
export async function recordMaintenanceMetrics(
  deps: MaintenanceMetricsDeps,
  run: MaintenanceRunSummary,
  now: number,
  warn: (message: string) => void = () => {},
): Promise<void> {
  const i = instruments();
  const { renewal } = run;
  if (renewal.renewed > 0) i.renewals.add(renewal.renewed, { outcome: 'ok' });
  const failed = renewal.failed + renewal.forbidden;
  if (failed > 0) i.renewals.add(failed, { outcome: 'failed' });

  const cert = deps.graphCredential?.kind === 'certificate' ? deps.graphCredential.certificate : undefined;
  const validTo = cert ? Date.parse(cert.info.validTo) : Number.NaN;
  if (Number.isFinite(validTo)) i.credentialDaysLeft.record(Math.floor((validTo - now) / DAY_MS));

  if (!telemetryActive() || !renewal.leaseHeld) return;
  const mailboxWork = 'leaseHeld' in run.mailboxes ? run.mailboxes : undefined;
  try {
    const [expiring, pendingCreate, pendingMigrate] = await Promise.all([
      countExpiringWithin(deps.renewalSchedule, now, now + DAY_MS),
      deps.work.count('create'),
      deps.work.count('migrate'),
    ]);
    i.expiring24h.record(expiring);
    i.mailboxes.record(pendingCreate, { state: 'pending' });
    i.mailboxes.record(pendingMigrate, { state: 'ews' });
    i.migration.record(pendingMigrate, { state: 'pending' });
    if (mailboxWork) {
      i.migration.record(mailboxWork.migrated, { state: 'migrated' });
      i.migration.record(mailboxWork.finalFailures, { state: 'failed' });
    }
  } catch (error) {
    warn(`maintenance metrics: a read failed, gauges not updated: ${ensureError(error).message}`);
  }
}

/**
 * Subscriptions whose expiry is before `until`, from the renewal schedule: every bucket from the
 * cursor (the oldest that still holds entries) to `until`'s bucket; an entry due later than its
 * expiry does not exist (due = expiry − window, or a retry before it).
 */
export async function countExpiringWithin(
  schedule: Pick<RenewalSchedulePort, 'getCursor' | 'listBucket'>,
  now: number,
  until: number,
): Promise<number> {
  const cursor = await schedule.getCursor();
  const last = renewalBucketOf(until);
  let bucket = cursor?.bucket ?? renewalBucketOf(now - DAY_MS);
  const buckets: string[] = [];
  while (bucket <= last) {
    buckets.push(bucket);
    bucket = nextRenewalBucket(bucket);
  }
  let expiring = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(SCAN_CONCURRENCY, buckets.length) }, async () => {
      while (next < buckets.length) {
        const entries = await schedule.listBucket(buckets[next++]!);
        for (const entry of entries) if (entry.expiresAt < until) expiring++;
      }
    }),
  );
  return expiring;
}
