/**
 * The EWS → Graph migration as operators drive it: the stored switch (the old server's "Use
 * Microsoft Graph" check box, no restart needed), progress with an ETA, and putting failed
 * mailboxes back in the queue.
 */
import { mailboxStateOf } from '../domain/enrolment/states.js';
import type { MailboxRecord } from '../domain/model.js';
import type { ControlStorePort } from '../domain/ports.js';
import { ConcurrencyError } from '../errors.js';
import type { ControlPlaneDeps } from './mailboxes.js';

export const MIGRATION_SWITCH = 'migration-switch';
export const MIGRATION_HISTORY = 'migration-history';
/** Runs remembered for the rate (an hour at the default schedule). */
const HISTORY_RUNS = 12;

export interface MigrationSwitch {
  enabled: boolean;
  updatedAt?: string;
  /** Who flipped it (oid, upn or appid of the admin token). */
  updatedBy?: string;
}

export interface MigrationRun {
  at: string;
  migrated: number;
  failed: number;
}

export async function readMigrationSwitch(control: ControlStorePort): Promise<MigrationSwitch> {
  return (await control.get<MigrationSwitch>(MIGRATION_SWITCH))?.value ?? { enabled: false };
}

export async function setMigrationSwitch(
  control: ControlStorePort,
  enabled: boolean,
  by: string,
  now: number,
): Promise<MigrationSwitch> {
  const value: MigrationSwitch = { enabled, updatedAt: new Date(now).toISOString(), updatedBy: by };
  await control.put(MIGRATION_SWITCH, value);
  return value;
}

/** Appends a run to the history the rate and ETA are computed from (ETag loop; runs are rare). */
export async function recordMigrationRun(control: ControlStorePort, run: MigrationRun): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const current = await control.get<MigrationRun[]>(MIGRATION_HISTORY);
    const runs = [...(current?.value ?? []), run].slice(-HISTORY_RUNS);
    try {
      await control.put(MIGRATION_HISTORY, runs, current?.etag);
      return;
    } catch (error) {
      if (!(error instanceof ConcurrencyError) || attempt >= 4) throw error;
    }
  }
}

export interface MigrationProgress {
  enabled: boolean;
  updatedAt?: string;
  updatedBy?: string;
  /** EWS mailboxes still waiting (the migrate queue). */
  remaining: number;
  /** Mailboxes moved per run, over the recent runs with the switch on. */
  perRun: number;
  /** When the queue should be empty at that rate and the timer's schedule, if it is moving. */
  eta?: string;
  batchSize: number;
  lastRun?: MigrationRun;
  nextRunAt?: string;
  recentRuns: MigrationRun[];
}

export async function migrationProgress(
  deps: Pick<ControlPlaneDeps, 'control' | 'work' | 'now'>,
  options: { batchSize: number },
): Promise<MigrationProgress> {
  const [flag, history, remaining] = await Promise.all([
    readMigrationSwitch(deps.control),
    deps.control.get<MigrationRun[]>(MIGRATION_HISTORY),
    deps.work.count('migrate'),
  ]);
  const runs = history?.value ?? [];
  const moving = runs.filter((r) => r.migrated > 0);
  const perRun = moving.length === 0 ? 0 : moving.reduce((sum, r) => sum + r.migrated, 0) / moving.length;
  const now = deps.now();
  const interval = runInterval(runs);
  const last = runs[runs.length - 1];
  const nextRunAt = last ? Math.max(now, Date.parse(last.at) + interval) : undefined;
  const eta =
    flag.enabled && perRun > 0 && remaining > 0
      ? new Date((nextRunAt ?? now) + (Math.ceil(remaining / perRun) - 1) * interval).toISOString()
      : undefined;
  return {
    ...flag,
    remaining,
    perRun: Math.round(perRun * 10) / 10,
    ...(eta ? { eta } : {}),
    batchSize: options.batchSize,
    ...(last ? { lastRun: last } : {}),
    ...(flag.enabled && nextRunAt !== undefined ? { nextRunAt: new Date(nextRunAt).toISOString() } : {}),
    recentRuns: runs,
  };
}

/** The timer's period as the recorded runs show it (the schedule is the binding's business); 5 min without history. */
function runInterval(runs: readonly MigrationRun[]): number {
  const times = runs.map((r) => Date.parse(r.at)).filter(Number.isFinite);
  if (times.length < 2) return 5 * 60_000;
  const gaps = times
    .slice(1)
    .map((t, i) => t - times[i]!)
    .filter((gap) => gap > 0);
  if (gaps.length === 0) return 5 * 60_000;
  gaps.sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)]!;
}

/**
 * Puts `failed` mailboxes (and, when asked, `on_premises` ones) back in the queue with their
 * attempts reset: EWS ones wait for the migration, the others for their subscription. A scan of
 * the mailboxes table: an operator's action, never the timer's.
 */
export async function requeueFailed(
  deps: ControlPlaneDeps,
  options: { includeOnPremises?: boolean } = {},
): Promise<{ requeued: number }> {
  let requeued = 0;
  let continuationToken: string | undefined;
  do {
    const page = await deps.mailboxes.listMailboxes({
      pageSize: 1000,
      ...(continuationToken ? { continuationToken } : {}),
    });
    for (const mailbox of page.mailboxes) {
      const state = mailboxStateOf(mailbox);
      if (state === 'failed' || (options.includeOnPremises && state === 'on_premises')) {
        if (await requeue(deps, mailbox)) requeued++;
      }
    }
    continuationToken = page.continuationToken;
  } while (continuationToken);
  return { requeued };
}

async function requeue(deps: ControlPlaneDeps, mailbox: MailboxRecord): Promise<boolean> {
  const now = deps.now();
  const kind = mailbox.transport === 'ews' ? 'migrate' : 'create';
  const key = deps.workKeyFor(now, mailbox.email);
  await deps.work.put([{ kind, key, email: mailbox.email, dueAt: now }]);
  const next: MailboxRecord = {
    ...mailbox,
    state: kind === 'migrate' ? 'ews' : 'pending',
    workKey: key,
    updatedAt: new Date(now).toISOString(),
  };
  delete next.attempts;
  delete next.failure;
  try {
    await deps.mailboxes.updateMailbox(next);
    return true;
  } catch (error) {
    await deps.work.remove(kind, key);
    if (error instanceof ConcurrencyError) return false;
    throw error;
  }
}
