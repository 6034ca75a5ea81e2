/**
 * One run of subscription renewal: take the lease, read the due buckets from the cursor on, plan,
 * send `$batch`es within each tenant's write budget, reschedule every entry by its outcome, move
 * the cursor, release the lease. The clock, the sleep and every store are injected, so this runs
 * unchanged in the Azure timer, in unit tests and in the benchmark's virtual time.
 *
 * Schedule entries are never lost: an entry is only deleted after its replacement is written (or
 * after `onGone` has taken the subscription over), always with the ETag read, so a concurrent
 * change wins over our delete. A failure at any point leaves the old entry due, and the next run
 * retries it.
 */
import { ConcurrencyError } from '../../errors.js';
import type {
  Lease,
  LeasePort,
  RenewalOutcome,
  RenewalRequest,
  RenewalScheduleEntry,
  RenewalSchedulePort,
  StoredRenewalScheduleEntry,
  SubscriptionRenewalPort,
} from '../ports.js';
import { nextRenewalBucket, renewalBucketOf } from './buckets.js';
import { newExpiry, renewalAnchor, renewalDueAt } from './expiry.js';
import { DEFAULT_RENEWAL_OPTIONS, resolveRenewalOptions, type RenewalOptions } from './options.js';
import {
  classifyOutcome,
  forbiddenReason,
  parseGraphTime,
  retryAfterOf,
  retryBackoffMs,
} from './outcomes.js';
import { comparePriority, planRenewals, type PlannedRenewal } from './plan.js';
import { TenantBudgets } from './token-bucket.js';

export interface RenewalPassDeps {
  /** Epoch ms. */
  now: () => number;
  /** Waits `ms` (a timer in Azure; virtual time in tests and the benchmark). */
  sleep: (ms: number) => Promise<void>;
  schedule: RenewalSchedulePort;
  graph: SubscriptionRenewalPort;
  lease: LeasePort;
  /**
   * The subscription is gone (Graph answered 404, or it expired long ago): recreate it and
   * schedule the new one. Must be idempotent and check the mailbox still uses this subscription
   * id (a stale entry of a deliberately deleted subscription also ends up here). The entry is
   * removed once this resolves; if it throws, the entry is kept and retried later.
   */
  onGone: (entry: StoredRenewalScheduleEntry) => Promise<void>;
  /** Graph answered 403: record the reason where operators see it. The entry is retried later. */
  onForbidden: (entry: StoredRenewalScheduleEntry, reason: string) => Promise<void>;
  /** Per-tenant budgets; keep one per process so consecutive runs share it. Default: a fresh one. */
  budgets?: TenantBudgets;
  options?: Partial<RenewalOptions>;
  /** Problems that do not stop the run (a failed table write, a failing callback). */
  onWarning?: (message: string, error?: unknown) => void;
}

export type RenewalStop = 'done' | 'timeBudget' | 'leaseLost' | 'leaseNotHeld';

export interface RenewalReport {
  /** False if another run held the lease: then nothing was done. */
  leaseHeld: boolean;
  stoppedBy: RenewalStop;
  /** Members Graph renewed (2xx). */
  renewed: number;
  /** Handed to `onGone`. */
  gone: number;
  /** Handed to `onForbidden`. */
  forbidden: number;
  /** Members that failed with another 4xx (rescheduled with the longest backoff). */
  failed: number;
  /** Members answered 429. */
  throttled: number;
  /** Members answered 5xx/408, or whose request failed as a whole. */
  transient: number;
  /** Throttled or transient members put back for a retry (later in this run or a later one). */
  retried: number;
  /** `$batch` requests sent. */
  graphRequests: number;
  /** Due renewals left for a later run: over the per-run cap, out of time, waiting to fill a batch, or retrying. */
  deferred: number;
  /** Of `deferred`: held back to fill a tenant's partial batch. */
  heldForBatching: number;
  bucketsRead: number;
  entriesRead: number;
  /** Schedule writes that failed (the entries stay due and are retried). */
  storeErrors: number;
  durationMs: number;
}

interface WorkItem {
  planned: PlannedRenewal;
  /** Failed attempts in this run. */
  attempts: number;
  retryAt: number;
  lastError: string | undefined;
}

interface TenantQueue {
  tenantId: string;
  /** Planned batches not sent yet, in order. */
  batches: PlannedRenewal[][];
  /** Members waiting to be retried; they ride along in this tenant's later batches. */
  retries: WorkItem[];
}

type Choice =
  | { kind: 'send'; queue: TenantQueue; planned: PlannedRenewal[]; retries: WorkItem[] }
  | { kind: 'wait'; until: number }
  | { kind: 'idle' };

export async function runRenewalPass(deps: RenewalPassDeps): Promise<RenewalReport> {
  const options = resolveRenewalOptions(deps.options);
  return new RenewalPass(deps, options).run();
}

class RenewalPass {
  private readonly budgets: TenantBudgets;
  private readonly start: number;
  private readonly deadline: number;
  private lease: Lease | undefined;
  private leaseLost = false;
  private leaseRenewal: Promise<boolean> | undefined;
  private readonly queues = new Map<string, TenantQueue>();
  /** Entries read per bucket, and how many of them are gone from it now. */
  private readonly readPerBucket = new Map<string, number>();
  private readonly clearedPerBucket = new Map<string, number>();
  /** Buckets read only in part (the read cap): never treated as emptied. */
  private readonly partlyRead = new Set<string>();
  private readonly report: RenewalReport = {
    leaseHeld: false,
    stoppedBy: 'done',
    renewed: 0,
    gone: 0,
    forbidden: 0,
    failed: 0,
    throttled: 0,
    transient: 0,
    retried: 0,
    graphRequests: 0,
    deferred: 0,
    heldForBatching: 0,
    bucketsRead: 0,
    entriesRead: 0,
    storeErrors: 0,
    durationMs: 0,
  };

  constructor(
    private readonly deps: RenewalPassDeps,
    private readonly o: RenewalOptions,
  ) {
    this.budgets = deps.budgets ?? new TenantBudgets(o.budget);
    if (this.budgets.maxTake < o.maxBatchSize) {
      throw new RangeError('the tenant budgets cannot grant one full batch (burst below maxBatchSize)');
    }
    this.start = deps.now();
    this.deadline = this.start + o.timeBudgetMs;
  }

  async run(): Promise<RenewalReport> {
    const owner =
      this.o.owner ?? `renewal-${this.start.toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    this.lease = await this.deps.lease.acquire(this.o.leaseName, owner, this.o.leaseDurationMs, this.start);
    if (!this.lease) {
      this.report.stoppedBy = 'leaseNotHeld';
      return this.finish();
    }
    this.report.leaseHeld = true;
    try {
      const cursor = await this.deps.schedule.getCursor();
      const first = cursor?.bucket ?? renewalBucketOf(this.start - this.o.initialLookbackMs);
      const read = await this.readDueBuckets(first);
      const plan = planRenewals(
        read.flatMap((b) => b.entries),
        this.start,
        this.o,
      );
      this.report.heldForBatching = plan.heldForBatching;
      this.report.deferred = plan.heldForBatching + plan.overCap;
      for (const batch of plan.batches) this.queue(batch.tenantId).batches.push(batch.items);

      await Promise.all(Array.from({ length: this.o.concurrency }, () => this.worker()));

      // Whatever was planned but not sent stays due, untouched.
      let unsent = 0;
      for (const queue of this.queues.values()) {
        for (const batch of queue.batches) unsent += batch.length;
      }
      this.report.deferred += unsent;
      if (this.leaseLost) this.report.stoppedBy = 'leaseLost';
      else if (unsent > 0) this.report.stoppedBy = 'timeBudget';

      // Without the lease another run may be working on the same rows: leave them as they are.
      if (!this.leaseLost) {
        await this.persistRetries();
        await this.advanceCursor(cursor, first, read);
      } else {
        for (const queue of this.queues.values()) this.report.deferred += queue.retries.length;
      }
    } finally {
      await this.releaseLease();
    }
    return this.finish();
  }

  private finish(): RenewalReport {
    this.report.durationMs = this.deps.now() - this.start;
    return this.report;
  }

  // ---- reading ------------------------------------------------------------------------------

  /**
   * Buckets from `first` to the current one, oldest first, up to the read cap and within the time
   * budget. Buckets are read a few at a time while they are small and one at a time once they are
   * big (a backlog), each with its share of the cap; a bucket that fills the cap may hold more, is
   * marked as read only in part, and reading stops there.
   */
  private async readDueBuckets(
    first: string,
  ): Promise<{ bucket: string; entries: StoredRenewalScheduleEntry[] }[]> {
    const last = renewalBucketOf(this.start);
    const read: { bucket: string; entries: StoredRenewalScheduleEntry[] }[] = [];
    let next = first;
    while (next <= last) {
      const room = this.o.maxEntriesReadPerRun - this.report.entriesRead;
      if (room <= 0) break;
      const now = this.deps.now();
      if (now >= this.deadline || !(await this.keepLease(now))) break;
      const perBucket = read.length === 0 ? room : this.report.entriesRead / read.length;
      const width = Math.max(1, Math.min(this.o.readConcurrency, Math.floor(room / Math.max(1, perBucket))));
      const share = Math.max(1, Math.floor(room / width));
      const chunk: string[] = [];
      while (chunk.length < width && next <= last) {
        chunk.push(next);
        next = nextRenewalBucket(next);
      }
      const lists = await Promise.all(chunk.map((bucket) => this.deps.schedule.listBucket(bucket, share)));
      let stop = false;
      for (let i = 0; i < chunk.length; i++) {
        const bucket = chunk[i]!;
        let entries = lists[i] ?? [];
        const left = this.o.maxEntriesReadPerRun - this.report.entriesRead;
        let restartAfter = false;
        if (entries.length >= share) {
          // It may hold more than its share: read it again with all the room left, and the rest
          // of this chunk (later buckets) afresh after it.
          if (share < left) {
            entries = await this.deps.schedule.listBucket(bucket, left);
            next = nextRenewalBucket(bucket);
            restartAfter = true;
          }
          if (entries.length >= left) {
            entries = entries.slice(0, left);
            // It may still hold more than was read: it must never count as emptied.
            this.partlyRead.add(bucket);
            stop = true;
          }
        }
        read.push({ bucket, entries });
        this.readPerBucket.set(bucket, entries.length);
        this.report.entriesRead += entries.length;
        this.report.bucketsRead++;
        if (stop || restartAfter) break;
      }
      if (stop) break;
    }
    return read;
  }

  // ---- sending ------------------------------------------------------------------------------

  private queue(tenantId: string): TenantQueue {
    let queue = this.queues.get(tenantId);
    if (!queue) this.queues.set(tenantId, (queue = { tenantId, batches: [], retries: [] }));
    return queue;
  }

  private async worker(): Promise<void> {
    for (;;) {
      if (this.leaseLost) return;
      const now = this.deps.now();
      if (now >= this.deadline) return;
      if (!(await this.keepLease(now))) return;
      const pick = this.pick(this.deps.now());
      if (pick.kind === 'idle') return;
      if (pick.kind === 'wait') {
        if (pick.until >= this.deadline) return;
        await this.deps.sleep(Math.max(1, pick.until - this.deps.now()));
        continue;
      }
      await this.send(pick.queue, pick.planned, pick.retries);
    }
  }

  /** The most urgent tenant batch that may go now, or when the next one may. */
  private pick(now: number): Choice {
    let best: { queue: TenantQueue; head: StoredRenewalScheduleEntry; size: number } | undefined;
    let until = Number.POSITIVE_INFINITY;
    for (const queue of this.queues.values()) {
      const planned = queue.batches[0];
      let size: number;
      let head: StoredRenewalScheduleEntry | undefined;
      if (planned && planned.length > 0) {
        const eligible = this.eligibleRetries(queue, now).length;
        size = Math.min(this.o.maxBatchSize, planned.length + eligible);
        head = planned[0]?.entry;
      } else {
        // Retries alone go only as a full batch; otherwise they wait for a later run's batch.
        const retryable = queue.retries.filter((r) => r.attempts < this.o.maxAttemptsPerRun);
        if (retryable.length < this.o.maxBatchSize) continue;
        const times = retryable.map((r) => r.retryAt).sort((a, b) => a - b);
        const fullAt = times[this.o.maxBatchSize - 1] ?? Number.POSITIVE_INFINITY;
        size = this.o.maxBatchSize;
        if (fullAt > now) {
          until = Math.min(until, Math.max(fullAt, this.budgets.readyAt(queue.tenantId, size, now)));
          continue;
        }
        head = this.eligibleRetries(queue, now)[0]?.planned.entry;
      }
      if (!head) continue;
      const readyAt = this.budgets.readyAt(queue.tenantId, size, now);
      if (readyAt > now) {
        until = Math.min(until, readyAt);
        continue;
      }
      if (
        !best ||
        comparePriority(head, best.head) < 0 ||
        (comparePriority(head, best.head) === 0 && queue.tenantId < best.queue.tenantId)
      ) {
        best = { queue, head, size };
      }
    }
    if (best) {
      const queue = best.queue;
      const planned = queue.batches.shift() ?? [];
      const room = this.o.maxBatchSize - planned.length;
      const retries = room > 0 ? this.eligibleRetries(queue, now).slice(0, room) : [];
      if (retries.length > 0) queue.retries = queue.retries.filter((r) => !retries.includes(r));
      if (!this.budgets.tryTake(queue.tenantId, planned.length + retries.length, now)) {
        // Cannot happen (readyAt was checked in this same synchronous step); put it back.
        if (planned.length > 0) queue.batches.unshift(planned);
        queue.retries.push(...retries);
        return { kind: 'wait', until: now + 1 };
      }
      return { kind: 'send', queue, planned, retries };
    }
    return Number.isFinite(until) ? { kind: 'wait', until } : { kind: 'idle' };
  }

  private eligibleRetries(queue: TenantQueue, now: number): WorkItem[] {
    return queue.retries
      .filter((r) => r.retryAt <= now && r.attempts < this.o.maxAttemptsPerRun)
      .sort((a, b) => comparePriority(a.planned.entry, b.planned.entry));
  }

  private async send(queue: TenantQueue, planned: PlannedRenewal[], retries: WorkItem[]): Promise<void> {
    const sentAt = this.deps.now();
    const items: WorkItem[] = [
      ...planned.map((p) => ({ planned: p, attempts: 0, retryAt: sentAt, lastError: undefined })),
      ...retries,
    ];
    const requested = new Map<string, number>();
    const requests: RenewalRequest[] = items.map(({ planned: { entry } }) => {
      const expiry = this.requestedExpiry(entry, sentAt);
      requested.set(entry.subscriptionId, expiry);
      return { subscriptionId: entry.subscriptionId, expirationDateTime: new Date(expiry).toISOString() };
    });

    this.report.graphRequests++;
    let outcomes: readonly RenewalOutcome[] = [];
    let requestError: string | undefined;
    try {
      outcomes = await this.deps.graph.renewBatch(queue.tenantId, requests);
    } catch (err) {
      requestError = `request failed: ${errorName(err)}`;
      this.warn(`renewal $batch for tenant ${queue.tenantId} failed`, err);
    }
    const byId = new Map<string, RenewalOutcome>();
    for (const outcome of outcomes) byId.set(outcome.subscriptionId, outcome);

    const now = this.deps.now();
    await Promise.all(
      items.map((item) =>
        this.settle(
          queue,
          item,
          byId.get(item.planned.entry.subscriptionId),
          requested.get(item.planned.entry.subscriptionId) ?? sentAt,
          now,
          requestError,
        ),
      ),
    );
  }

  /** Counted from the due time (see renewalAnchor), with the subscription's jitter taken off. */
  private requestedExpiry(entry: StoredRenewalScheduleEntry, now: number): number {
    const anchor = renewalAnchor(entry.dueAt, now, this.o.maxAnchorLagMs);
    return newExpiry(anchor, this.o.jitter(entry.subscriptionId), this.o);
  }

  private async settle(
    queue: TenantQueue,
    item: WorkItem,
    outcome: RenewalOutcome | undefined,
    requested: number,
    now: number,
    requestError: string | undefined,
  ): Promise<void> {
    const { entry } = item.planned;
    const status = outcome?.status ?? 0;
    const kind = classifyOutcome(status);

    if (kind === 'renewed') {
      this.report.renewed++;
      const granted = parseGraphTime(outcome?.expirationDateTime) ?? requested;
      await this.reschedule(item.planned, {
        subscriptionId: entry.subscriptionId,
        tenantId: entry.tenantId,
        expiresAt: granted,
        dueAt: renewalDueAt(granted, now, this.o.windowMs),
        attempts: 0,
      });
      return;
    }

    const longExpired = entry.expiresAt + this.o.goneAfterExpiryMs <= now;
    if (kind === 'gone') return this.gone(item, now);

    if (kind === 'forbidden') {
      this.report.forbidden++;
      const reason = forbiddenReason(entry, outcome, this.o.forbiddenRetryMs);
      try {
        await this.deps.onForbidden(entry, reason);
      } catch (err) {
        this.warn(`onForbidden failed for subscription ${entry.subscriptionId}`, err);
      }
      if (longExpired) return this.gone(item, now);
      await this.reschedule(item.planned, {
        ...this.carried(entry),
        dueAt: now + this.o.forbiddenRetryMs,
        attempts: entry.attempts + item.attempts + 1,
        lastError: reason,
      });
      return;
    }

    if (kind === 'failed') {
      this.report.failed++;
      if (longExpired) return this.gone(item, now);
      await this.reschedule(item.planned, {
        ...this.carried(entry),
        dueAt: now + this.o.retryMaxMs,
        attempts: entry.attempts + item.attempts + 1,
        lastError: `renewal failed (HTTP ${status}${outcome?.errorCode ? ` ${outcome.errorCode}` : ''})`,
      });
      return;
    }

    // Throttled or transient: retry later in this run (riding along in a later batch of the
    // tenant) or, failing that, in a later run.
    item.attempts++;
    const attempts = entry.attempts + item.attempts;
    let retryAt: number;
    if (kind === 'throttled') {
      this.report.throttled++;
      retryAt = now + (retryAfterOf(outcome) ?? this.o.defaultRetryAfterMs);
      // The whole tenant waits: its budget is shared by all its subscriptions.
      this.budgets.pause(entry.tenantId, retryAt);
      item.lastError = 'throttled (429)';
    } else {
      this.report.transient++;
      const backoff = retryBackoffMs(attempts, this.o.retryBaseMs, this.o.retryMaxMs);
      retryAt = now + Math.max(backoff, retryAfterOf(outcome) ?? 0);
      item.lastError = requestError ?? `transient failure (HTTP ${status})`;
    }
    if (longExpired) return this.gone(item, now);
    this.report.retried++;
    item.retryAt = retryAt;
    queue.retries.push(item);
  }

  private async gone(item: WorkItem, now: number): Promise<void> {
    const { entry } = item.planned;
    this.report.gone++;
    try {
      await this.deps.onGone(entry);
    } catch (err) {
      this.warn(`onGone failed for subscription ${entry.subscriptionId}; kept for a retry`, err);
      const attempts = entry.attempts + item.attempts + 1;
      await this.reschedule(item.planned, {
        ...this.carried(entry),
        dueAt: now + retryBackoffMs(attempts, this.o.retryBaseMs, this.o.retryMaxMs),
        attempts,
        lastError: 'gone; recreation failed',
      });
      return;
    }
    for (const row of [entry, ...item.planned.duplicates]) await this.remove(row);
  }

  /** Leftover retries are written back with their retry time, so backoff survives the run. */
  private async persistRetries(): Promise<void> {
    const items: WorkItem[] = [];
    for (const queue of this.queues.values()) {
      items.push(...queue.retries);
      queue.retries = [];
    }
    this.report.deferred += items.length;
    const now = this.deps.now();
    await mapBounded(items, 20, async (item) => {
      const { entry } = item.planned;
      await this.reschedule(item.planned, {
        ...this.carried(entry),
        dueAt: Math.max(item.retryAt, now),
        attempts: entry.attempts + item.attempts,
        ...(item.lastError === undefined ? {} : { lastError: item.lastError }),
      });
    });
  }

  // ---- schedule writes ----------------------------------------------------------------------

  private carried(entry: StoredRenewalScheduleEntry): Carried {
    return { subscriptionId: entry.subscriptionId, tenantId: entry.tenantId, expiresAt: entry.expiresAt };
  }

  /**
   * Writes the entry's next state: in place if it stays in its bucket, else the new row first
   * and only then a conditional delete of the old one (and of any duplicates).
   */
  private async reschedule(planned: PlannedRenewal, next: RenewalScheduleEntry): Promise<void> {
    const { entry, duplicates } = planned;
    try {
      if (renewalBucketOf(next.dueAt) === entry.bucket) {
        try {
          await this.deps.schedule.replaceEntry({ ...next, bucket: entry.bucket, etag: entry.etag });
        } catch (err) {
          if (!(err instanceof ConcurrencyError)) throw err;
          // Changed meanwhile by someone else: their version stands.
        }
      } else {
        await this.deps.schedule.upsertEntry(next);
        await this.remove(entry);
      }
      for (const row of duplicates) await this.remove(row);
    } catch (err) {
      this.report.storeErrors++;
      this.warn(`rescheduling subscription ${entry.subscriptionId} failed; it stays due`, err);
    }
  }

  private async remove(row: StoredRenewalScheduleEntry): Promise<void> {
    try {
      const result = await this.deps.schedule.removeEntry(row);
      if (result !== 'changed') {
        this.clearedPerBucket.set(row.bucket, (this.clearedPerBucket.get(row.bucket) ?? 0) + 1);
      }
    } catch (err) {
      this.report.storeErrors++;
      this.warn(`removing the schedule entry of subscription ${row.subscriptionId} failed`, err);
    }
  }

  /**
   * Moves the cursor to the oldest bucket read that still holds entries (or past the last one
   * read), never closer to now than `cursorLagMs`, never backwards.
   */
  private async advanceCursor(
    cursor: { bucket: string; etag: string } | undefined,
    first: string,
    read: { bucket: string }[],
  ): Promise<void> {
    let target: string | undefined;
    for (const { bucket } of read) {
      if (
        this.partlyRead.has(bucket) ||
        (this.clearedPerBucket.get(bucket) ?? 0) < (this.readPerBucket.get(bucket) ?? 0)
      ) {
        target = bucket;
        break;
      }
    }
    const lastRead = read.at(-1)?.bucket;
    target ??= lastRead === undefined ? first : nextRenewalBucket(lastRead);
    const limit = renewalBucketOf(this.start - this.o.cursorLagMs);
    if (target > limit) target = limit;
    if (cursor && target <= cursor.bucket) return;
    try {
      await this.deps.schedule.saveCursor(target, cursor?.etag);
    } catch (err) {
      // Another run moved it: it re-reads from its own cursor, nothing is skipped.
      if (!(err instanceof ConcurrencyError)) this.report.storeErrors++;
      this.warn('moving the renewal cursor failed', err);
    }
  }

  // ---- lease --------------------------------------------------------------------------------

  /** True while we hold the lease; renews it once half of it has passed. */
  private keepLease(now: number): Promise<boolean> | boolean {
    const lease = this.lease;
    if (this.leaseLost || !lease) return false;
    if (now < lease.expiresAt - this.o.leaseDurationMs / 2) return true;
    this.leaseRenewal ??= (async () => {
      try {
        const renewed = await this.deps.lease.renew(lease, this.o.leaseDurationMs, this.deps.now());
        if (renewed) this.lease = renewed;
        else this.leaseLost = true;
      } catch (err) {
        this.warn('renewing the renewal lease failed', err);
        if (this.deps.now() >= lease.expiresAt) this.leaseLost = true;
      } finally {
        this.leaseRenewal = undefined;
      }
      return !this.leaseLost;
    })();
    return this.leaseRenewal;
  }

  private async releaseLease(): Promise<void> {
    if (!this.lease || this.leaseLost) return;
    try {
      await this.deps.lease.release(this.lease);
    } catch (err) {
      this.warn('releasing the renewal lease failed (it expires by itself)', err);
    }
  }

  private warn(message: string, error?: unknown): void {
    this.deps.onWarning?.(message, error);
  }
}

type Carried = Pick<RenewalScheduleEntry, 'subscriptionId' | 'tenantId' | 'expiresAt'>;

/** A name for a failed request that cannot carry request contents (no secrets in logs). */
function errorName(err: unknown): string {
  if (!(err instanceof Error)) return 'unknown error';
  const code = (err as Error & { code?: unknown }).code;
  return typeof code === 'string' && /^[A-Za-z0-9_.-]{1,40}$/.test(code) ? code : err.name;
}

async function mapBounded<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const run = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++];
      if (item !== undefined) await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
}

/**
 * The schedule entry for a new (or recreated) subscription id; for the subscription lifecycle
 * code, which upserts it right after creating the subscription. Do not add an entry when renewing
 * an existing subscription outside the timer (e.g. on `reauthorizationRequired`): its row already
 * exists under another bucket, and a second row would renew it twice per cycle from then on.
 * The existing row simply renews it again when due, which is harmless.
 */
export function scheduleEntryFor(
  subscription: { subscriptionId: string; tenantId: string; expiresAt: number },
  now: number,
  windowMs: number = DEFAULT_RENEWAL_OPTIONS.windowMs,
): RenewalScheduleEntry {
  return {
    subscriptionId: subscription.subscriptionId,
    tenantId: subscription.tenantId,
    expiresAt: subscription.expiresAt,
    dueAt: renewalDueAt(subscription.expiresAt, now, windowMs),
    attempts: 0,
  };
}
