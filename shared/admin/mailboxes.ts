/**
 * Enrolment and the operators' view of mailboxes: enrol one, import many, list, show, change
 * privacy, unenrol. Graph work for new mailboxes is left to the maintenance timer (work queue),
 * so an import is fast and throttling can never fail it.
 */
import { FAILURE_TEXT, mailboxStateOf, workKindOf, type MailboxState } from '../domain/enrolment/states.js';
import {
  ImportFormatError,
  ImportParser,
  type ImportFormat,
  type ImportRow,
} from '../domain/enrolment/import.js';
import type {
  EnrolmentSource,
  ImportChunkMessage,
  MailboxRecord,
  MailboxTransport,
  PrivacyMode,
} from '../domain/model.js';
import type {
  ControlStorePort,
  DeviceStore,
  DirectoryUser,
  ImportChunkQueue,
  ImportChunkResult,
  ImportJob,
  ImportJobStore,
  MailboxDirectoryPort,
  MailboxListing,
  MailboxQuery,
  MailboxStore,
  PushProvider,
  SubscriptionStore,
  WorkItem,
  WorkQueuePort,
} from '../domain/ports.js';
import {
  AlreadyExistsError,
  ConcurrencyError,
  DependencyError,
  RefusedError,
  NotFoundError,
  ValidationError,
} from '../errors.js';

export interface ControlPlaneDeps {
  /** The tenant mailboxes are enrolled in (GRAPH_TENANT_ID). */
  tenantId: string;
  now: () => number;
  mailboxes: MailboxStore & MailboxListing;
  work: WorkQueuePort;
  control: ControlStorePort;
  directory: MailboxDirectoryPort;
  subscriptions: Pick<SubscriptionStore, 'getSubscription' | 'deleteSubscription'>;
  devices: DeviceStore;
  push: PushProvider;
  workKeyFor: (dueAt: number, email: string) => string;
  /** Drops a subscription id from the webhook's cache. */
  forgetSubscription?: (subscriptionId: string) => void;
  /** Large uploads become import jobs (queued chunks); without it every import is written inline. */
  imports?: { jobs: ImportJobStore; queue: ImportChunkQueue; newJobId: () => string };
}

/** What operators see of a mailbox: never a secret (no clientState, no delta link, no push token). */
export interface MailboxView {
  email: string;
  state: MailboxState;
  transport: MailboxTransport;
  privacy?: PrivacyMode;
  userId?: string;
  userPrincipalName?: string;
  subscriptionId?: string;
  failure?: string;
  /** What to do about the failure, in words. */
  reason?: string;
  lastError?: string;
  attempts?: number;
  source?: EnrolmentSource;
  enrolledAt: string;
  updatedAt: string;
  migratedAt?: string;
  /** Entra groups that enrolled it. */
  groups?: string[];
  /** Left every enrolment group (flagged for an operator when ENROLMENT_GROUP_REMOVE is off). */
  groupsLeftAt?: string;
}

export interface MailboxDetail extends MailboxView {
  subscriptionExpiresAt?: string;
  devices: number;
}

export function viewOf(m: MailboxRecord): MailboxView {
  const failure = m.failure;
  return {
    email: m.email,
    state: mailboxStateOf(m),
    transport: m.transport,
    ...(m.privacyMode ? { privacy: m.privacyMode } : {}),
    ...(m.userId ? { userId: m.userId } : {}),
    ...(m.userPrincipalName ? { userPrincipalName: m.userPrincipalName } : {}),
    ...(m.subscriptionId ? { subscriptionId: m.subscriptionId } : {}),
    ...(failure
      ? { failure, reason: FAILURE_TEXT[failure] }
      : m.subscriptionError
        ? { reason: m.subscriptionError }
        : {}),
    ...(m.lastError ? { lastError: m.lastError } : {}),
    ...(m.attempts ? { attempts: m.attempts } : {}),
    ...(m.source ? { source: m.source } : {}),
    enrolledAt: m.createdAt,
    updatedAt: m.updatedAt,
    ...(m.migratedAt ? { migratedAt: m.migratedAt } : {}),
    ...(m.groups ? { groups: m.groups.split(',') } : {}),
    ...(m.groupsLeftAt ? { groupsLeftAt: m.groupsLeftAt } : {}),
  };
}

export interface EnrolRequest {
  email: string;
  transport?: MailboxTransport;
  privacy?: PrivacyMode;
  source?: EnrolmentSource;
  /** Already resolved (self-service: the token's oid); skips the Graph lookup. */
  userId?: string;
}

/**
 * Enrols one mailbox: resolves the user in Graph (object id, UPN) and stores it as `pending`
 * (or `ews`), queued for the timer. Idempotent: a mailbox already enrolled is returned as it is.
 */
export async function enrolMailbox(
  deps: ControlPlaneDeps,
  request: EnrolRequest,
): Promise<{ created: boolean; mailbox: MailboxView }> {
  const email = normaliseAddress(request.email);
  const existing = await deps.mailboxes.getMailbox(email);
  if (existing) return { created: false, mailbox: viewOf(existing) };
  let userId = request.userId;
  let upn: string | undefined;
  if (!userId) {
    let user: DirectoryUser | undefined;
    let throttled = false;
    try {
      user = await deps.directory.resolveUser(deps.tenantId, email);
    } catch (error) {
      const failure = deps.directory.classify(error);
      // Throttled or down: enrol without the id; the timer resolves it within its budget.
      if (failure.kind !== 'throttled')
        throw new RefusedError(`${FAILURE_TEXT[failure.failure]} (${failure.detail})`);
      throttled = true;
    }
    if (!user && !throttled) throw new NotFoundError(FAILURE_TEXT.user_not_found, 'user_not_found');
    userId = user?.id;
    upn = user?.userPrincipalName;
  }
  const record = newMailbox(deps, {
    email,
    transport: request.transport ?? 'graph',
    ...(request.privacy ? { privacy: request.privacy } : {}),
    source: request.source ?? 'api',
    ...(userId ? { userId } : {}),
    ...(upn ? { userPrincipalName: upn } : {}),
  });
  return { created: true, mailbox: viewOf(await insertQueued(deps, record)) };
}

interface NewMailbox {
  email: string;
  transport: MailboxTransport;
  privacy?: PrivacyMode;
  source: EnrolmentSource;
  userId?: string;
  userPrincipalName?: string;
}

function newMailbox(deps: ControlPlaneDeps, input: NewMailbox): MailboxRecord {
  const now = new Date(deps.now()).toISOString();
  const state: MailboxState = input.transport === 'ews' ? 'ews' : 'pending';
  return {
    email: input.email,
    tenantId: deps.tenantId,
    transport: input.transport,
    state,
    source: input.source,
    ...(input.privacy ? { privacyMode: input.privacy } : {}),
    ...(input.userId ? { userId: input.userId } : {}),
    ...(input.userPrincipalName ? { userPrincipalName: input.userPrincipalName } : {}),
    createdAt: now,
    updatedAt: now,
  };
}

/**
 * The work item goes first, then the mailbox pointing at it: a crash in between leaves a work row
 * whose mailbox does not point at it, which the timer drops. Never a queued mailbox without a row.
 */
async function insertQueued(deps: ControlPlaneDeps, record: MailboxRecord): Promise<MailboxRecord> {
  const item = workItemFor(deps, record);
  if (item) await deps.work.put([item]);
  try {
    return await deps.mailboxes.insertMailbox({ ...record, ...(item ? { workKey: item.key } : {}) });
  } catch (error) {
    const current =
      error instanceof AlreadyExistsError ? await deps.mailboxes.getMailbox(record.email) : undefined;
    if (item) await dropLeftover(deps, item, current);
    if (current) return current;
    throw error;
  }
}

/** Removes a queue row written for a mailbox that turned out to exist, unless that mailbox uses the same row. */
async function dropLeftover(
  deps: ControlPlaneDeps,
  item: WorkItem,
  existing: MailboxRecord | undefined,
): Promise<void> {
  if (existing?.workKey === item.key) return;
  await deps.work.remove(item.kind, item.key);
}

function workItemFor(deps: ControlPlaneDeps, record: MailboxRecord): WorkItem | undefined {
  const kind = workKindOf(mailboxStateOf(record));
  if (!kind) return undefined;
  const dueAt = Date.parse(record.createdAt);
  return { kind, key: deps.workKeyFor(dueAt, record.email), email: record.email, dueAt };
}

// ---------------------------------------------------------------------------------------------
// Import

export interface ImportReport {
  format: ImportFormat;
  /** Data rows read (header and blank lines not counted). */
  rows: number;
  accepted: number;
  unchanged: number;
  invalid: number;
  /** Every invalid row (up to MAX_REPORTED_ROWS). */
  errors: { row: number; reason: string }[];
  /** Each row's outcome, when the upload has at most MAX_REPORTED_ROWS rows. */
  outcomes?: { row: number; email: string; outcome: 'accepted' | 'unchanged' }[];
  truncated: boolean;
}

export const MAX_REPORTED_ROWS = 5_000;
/** Rows written together: one work-queue transaction per 100, mailbox inserts in parallel. */
export const IMPORT_CHUNK = 500;
const IMPORT_CONCURRENCY = 32;
/**
 * Above this many valid rows an upload becomes an import job: its rows go to the queue in chunks
 * and the queue trigger writes them, so no execution runs long whatever the size (an HTTP-
 * triggered function must answer within 230 s in Azure, whatever functionTimeout says).
 */
export const IMPORT_SYNC_MAX_ROWS = 2_000;
/**
 * Rows per queued chunk of an import job: one work-queue transaction (Table Storage's limit is 100
 * operations) and 100 mailbox inserts, so each queue-triggered execution is short (well inside
 * the message lock) even while 16 run at once against one work-queue partition (~2,000 entity
 * writes/s in Azure). At most ~30 KB a message (254-character addresses).
 */
export const IMPORT_JOB_CHUNK = 100;
/** Chunks sent to the queue together (the SDK splits a send into 256-KB batches). */
const CHUNKS_PER_SEND = 40;

export interface ImportOptions {
  /** Queue the upload as a job even when it is small (`Prefer: respond-async`). */
  async?: boolean;
  /** Who uploaded it (for the job record). */
  by?: string;
}

/** How an upload ended: written now (`report`), or accepted as a job the queue trigger writes. */
export type ImportResult =
  { mode: 'sync'; report: ImportReport } | { mode: 'job'; report: ImportReport; job: ImportJob };

/**
 * Streams an upload into mailboxes (`pending` or `ews`, queued for the timer): no Graph call per
 * row. The first row wins when an address appears twice; an address already enrolled is left as
 * it is (`unchanged`). A large upload (more than IMPORT_SYNC_MAX_ROWS valid rows, or `async`)
 * becomes an import job when the deps carry `imports`: the rows are checked here and queued in
 * chunks of IMPORT_JOB_CHUNK; `processImportChunk` writes them.
 */
export async function importMailboxes(
  deps: ControlPlaneDeps,
  lines: AsyncIterable<string>,
  format: ImportFormat,
  options: ImportOptions = {},
): Promise<ImportResult> {
  const parser = new ImportParser(format);
  const report: ImportReport = {
    format,
    rows: 0,
    accepted: 0,
    unchanged: 0,
    invalid: 0,
    errors: [],
    outcomes: [],
    truncated: false,
  };
  const seen = new Set<string>();
  const imports = deps.imports;
  const pending: ImportRow[] = [];
  let job: ImportJob | undefined;
  let chunksOut: ImportChunkMessage[] = [];
  const syncMax = options.async ? 0 : IMPORT_SYNC_MAX_ROWS;

  const queueChunks = async (all: boolean) => {
    while (pending.length >= IMPORT_JOB_CHUNK || (all && pending.length > 0)) {
      chunksOut.push({
        type: 'import-chunk',
        jobId: job!.id,
        chunk: job!.chunks++,
        acceptedAt: job!.acceptedAt,
        rows: pending.splice(0, IMPORT_JOB_CHUNK),
      });
    }
    if (chunksOut.length >= CHUNKS_PER_SEND || (all && chunksOut.length > 0)) {
      const sending = chunksOut;
      chunksOut = [];
      await imports!.queue.enqueueImportChunks(sending);
      job!.queuedRows += sending.reduce((n, c) => n + c.rows.length, 0);
    }
  };
  const startJob = async () => {
    job = {
      id: imports!.newJobId(),
      acceptedAt: deps.now(),
      by: options.by ?? 'unknown',
      format,
      status: 'receiving',
      rows: 0,
      invalid: 0,
      queuedRows: 0,
      chunks: 0,
      errors: [],
      truncated: false,
    };
    await imports!.jobs.putJob(job);
  };

  try {
    for await (const line of lines) {
      const parsed = parser.line(line);
      if (parsed.kind === 'skip') continue;
      report.rows++;
      if (parsed.kind === 'error') {
        noteInvalid(report, parsed.value);
        continue;
      }
      if (seen.has(parsed.value.email)) {
        noteInvalid(report, { row: parsed.value.row, reason: 'duplicate of an earlier row' });
        continue;
      }
      seen.add(parsed.value.email);
      pending.push(parsed.value);
      if (job) {
        if (pending.length >= IMPORT_JOB_CHUNK) await queueChunks(false);
      } else if (imports && seen.size > syncMax) {
        await startJob();
        await queueChunks(false);
      } else if (!imports && pending.length >= IMPORT_CHUNK) {
        // Without a queue (tests on in-memory ports) everything is written here, as it streams.
        await writeImportChunk(deps, pending.splice(0), report);
      }
    }
    if (job) await queueChunks(true);
  } catch (error) {
    if (job) {
      // Chunks already queued are still written; the operator imports the file again (rows
      // already enrolled come back `unchanged`).
      await imports!.jobs
        .putJob({
          ...job,
          status: 'failed',
          rows: report.rows,
          invalid: report.invalid,
          errors: report.errors,
          truncated: report.truncated,
          failure: `The upload stopped after ${job.queuedRows} of its rows were queued (${describeFailure(error)}). Import the whole file again: rows already enrolled are left as they are.`,
        })
        .catch(() => undefined);
      if (job.queuedRows > 0) throw new ImportStoppedError(job.id, job.queuedRows, error);
    }
    throw error;
  }
  if (job) {
    job = {
      ...job,
      status: 'queued',
      rows: report.rows,
      invalid: report.invalid,
      errors: report.errors,
      truncated: report.truncated,
    };
    // Every chunk is on the queue: a job left `receiving` would later read as interrupted.
    const queuedJob = job;
    await withRetries(() => imports!.jobs.putJob(queuedJob), 3);
    delete report.outcomes;
    return { mode: 'job', report, job };
  }
  while (pending.length > 0) await writeImportChunk(deps, pending.splice(0, IMPORT_CHUNK), report);
  if (report.outcomes && report.outcomes.length > MAX_REPORTED_ROWS) {
    delete report.outcomes;
    report.truncated = true;
  }
  if (report.outcomes) report.outcomes.sort((a, b) => a.row - b.row);
  return { mode: 'sync', report };
}

/**
 * An upload that stopped after some of its rows were queued: those rows will still be written, so
 * the answer names the job (the cause decides the status code).
 */
export class ImportStoppedError extends Error {
  constructor(
    readonly jobId: string,
    readonly queuedRows: number,
    override readonly cause: unknown,
  ) {
    super(`the upload stopped after ${queuedRows} rows were queued as import job ${jobId}`);
  }
}

async function withRetries<T>(action: () => Promise<T>, attempts: number): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await action();
    } catch (error) {
      if (attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}

function noteInvalid(report: ImportReport, error: { row: number; reason: string }): void {
  report.invalid++;
  if (report.errors.length < MAX_REPORTED_ROWS) report.errors.push(error);
  else report.truncated = true;
}

function describeFailure(error: unknown): string {
  if (error instanceof DependencyError) return `${error.dependency} unavailable`;
  if (error instanceof ValidationError) return error.message;
  return 'an internal error';
}

/**
 * Writes one chunk of rows; `at` (epoch ms) is their enrolment time and their work items' due
 * time. A row whose mailbox was imported with that same enrolment time was written by an earlier
 * delivery of the same chunk and counts as accepted again, so a redelivered chunk reports the
 * same outcomes (even after the timer served the mailbox).
 */
async function writeImportChunk(
  deps: ControlPlaneDeps,
  rows: ImportRow[],
  report: ImportReport,
  at?: number,
): Promise<void> {
  const chunkDeps = at === undefined ? deps : { ...deps, now: () => at };
  const records = rows.map((row) =>
    newMailbox(chunkDeps, {
      email: row.email,
      transport: row.transport,
      ...(row.privacy ? { privacy: row.privacy } : {}),
      source: 'import',
    }),
  );
  const items = records.map((record) => workItemFor(deps, record)!);
  // Queue rows first (one transaction per 100), then the mailboxes pointing at them.
  await deps.work.put(items);
  let next = 0;
  await Promise.all(
    Array.from({ length: IMPORT_CONCURRENCY }, async () => {
      while (next < records.length) {
        const i = next++;
        const record = records[i]!;
        const item = items[i]!;
        let outcome: 'accepted' | 'unchanged';
        try {
          await deps.mailboxes.insertMailbox({ ...record, workKey: item.key });
          outcome = 'accepted';
        } catch (error) {
          if (!(error instanceof AlreadyExistsError)) throw error;
          const existing = await deps.mailboxes.getMailbox(record.email);
          // Ours from an earlier delivery of this chunk: same enrolment time, from an import (the
          // timer may have served it since, so its work key can be gone).
          if (at !== undefined && existing?.source === 'import' && existing.createdAt === record.createdAt) {
            outcome = 'accepted';
          } else {
            await dropLeftover(deps, item, existing);
            outcome = 'unchanged';
          }
        }
        report[outcome]++;
        report.outcomes?.push({ row: rows[i]!.row, email: record.email, outcome });
        if (report.outcomes && report.outcomes.length > MAX_REPORTED_ROWS) {
          delete report.outcomes;
          report.truncated = true;
        }
      }
    }),
  );
}

/** Most rows listed as `unchanged` per chunk in the job's record. */
const MAX_UNCHANGED_ROWS_PER_CHUNK = 100;
/** Most rows listed as `unchanged` in a progress answer (the counts cover all of them). */
const MAX_PROGRESS_UNCHANGED_ROWS = 1_000;

/**
 * The queue trigger's side of an import job: writes one chunk and records what it did. Safe to
 * run twice for the same chunk (Service Bus delivers at least once).
 */
export async function processImportChunk(
  deps: ControlPlaneDeps,
  message: ImportChunkMessage,
): Promise<ImportChunkResult> {
  const imports = deps.imports;
  if (!imports) throw new ValidationError('import chunks need the import job store');
  const report: ImportReport = {
    format: 'csv',
    rows: message.rows.length,
    accepted: 0,
    unchanged: 0,
    invalid: 0,
    errors: [],
    outcomes: [],
    truncated: false,
  };
  const rows: ImportRow[] = message.rows.map((row) => ({
    row: row.row,
    email: normaliseAddress(row.email),
    transport: row.transport,
    ...(row.privacy ? { privacy: row.privacy } : {}),
  }));
  const startedAt = deps.now();
  await writeImportChunk(deps, rows, report, message.acceptedAt);
  const result: ImportChunkResult = {
    chunk: message.chunk,
    startedAt,
    accepted: report.accepted,
    unchanged: report.unchanged,
    finishedAt: deps.now(),
    unchangedRows: (report.outcomes ?? [])
      .filter((o) => o.outcome === 'unchanged')
      .sort((a, b) => a.row - b.row)
      .slice(0, MAX_UNCHANGED_ROWS_PER_CHUNK)
      .map(({ row, email }) => ({ row, email })),
  };
  await imports.jobs.putChunkResult(message.jobId, result);
  return result;
}

/** An upload still `receiving` after this long was cut off (the HTTP limit is 230 s). */
const RECEIVING_GIVE_UP_MS = 15 * 60_000;
/**
 * A job with chunks left and none written for this long gets a warning: other imports may be ahead
 * of it, or a chunk failed on every delivery and was dead-lettered (it will not come back).
 */
const WRITING_STALLED_MS = 30 * 60_000;

export interface ImportProgress {
  id: string;
  /**
   * `receiving` (upload streaming in), `writing` (chunks on the queue, being written), `done`,
   * `failed` (the upload stopped: see `failure`), `interrupted` (the upload never finished).
   */
  status: 'receiving' | 'writing' | 'done' | 'failed' | 'interrupted';
  /** While writing: nothing written for 30 minutes (other imports ahead, or a chunk dead-lettered). */
  warning?: string;
  format: ImportFormat;
  by: string;
  acceptedAt: string;
  finishedAt?: string;
  /** From acceptance to the last chunk written (when done). */
  durationMs?: number;
  /** The longest a chunk took to write: each is one queue-triggered execution. */
  slowestChunkMs?: number;
  rows: number;
  invalid: number;
  queuedRows: number;
  writtenRows: number;
  accepted: number;
  unchanged: number;
  chunks: number;
  chunksWritten: number;
  errors: { row: number; reason: string }[];
  /** Rows already enrolled (left as they were): the first 1,000, in upload order. */
  unchangedRows: { row: number; email: string }[];
  truncated: boolean;
  failure?: string;
}

export async function importProgress(
  deps: Pick<ControlPlaneDeps, 'imports' | 'now'>,
  jobId: string,
): Promise<ImportProgress> {
  const found = await deps.imports?.jobs.getJob(jobId);
  if (!found) throw new NotFoundError(`No import job ${jobId}.`, 'import_not_found');
  const { job, chunks } = found;
  const written = chunks.reduce(
    (sum, c) => ({ accepted: sum.accepted + c.accepted, unchanged: sum.unchanged + c.unchanged }),
    { accepted: 0, unchanged: 0 },
  );
  const lastFinished = chunks.reduce((max, c) => Math.max(max, c.finishedAt), 0);
  const slowest = chunks.reduce((max, c) => Math.max(max, c.finishedAt - (c.startedAt ?? c.finishedAt)), 0);
  const done = job.status === 'queued' && chunks.length >= job.chunks;
  const status: ImportProgress['status'] =
    job.status === 'failed'
      ? 'failed'
      : done
        ? 'done'
        : job.status === 'queued'
          ? 'writing'
          : deps.now() - job.acceptedAt > RECEIVING_GIVE_UP_MS
            ? 'interrupted'
            : 'receiving';
  // Chunks come in chunk order (their rows are in upload order): no sort over a million rows.
  const unchangedRows: { row: number; email: string }[] = [];
  for (const c of [...chunks].sort((a, b) => a.chunk - b.chunk)) {
    if (unchangedRows.length >= MAX_PROGRESS_UNCHANGED_ROWS) break;
    unchangedRows.push(...c.unchangedRows.slice(0, MAX_PROGRESS_UNCHANGED_ROWS - unchangedRows.length));
  }
  return {
    id: job.id,
    status,
    format: job.format,
    by: job.by,
    acceptedAt: new Date(job.acceptedAt).toISOString(),
    ...(done && lastFinished > 0
      ? { finishedAt: new Date(lastFinished).toISOString(), durationMs: lastFinished - job.acceptedAt }
      : {}),
    ...(chunks.length > 0 ? { slowestChunkMs: slowest } : {}),
    rows: job.rows,
    invalid: job.invalid,
    queuedRows: job.queuedRows,
    writtenRows: written.accepted + written.unchanged,
    accepted: written.accepted,
    unchanged: written.unchanged,
    chunks: job.chunks,
    chunksWritten: chunks.length,
    errors: job.errors,
    unchangedRows,
    truncated: job.truncated,
    ...(job.status === 'failed' && job.failure ? { failure: job.failure } : {}),
    ...(status === 'writing' && deps.now() - Math.max(lastFinished, job.acceptedAt) > WRITING_STALLED_MS
      ? {
          warning: `${job.chunks - chunks.length} of ${job.chunks} chunks have not been written and none was for 30 minutes: other imports may be ahead of this one on the mailbox-imports queue; if that queue is empty, look for dead-lettered import chunks (status page) and import the whole file again (rows already enrolled are left as they are).`,
        }
      : {}),
    ...(status === 'interrupted'
      ? {
          failure:
            'The upload did not finish (the request was cut off). Import the whole file again: rows already enrolled are left as they are.',
        }
      : {}),
  };
}

export { ImportFormatError };

// ---------------------------------------------------------------------------------------------
// Read, change, remove

export async function listMailboxes(
  deps: Pick<ControlPlaneDeps, 'mailboxes'>,
  query: MailboxQuery,
): Promise<{ mailboxes: MailboxView[]; continuationToken?: string }> {
  const page = await deps.mailboxes.listMailboxes(query);
  return {
    mailboxes: page.mailboxes.map(viewOf),
    ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}),
  };
}

export async function getMailboxDetail(
  deps: Pick<ControlPlaneDeps, 'mailboxes' | 'subscriptions' | 'devices'>,
  email: string,
): Promise<MailboxDetail> {
  const mailbox = await requireMailbox(deps, email);
  const [subscription, devices] = await Promise.all([
    mailbox.subscriptionId ? deps.subscriptions.getSubscription(mailbox.subscriptionId) : undefined,
    deps.devices.listDevices(mailbox.email),
  ]);
  return {
    ...viewOf(mailbox),
    ...(subscription ? { subscriptionExpiresAt: subscription.expiresAt } : {}),
    devices: devices.length,
  };
}

export async function setMailboxPrivacy(
  deps: Pick<ControlPlaneDeps, 'mailboxes' | 'now'>,
  email: string,
  privacy: PrivacyMode | null,
): Promise<MailboxView> {
  for (let attempt = 0; ; attempt++) {
    const mailbox = await requireMailbox(deps, email);
    const next: MailboxRecord = { ...mailbox, updatedAt: new Date(deps.now()).toISOString() };
    if (privacy === null) delete next.privacyMode;
    else next.privacyMode = privacy;
    try {
      return viewOf(await deps.mailboxes.updateMailbox(next));
    } catch (error) {
      if (!(error instanceof ConcurrencyError) || attempt >= 4) throw error;
    }
  }
}

/**
 * Unenrols: marks the mailbox `removed` (the timer stops working on it), deletes the Graph
 * subscription, its secret, the devices and their push installations, the queue row, then the
 * mailbox. A step that fails leaves the mailbox `removed` and throws; calling again continues,
 * so a removed mailbox never keeps a live subscription.
 */
export async function unenrolMailbox(deps: ControlPlaneDeps, email: string): Promise<{ removed: boolean }> {
  const found = await deps.mailboxes.getMailbox(email);
  if (!found) return { removed: false };
  let mailbox = found;
  for (let attempt = 0; mailboxStateOf(mailbox) !== 'removed'; attempt++) {
    try {
      mailbox = await deps.mailboxes.updateMailbox({
        ...mailbox,
        state: 'removed',
        updatedAt: new Date(deps.now()).toISOString(),
      });
    } catch (error) {
      if (!(error instanceof ConcurrencyError) || attempt >= 4) throw error;
      const again = await deps.mailboxes.getMailbox(email);
      if (!again) return { removed: true };
      mailbox = again;
    }
  }
  if (mailbox.subscriptionId) {
    const subscriptionId = mailbox.subscriptionId;
    const subscription = await deps.subscriptions.getSubscription(subscriptionId);
    try {
      await deps.directory.deleteSubscription(subscription?.tenantId ?? mailbox.tenantId, subscriptionId);
    } catch (error) {
      const failure = deps.directory.classify(error);
      // 404: already gone. Anything else: the subscription may still be live; keep what points at it.
      if (!(failure.kind === 'failed' && /\b404\b/.test(failure.detail))) throw error;
    }
    deps.forgetSubscription?.(subscriptionId);
    await deps.subscriptions.deleteSubscription(subscriptionId);
  }
  for (const device of await deps.devices.listDevices(mailbox.email)) {
    await deps.push.unregisterDevice(device);
    await deps.devices.deleteDevice(device.mailboxEmail, device.deviceId);
  }
  if (mailbox.workKey) {
    const kind = mailbox.transport === 'ews' && !mailbox.subscriptionId ? 'migrate' : 'create';
    await deps.work.remove(kind, mailbox.workKey);
    await deps.work.remove(kind === 'create' ? 'migrate' : 'create', mailbox.workKey);
  }
  await deps.mailboxes.deleteMailbox(mailbox.email);
  return { removed: true };
}

async function requireMailbox(
  deps: Pick<ControlPlaneDeps, 'mailboxes'>,
  email: string,
): Promise<MailboxRecord> {
  const mailbox = await deps.mailboxes.getMailbox(normaliseAddress(email));
  if (!mailbox || mailboxStateOf(mailbox) === 'removed')
    throw new NotFoundError(`No enrolled mailbox ${normaliseAddress(email)}.`);
  return mailbox;
}

/** Lower-cased and trimmed; rejects what cannot be an address before any storage request. */
export function normaliseAddress(email: unknown): string {
  if (typeof email !== 'string') throw new ValidationError('email must be a string');
  const value = email.trim().toLowerCase();
  if (value.length === 0 || value.length > 254 || !/^[^\s@/\\#?]+@[^\s@/\\#?]+$/.test(value)) {
    throw new ValidationError('email must be an address like name@domain');
  }
  return value;
}
