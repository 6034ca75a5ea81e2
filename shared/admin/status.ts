/**
 * The status page: one document with a verdict (ok / warning / critical), every reason in words,
 * and what it is based on: the credential card, mailboxes by state, subscriptions close to expiry,
 * the maintenance timer's last run, the migration's progress and the dead-letter count.
 *
 * Cheap to call: the counts (a paged scan of the mailboxes, the renewal schedule's buckets up to
 * 72 hours ahead), the token check and the dead-letter count are each kept for a minute in this
 * process (`countedAt` says when they were taken); only the control documents are read each time.
 */
import type { DeadLetterCount } from '../queue/dead-letters.js';
import { MAILBOX_STATES, mailboxStateOf, type MailboxState } from '../domain/enrolment/states.js';
import { RENEWAL_BUCKET_MS, renewalBucketOf, renewalBucketStart } from '../domain/renewal/buckets.js';
import type {
  ControlStorePort,
  MailboxListing,
  RenewalSchedulePort,
  WorkQueuePort,
} from '../domain/ports.js';
import { ensureError } from '../errors.js';
import {
  credentialCard,
  credentialReason,
  tokenFailure,
  type CredentialCard,
  type CredentialSource,
} from './credential-card.js';
import { migrationProgress, type MigrationProgress } from './migration.js';
import {
  CENSUS_CYCLE_MS,
  CLIENT_STATE_CENSUS,
  lookupPathStatus,
  type ClientStateCensus,
  type LookupPathMode,
  type LookupPathStatus,
} from '../domain/lookup-path.js';

/** The maintenance report's control document (shared/app/maintenance.ts LAST_MAINTENANCE_RUN). */
export const MAINTENANCE_LAST_RUN = 'maintenance-last-run';
/** No maintenance run for this long: critical (three missed 5-minute runs). */
export const MAINTENANCE_STALE_MS = 15 * 60_000;
/** How long counts, the token check and the dead-letter count are reused. */
export const STATUS_CACHE_MS = 60_000;
/** Renewal-schedule buckets read at most per count (72 h ahead plus a backlog of 3 days). */
const MAX_BUCKETS = 2 * 864;
const BUCKET_READS_IN_PARALLEL = 32;
const HOUR_MS = 3_600_000;

export type Verdict = 'ok' | 'warning' | 'critical';

export interface StatusDocument {
  verdict: Verdict;
  reasons: string[];
  version: string;
  settings: Record<string, string>;
  credential: CredentialCard;
  mailboxes: { byState: Record<MailboxState, number>; total: number; countedAt: string };
  subscriptions: {
    /** Still scheduled for renewal but already past their expiry: their mailboxes get no pushes. */
    expired: number;
    /** Expiring in the next 24 hours. */
    within24h: number;
    /** Expiring in the next 72 hours (those within 24 hours included). */
    within72h: number;
    /** Of `within24h`: renewal overdue, or not due before the expiry. */
    within24hUnscheduled: number;
    countedAt: string;
  };
  maintenance: {
    lastRun?: {
      at: string;
      durationMs: number;
      renewed: number;
      created: number;
      migrated: number;
      failures: Record<string, number>;
    };
    nextRunAt?: string;
    stale: boolean;
  };
  migration: MigrationProgress;
  queue: { deadLetters: number | null; detail?: string };
  /**
   * The webhook's lookup path for old-style (unsigned or v1) clientStates: on while such
   * subscriptions may remain (with the timer's count), off once none is left.
   */
  lookupPath: LookupPathStatus;
}

export type TokenCheck = { ok: true } | { ok: false; detail: string; action: string };
export type { DeadLetterCount };

export interface StatusDeps {
  now: () => number;
  version: string;
  /** describeSettings(env): the effective settings, secrets hidden. */
  settings: () => Record<string, string>;
  credential: CredentialSource;
  /** Gets a Graph token with a credential of its own; throws @azure/identity's error. */
  acquireToken: () => Promise<void>;
  deadLetters: () => Promise<DeadLetterCount>;
  mailboxes: MailboxListing;
  renewalSchedule: Pick<RenewalSchedulePort, 'listBucket' | 'getCursor'>;
  control: ControlStorePort;
  work: WorkQueuePort;
  migrationBatchSize: number;
  /** CLIENT_STATE_LOOKUP and whether CLIENT_STATE_KEYS is set. */
  lookupPath?: { mode: LookupPathMode; keysConfigured: boolean };
  /** The timer's period when known from its schedule (NCRONTAB), for `nextRunAt`. */
  maintenanceIntervalMs?: number;
  /** Default STATUS_CACHE_MS. */
  cacheMs?: number;
}

interface StoredRun {
  at: string;
  durationMs: number;
  report?: {
    renewed?: number;
    mailboxes?: {
      status?: string;
      error?: string;
      created?: number;
      migrated?: number;
      failures?: Record<string, number>;
    };
  };
}

/** Builds status documents; keeps the expensive parts for `cacheMs` (one instance per process). */
export class StatusReporter {
  private readonly mailboxCounts: Cached<StatusDocument['mailboxes']>;
  private readonly subscriptionCounts: Cached<StatusDocument['subscriptions']>;
  private readonly tokenCheck: Cached<TokenCheck>;
  private readonly deadLetters: Cached<DeadLetterCount>;

  constructor(private readonly deps: StatusDeps) {
    const ttl = deps.cacheMs ?? STATUS_CACHE_MS;
    this.mailboxCounts = new Cached(ttl, deps.now, () => countMailboxes(deps));
    this.subscriptionCounts = new Cached(ttl, deps.now, () => countSubscriptions(deps));
    this.tokenCheck = new Cached(ttl, deps.now, async () => {
      try {
        await deps.acquireToken();
        return { ok: true };
      } catch (error) {
        const failure = tokenFailure(error);
        return { ok: false, detail: failure.detail, action: failure.action };
      }
    });
    this.deadLetters = new Cached(ttl, deps.now, () =>
      deps.deadLetters().catch((error: unknown): DeadLetterCount => ({
        deadLetters: null,
        detail: `could not read the queue's runtime properties: ${ensureError(error).message}`,
      })),
    );
  }

  /** Drops what is kept, so the next document counts afresh (e.g. right after a known change). */
  invalidate(): void {
    for (const cached of [this.mailboxCounts, this.subscriptionCounts, this.tokenCheck, this.deadLetters])
      cached.invalidate();
  }

  async status(): Promise<StatusDocument> {
    const { deps } = this;
    const now = deps.now();
    const [mailboxes, subscriptions, token, queue, lastRun, migration, census] = await Promise.all([
      this.mailboxCounts.get(),
      this.subscriptionCounts.get(),
      this.tokenCheck.get(),
      this.deadLetters.get(),
      deps.control.get<StoredRun>(MAINTENANCE_LAST_RUN),
      migrationProgress(deps, { batchSize: deps.migrationBatchSize }),
      deps.control.get<ClientStateCensus>(CLIENT_STATE_CENSUS),
    ]);
    const lookupPath = lookupPathStatus(census?.value, {
      mode: deps.lookupPath?.mode ?? 'auto',
      keysConfigured: deps.lookupPath?.keysConfigured ?? false,
      cycleMs: CENSUS_CYCLE_MS,
    });
    const credential = credentialCard(deps.credential, now);
    const maintenance = maintenanceSection(lastRun?.value, now, deps.maintenanceIntervalMs);
    const assessment = assess({
      now,
      credential,
      token,
      mailboxes,
      subscriptions,
      maintenance,
      lastRun: lastRun?.value,
      queue,
    });
    return {
      ...assessment,
      version: deps.version,
      settings: deps.settings(),
      credential,
      mailboxes,
      subscriptions,
      maintenance,
      migration,
      queue,
      lookupPath,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Verdict

export interface Assessment {
  verdict: Verdict;
  reasons: string[];
}

/** Pure: the verdict and its reasons, critical ones first. */
export function assess(input: {
  now: number;
  credential: CredentialCard;
  token: TokenCheck;
  mailboxes: StatusDocument['mailboxes'];
  subscriptions: StatusDocument['subscriptions'];
  maintenance: StatusDocument['maintenance'];
  lastRun: StoredRun | undefined;
  queue: DeadLetterCount;
}): Assessment {
  const critical: string[] = [];
  const warning: string[] = [];
  const { credential, token, subscriptions, maintenance, mailboxes, queue } = input;

  const credentialText = credentialReason(credential, input.now);
  if (credentialText) (credential.status === 'critical' ? critical : warning).push(credentialText);
  if (!token.ok) critical.push(`The app cannot get a Graph token (${token.detail}): ${token.action}`);
  if (maintenance.stale) {
    critical.push(
      maintenance.lastRun
        ? `The maintenance timer has not run for ${Math.round((input.now - Date.parse(maintenance.lastRun.at)) / 60_000)} minutes (last run ${maintenance.lastRun.at}): subscriptions are not renewed. Check that the function app is running and the subscription-maintenance function is enabled.`
        : 'The maintenance timer has never run: subscriptions are not renewed or created. Check that the function app is running and the subscription-maintenance function is enabled.',
    );
  }
  if (subscriptions.expired > 0) {
    critical.push(
      `${subscriptions.expired} subscription(s) expired without being renewed: their mailboxes get no pushes until the maintenance timer recreates them. Check the timer's log.`,
    );
  }
  if (subscriptions.within24hUnscheduled > 0) {
    warning.push(
      `${subscriptions.within24hUnscheduled} subscription(s) expire within 24 hours and their renewal is overdue or not due before then: check the maintenance timer's log (throttling, failures).`,
    );
  }
  const failed = mailboxes.byState.failed;
  if (failed > 0) {
    warning.push(
      `${failed} mailbox(es) failed: see GET /api/manage/mailboxes?state=failed for why, fix it, then POST /api/manage/migration/retry-failed.`,
    );
  }
  const work = input.lastRun?.report?.mailboxes;
  if (work?.status === 'failed') {
    warning.push(
      `The last maintenance run's mailbox work failed (${work.error ?? 'no detail'}); the next run continues.`,
    );
  }
  if (queue.deadLetters !== null && queue.deadLetters > 0) {
    warning.push(
      `${queue.deadLetters} notification(s) in the queue's dead-letter queue: those mails were not pushed. See the notification-processor log for why.`,
    );
  }
  return {
    verdict: critical.length > 0 ? 'critical' : warning.length > 0 ? 'warning' : 'ok',
    reasons: [...critical, ...warning],
  };
}

// ---------------------------------------------------------------------------------------------
// Sections

export function maintenanceSection(
  run: StoredRun | undefined,
  now: number,
  intervalMs: number | undefined,
): StatusDocument['maintenance'] {
  const at = run ? Date.parse(run.at) : Number.NaN;
  if (!run || !Number.isFinite(at)) return { stale: true };
  const report = run.report ?? {};
  const work = report.mailboxes ?? {};
  const failures: Record<string, number> = {};
  for (const [reason, n] of Object.entries(work.failures ?? {})) if (n > 0) failures[reason] = n;
  const nextRunAt =
    intervalMs !== undefined && intervalMs > 0
      ? new Date((Math.floor(Math.max(now, at) / intervalMs) + 1) * intervalMs).toISOString()
      : undefined;
  return {
    lastRun: {
      at: run.at,
      durationMs: run.durationMs,
      renewed: report.renewed ?? 0,
      created: work.created ?? 0,
      migrated: work.migrated ?? 0,
      failures,
    },
    ...(nextRunAt ? { nextRunAt } : {}),
    stale: now - at > MAINTENANCE_STALE_MS,
  };
}

async function countMailboxes(deps: Pick<StatusDeps, 'mailboxes' | 'now'>) {
  const byState = Object.fromEntries(MAILBOX_STATES.map((s) => [s, 0])) as Record<MailboxState, number>;
  let total = 0;
  let continuationToken: string | undefined;
  do {
    const page = await deps.mailboxes.listMailboxes({
      pageSize: 1000,
      ...(continuationToken ? { continuationToken } : {}),
    });
    for (const mailbox of page.mailboxes) {
      byState[mailboxStateOf(mailbox)]++;
      total++;
    }
    continuationToken = page.continuationToken;
  } while (continuationToken);
  return { byState, total, countedAt: new Date(deps.now()).toISOString() };
}

/**
 * Reads the renewal schedule from its cursor (everything older is known to be empty) to 72 hours
 * ahead: an entry is due before its subscription expires, so every subscription expiring within
 * 72 hours is in those buckets.
 */
async function countSubscriptions(deps: Pick<StatusDeps, 'renewalSchedule' | 'now'>) {
  const now = deps.now();
  const last = renewalBucketStart(renewalBucketOf(now + 72 * HOUR_MS));
  const cursor = await deps.renewalSchedule.getCursor();
  let first = cursor ? renewalBucketStart(cursor.bucket) : renewalBucketStart(renewalBucketOf(now - HOUR_MS));
  first = Math.max(first, last - (MAX_BUCKETS - 1) * RENEWAL_BUCKET_MS);
  const buckets: string[] = [];
  for (let t = first; t <= last; t += RENEWAL_BUCKET_MS) buckets.push(renewalBucketOf(t));
  const counts = { expired: 0, within24h: 0, within72h: 0, within24hUnscheduled: 0 };
  let next = 0;
  await Promise.all(
    Array.from({ length: BUCKET_READS_IN_PARALLEL }, async () => {
      while (next < buckets.length) {
        const entries = await deps.renewalSchedule.listBucket(buckets[next++]!);
        for (const entry of entries) {
          if (entry.expiresAt <= now) counts.expired++;
          else if (entry.expiresAt <= now + 72 * HOUR_MS) {
            counts.within72h++;
            if (entry.expiresAt <= now + 24 * HOUR_MS) {
              counts.within24h++;
              // Overdue by more than three timer periods, or not due before it expires.
              if (entry.dueAt >= entry.expiresAt || entry.dueAt < now - MAINTENANCE_STALE_MS)
                counts.within24hUnscheduled++;
            }
          }
        }
      }
    }),
  );
  return { ...counts, countedAt: new Date(now).toISOString() };
}

/** The timer's period from an NCRONTAB like `0 *\/5 * * * *` (our default); undefined for other shapes. */
export function intervalOfSchedule(schedule: string): number | undefined {
  const fields = schedule.trim().split(/\s+/);
  if (fields.length !== 6 || fields.slice(2).some((f) => f !== '*') || !/^\d+$/.test(fields[0]!))
    return undefined;
  const minutes = /^\*\/(\d+)$/.exec(fields[1]!);
  if (!minutes) return undefined;
  const n = Number(minutes[1]);
  return n >= 1 && n <= 60 && 60 % n === 0 ? n * 60_000 : undefined;
}

/** A value kept for `ttlMs`; concurrent callers share one load; a failed load is not kept. */
class Cached<T> {
  private value: { at: number; value: T } | undefined;
  private pending: Promise<T> | undefined;

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number,
    private readonly load: () => Promise<T>,
  ) {}

  invalidate(): void {
    this.value = undefined;
  }

  get(): Promise<T> {
    if (this.value && this.now() - this.value.at < this.ttlMs) return Promise.resolve(this.value.value);
    this.pending ??= this.load().then(
      (value) => {
        this.value = { at: this.now(), value };
        this.pending = undefined;
        return value;
      },
      (error: unknown) => {
        this.pending = undefined;
        throw error;
      },
    );
    return this.pending;
  }
}
