/**
 * One run of the mailbox work: (switch on) the next batch of EWS mailboxes moved to Graph, oldest
 * enrolment first, then subscriptions for pending mailboxes. Runs after the renewals, under
 * its own lease, within the same per-tenant subscription-write budget. Pure orchestration over
 * ports; the clock and the sleep are injected, so tests run it in virtual time.
 *
 * Crash safety: before any Graph write the mailbox is claimed (ETag) with `attemptStartedAt`. A
 * run that dies after Graph created the subscription but before we recorded it leaves that mark
 * behind; the next attempt first looks for our subscriptions on the user's Inbox and deletes
 * them, so a mailbox never ends up with two.
 */
import { ConcurrencyError } from '../../errors.js';
import type { MailboxRecord } from '../model.js';
import type {
  DirectoryUser,
  LeasePort,
  MailboxDirectoryPort,
  MailboxStore,
  WorkItem,
  WorkKind,
  WorkQueuePort,
} from '../ports.js';
import type { TenantBudgets } from '../renewal/token-bucket.js';
import {
  FINAL_FAILURES,
  mailboxStateOf,
  retryDelayMs,
  type GraphWorkFailure,
  type MailboxFailure,
} from './states.js';

/**
 * Mailboxes worked on at once by a run. Each is ~3 Graph calls (user, Inbox, create with the
 * handshake): 8 at a time would create ~10 subscriptions/s, far below the write budget, which is
 * what should pace the creations.
 */
export const MAILBOX_WORK_CONCURRENCY = 32;

export interface MailboxWorkDeps {
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  mailboxes: MailboxStore;
  work: WorkQueuePort;
  directory: MailboxDirectoryPort;
  /** Creates the Graph subscription (validation handshake included) and points the mailbox at it. */
  createSubscription: (mailbox: MailboxRecord) => Promise<unknown>;
  budgets: TenantBudgets;
  lease: LeasePort;
  /** Our notification URL: how our own subscriptions are recognised after a crash. */
  notificationUrl: string;
  /** The RowKey a mailbox gets in the work queue. */
  workKeyFor: (dueAt: number, email: string) => string;
}

export interface MailboxWorkOptions {
  migrationEnabled: boolean;
  /** EWS mailboxes moved per run at most (MIGRATION_BATCH_SIZE). */
  migrationBatchSize: number;
  /** Counted failures before a mailbox is `failed` (MIGRATION_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** Pending mailboxes worked on per run at most. */
  maxCreationsPerRun: number;
  /** No item starts after this (epoch ms). */
  deadline: number;
  /** Items in flight at once. */
  concurrency?: number;
  owner: string;
  leaseName?: string;
  leaseDurationMs?: number;
}

export interface MailboxWorkReport {
  leaseHeld: boolean;
  created: number;
  migrated: number;
  /** Counted failures by reason (the mailbox stays queued unless final or out of attempts). */
  failures: Partial<Record<MailboxFailure, number>>;
  /** Mailboxes that became `failed` or `on_premises` in this run. */
  finalFailures: number;
  /** 429/503: put back for after Retry-After, not counted. */
  throttled: number;
  /** Items whose mailbox was gone, removed or moved on (dropped from the queue). */
  stale: number;
  /** Items another run was working on. */
  busy: number;
  /** Orphan subscriptions deleted while recovering from a crashed attempt. */
  orphansDeleted: number;
  stoppedBy: 'done' | 'time' | 'leaseNotHeld';
}

const DEFAULT_LEASE = 'mailbox-work';
const DEFAULT_LEASE_MS = 6 * 60_000;

type ItemOutcome = 'created' | 'migrated' | 'failed' | 'final' | 'throttled' | 'stale' | 'busy' | 'no_budget';

export async function runMailboxWork(
  deps: MailboxWorkDeps,
  options: MailboxWorkOptions,
): Promise<MailboxWorkReport> {
  const report: MailboxWorkReport = {
    leaseHeld: false,
    created: 0,
    migrated: 0,
    failures: {},
    finalFailures: 0,
    throttled: 0,
    stale: 0,
    busy: 0,
    orphansDeleted: 0,
    stoppedBy: 'done',
  };
  const leaseName = options.leaseName ?? DEFAULT_LEASE;
  const lease = await deps.lease.acquire(
    leaseName,
    options.owner,
    options.leaseDurationMs ?? DEFAULT_LEASE_MS,
    deps.now(),
  );
  if (!lease) return { ...report, stoppedBy: 'leaseNotHeld' };
  report.leaseHeld = true;
  try {
    const worker = new MailboxWorker(deps, options, report);
    // The migration batch first: it is small and bounded, and a large import draining until the
    // deadline must not cost the migration its run (50 per run, every run, whatever else waits).
    if (options.migrationEnabled) await worker.drain('migrate', options.migrationBatchSize);
    await worker.drain('create', options.maxCreationsPerRun);
  } finally {
    await deps.lease.release(lease);
  }
  return report;
}

class MailboxWorker {
  private readonly leaseMs: number;

  constructor(
    private readonly deps: MailboxWorkDeps,
    private readonly options: MailboxWorkOptions,
    private readonly report: MailboxWorkReport,
  ) {
    this.leaseMs = options.leaseDurationMs ?? DEFAULT_LEASE_MS;
  }

  async drain(kind: WorkKind, limit: number): Promise<void> {
    if (limit <= 0) return;
    const items = await this.deps.work.due(kind, this.deps.now(), limit);
    let next = 0;
    const lanes = Array.from({ length: Math.max(1, this.options.concurrency ?? 8) }, async () => {
      while (next < items.length) {
        if (this.deps.now() >= this.options.deadline) {
          this.report.stoppedBy = 'time';
          return;
        }
        const item = items[next++]!;
        this.count(await this.work(item));
      }
    });
    await Promise.all(lanes);
  }

  private count(outcome: ItemOutcome): void {
    const r = this.report;
    if (outcome === 'created') r.created++;
    else if (outcome === 'migrated') r.migrated++;
    else if (outcome === 'final') r.finalFailures++;
    else if (outcome === 'throttled') r.throttled++;
    else if (outcome === 'stale') r.stale++;
    else if (outcome === 'busy') r.busy++;
  }

  private async work(item: WorkItem): Promise<ItemOutcome> {
    const { deps } = this;
    const mailbox = await deps.mailboxes.getMailbox(item.email);
    const state = mailbox ? mailboxStateOf(mailbox) : undefined;
    const expected = item.kind === 'create' ? state === 'pending' : state === 'ews' || state === 'migrating';
    if (!mailbox || mailbox.workKey !== item.key || !expected) {
      // Removed, re-queued under another key, or moved on: this row is left over.
      await deps.work.remove(item.kind, item.key);
      return 'stale';
    }
    // A mark set after this item fell due, within a lease's length, is another run's attempt in
    // progress (a run that outlived its lease), not a crashed one: leave the mailbox to it.
    // Older marks, and marks left by an attempt that was requeued since, mean recovery.
    const markedAt =
      mailbox.attemptStartedAt === undefined ? undefined : Date.parse(mailbox.attemptStartedAt);
    if (markedAt !== undefined && markedAt >= item.dueAt && deps.now() - markedAt < this.leaseMs)
      return 'busy';
    if (!(await this.takeBudget(mailbox.tenantId))) {
      // The tenant's budget does not come back before the deadline: the item waits for the next run.
      this.report.stoppedBy = 'time';
      return 'no_budget';
    }

    const recovering = markedAt !== undefined;
    let claimed: MailboxRecord;
    try {
      claimed = await deps.mailboxes.updateMailbox({
        ...mailbox,
        state: item.kind === 'migrate' ? 'migrating' : 'pending',
        attemptStartedAt: new Date(deps.now()).toISOString(),
        updatedAt: new Date(deps.now()).toISOString(),
      });
    } catch (error) {
      if (error instanceof ConcurrencyError) return 'busy';
      throw error;
    }

    let user: DirectoryUser | undefined;
    let createStarted = false;
    try {
      if (!claimed.userId) {
        user = await deps.directory.resolveUser(claimed.tenantId, claimed.email);
        if (!user)
          return await this.fail(
            item,
            claimed,
            { kind: 'failed', failure: 'user_not_found', detail: 'GET /users: 404' },
            false,
          );
        claimed = await deps.mailboxes.updateMailbox({
          ...claimed,
          userId: user.id,
          userPrincipalName: user.userPrincipalName,
        });
      }
      const userId = claimed.userId!;
      await deps.directory.checkInbox(claimed.tenantId, userId);
      if (recovering) {
        // A previous attempt may have created a subscription we never recorded.
        for (const orphan of await deps.directory.findSubscriptions(
          claimed.tenantId,
          userId,
          deps.notificationUrl,
        )) {
          await deps.directory.deleteSubscription(claimed.tenantId, orphan);
          this.report.orphansDeleted++;
        }
      }
      createStarted = true;
      await deps.createSubscription(claimed);
    } catch (error) {
      return this.fail(item, claimed, deps.directory.classify(error, user), createStarted);
    }
    await this.settle(claimed.email, (m) => ({
      ...m,
      state: 'active',
      attempts: undefined,
      failure: undefined,
      lastError: undefined,
      attemptStartedAt: undefined,
      workKey: undefined,
      ...(item.kind === 'migrate'
        ? { migratedAt: new Date(deps.now()).toISOString(), transport: 'graph' as const }
        : {}),
    }));
    await deps.work.remove(item.kind, item.key);
    return item.kind === 'migrate' ? 'migrated' : 'created';
  }

  /** Waits for the tenant's write budget while the run has time; false if it never came. */
  private async takeBudget(tenantId: string): Promise<boolean> {
    const { budgets, now, sleep } = this.deps;
    for (;;) {
      const at = now();
      if (budgets.tryTake(tenantId, 1, at)) return true;
      const readyAt = budgets.readyAt(tenantId, 1, at);
      if (readyAt >= this.options.deadline) return false;
      await sleep(Math.max(1, readyAt - at));
    }
  }

  /**
   * Puts the mailbox back in the queue for later, or (final failure, or out of attempts) takes it
   * out with its reason. The attempt mark stays when Graph may have created a subscription.
   */
  private async fail(
    item: WorkItem,
    mailbox: MailboxRecord,
    failure: GraphWorkFailure,
    createStarted: boolean,
  ): Promise<ItemOutcome> {
    const { deps } = this;
    const now = deps.now();
    const queuedState = item.kind === 'migrate' ? 'ews' : 'pending';
    if (failure.kind === 'throttled') {
      deps.budgets.pause(mailbox.tenantId, now + failure.retryAfterMs);
      await this.requeue(item, mailbox, now + failure.retryAfterMs, (m) => ({
        ...m,
        state: queuedState,
        lastError: failure.detail,
        ...(createStarted ? {} : { attemptStartedAt: undefined }),
      }));
      return 'throttled';
    }
    const attempts = (mailbox.attempts ?? 0) + 1;
    this.report.failures[failure.failure] = (this.report.failures[failure.failure] ?? 0) + 1;
    const change = (m: MailboxRecord): MailboxRecord => ({
      ...m,
      failure: failure.failure,
      lastError: failure.detail,
      attempts,
      ...(createStarted ? {} : { attemptStartedAt: undefined }),
    });
    if (FINAL_FAILURES.has(failure.failure) || attempts >= this.options.maxAttempts) {
      const finalState = failure.failure === 'on_premises' ? 'on_premises' : 'failed';
      await this.settle(mailbox.email, (m) => ({ ...change(m), state: finalState, workKey: undefined }));
      await deps.work.remove(item.kind, item.key);
      return 'final';
    }
    await this.requeue(item, mailbox, now + retryDelayMs(attempts), (m) => ({
      ...change(m),
      state: queuedState,
    }));
    return 'failed';
  }

  /** New queue row first, then the mailbox points at it, then the old row goes (a crash leaves only a stale row). */
  private async requeue(
    item: WorkItem,
    mailbox: MailboxRecord,
    dueAt: number,
    change: (m: MailboxRecord) => MailboxRecord,
  ): Promise<void> {
    const key = this.deps.workKeyFor(dueAt, mailbox.email);
    await this.deps.work.put([{ kind: item.kind, key, email: mailbox.email, dueAt }]);
    await this.settle(mailbox.email, (m) => ({ ...change(m), workKey: key }));
    if (key !== item.key) await this.deps.work.remove(item.kind, item.key);
  }

  /** Read-modify-write of the mailbox with its ETag, retried on a concurrent change (e.g. a PATCH). */
  private async settle(email: string, change: (m: MailboxRecord) => MailboxRecord): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.deps.mailboxes.getMailbox(email);
      if (!current) return;
      try {
        const next = change(current);
        for (const key of Object.keys(next) as (keyof MailboxRecord)[])
          if (next[key] === undefined) delete next[key];
        await this.deps.mailboxes.updateMailbox({
          ...next,
          updatedAt: new Date(this.deps.now()).toISOString(),
        });
        return;
      } catch (error) {
        if (!(error instanceof ConcurrencyError) || attempt >= 4) throw error;
      }
    }
  }
}
