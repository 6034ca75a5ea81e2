/**
 * In-memory doubles of the control plane's ports (mailboxes, work queue, Graph directory) with the
 * semantics of the Table and Graph adapters: ETags, RowKey order, Graph's failure answers. For the
 * unit tests of the mailbox work and the renewal benchmark; they hold a few hundred thousand
 * mailboxes comfortably.
 *
 * A `SimulatedProcess` shared by the doubles stands for the host process: once killed, every call
 * refuses, so a test sees exactly the state a crash would leave behind.
 */
import { AlreadyExistsError, ConcurrencyError, DependencyError, ValidationError } from '../../errors.js';
import type { ImportChunkMessage, MailboxRecord } from '../model.js';
import type {
  DirectoryUser,
  ImportChunkQueue,
  ImportChunkResult,
  ImportJob,
  ImportJobStore,
  Lease,
  LeasePort,
  MailboxDirectoryPort,
  MailboxStore,
  WorkItem,
  WorkKind,
  WorkQueuePort,
} from '../ports.js';
import type { GraphWorkFailure } from './states.js';

/** Thrown by every double once the simulated process is dead. */
export class SimulatedCrashError extends Error {
  constructor() {
    super('simulated crash: the process was killed');
    this.name = 'SimulatedCrashError';
  }
}

/** The host process the doubles run in: `kill()` makes every later call refuse. */
export class SimulatedProcess {
  private dead = false;

  get killed(): boolean {
    return this.dead;
  }

  kill(): void {
    this.dead = true;
  }

  /** A new process on the same storage and Graph. */
  restart(): void {
    this.dead = false;
  }

  check(): void {
    if (this.dead) throw new SimulatedCrashError();
  }
}

/** A lease port whose calls refuse once the process is dead (a dead run never releases its lease). */
export function leaseIn(process: SimulatedProcess, lease: LeasePort): LeasePort {
  return {
    acquire: async (...args) => {
      process.check();
      return lease.acquire(...args);
    },
    renew: async (held: Lease, durationMs: number, now: number) => {
      process.check();
      return lease.renew(held, durationMs, now);
    },
    release: async (held: Lease) => {
      process.check();
      return lease.release(held);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Mailboxes

/** MailboxStore with ETags: ConcurrencyError on a stale or missing row, AlreadyExistsError on a duplicate insert. */
export class InMemoryMailboxStore implements MailboxStore {
  readonly records = new Map<string, MailboxRecord>();
  private version = 0;

  constructor(private readonly process?: SimulatedProcess) {}

  async getMailbox(email: string): Promise<MailboxRecord | undefined> {
    this.process?.check();
    const record = this.records.get(email.toLowerCase());
    return record ? { ...record } : undefined;
  }

  async insertMailbox(record: MailboxRecord): Promise<MailboxRecord> {
    this.process?.check();
    const key = record.email.toLowerCase();
    if (this.records.has(key)) throw new AlreadyExistsError(`mailbox ${key}`);
    return this.store(key, record);
  }

  async updateMailbox(record: MailboxRecord): Promise<MailboxRecord> {
    this.process?.check();
    const key = record.email.toLowerCase();
    if (record.etag === undefined) {
      throw new ValidationError(
        `updating mailbox ${key} needs the etag from a previous read`,
        'etag_required',
      );
    }
    // Like the Table adapter: a row deleted since the read is a stale read too.
    const current = this.records.get(key);
    if (!current || current.etag !== record.etag) throw new ConcurrencyError(`mailbox ${key}`);
    return this.store(key, record);
  }

  async deleteMailbox(email: string, etag?: string): Promise<void> {
    this.process?.check();
    const key = email.toLowerCase();
    const current = this.records.get(key);
    if (!current) return;
    if (etag !== undefined && current.etag !== etag) throw new ConcurrencyError(`mailbox ${key}`);
    this.records.delete(key);
  }

  /** Every mailbox (for assertions; scans everything). */
  all(): MailboxRecord[] {
    return [...this.records.values()].map((r) => ({ ...r }));
  }

  private store(key: string, record: MailboxRecord): MailboxRecord {
    const stored: MailboxRecord = { ...record, email: key, etag: `W/"${++this.version}"` };
    this.records.set(key, stored);
    return { ...stored };
  }
}

// ---------------------------------------------------------------------------------------------
// Work queue

/**
 * WorkQueuePort ordered by RowKey like the Table adapter (`<13-digit dueAt>~<email>`): `due`
 * returns keys ≤ `<now>~\uffff`, oldest first. Removal is lazy (a sorted array plus a map of live
 * rows), so draining a long queue from its head stays cheap.
 */
export class InMemoryWorkQueue implements WorkQueuePort {
  private readonly partitions = new Map<WorkKind, Partition>([
    ['create', new Partition()],
    ['migrate', new Partition()],
  ]);
  readonly calls = { due: 0, put: 0, remove: 0 };

  constructor(private readonly process?: SimulatedProcess) {}

  async due(kind: WorkKind, now: number, limit: number): Promise<WorkItem[]> {
    this.process?.check();
    this.calls.due++;
    if (!(limit > 0)) return [];
    const upper = `${Math.floor(now).toString().padStart(13, '0')}~\uffff`;
    return this.partition(kind).upTo(upper, limit);
  }

  async put(items: readonly WorkItem[]): Promise<void> {
    this.process?.check();
    this.calls.put++;
    for (const item of items) {
      if (item.key.length === 0) throw new ValidationError('work item key must not be empty');
      this.partition(item.kind).put({ ...item, email: item.email.toLowerCase() });
    }
  }

  async remove(kind: WorkKind, key: string): Promise<void> {
    this.process?.check();
    this.calls.remove++;
    this.partition(kind).remove(key);
  }

  async count(kind: WorkKind): Promise<number> {
    this.process?.check();
    return this.partition(kind).size;
  }

  /** A kind's items in key order (for assertions). */
  items(kind: WorkKind): WorkItem[] {
    return this.partition(kind).upTo('\uffff', Number.POSITIVE_INFINITY);
  }

  private partition(kind: WorkKind): Partition {
    const partition = this.partitions.get(kind);
    if (!partition) throw new ValidationError('work kind must be create or migrate');
    return partition;
  }
}

class Partition {
  private keys: string[] = [];
  private readonly live = new Map<string, WorkItem>();
  /** Keys before this index are all removed. */
  private head = 0;
  private dead = 0;

  get size(): number {
    return this.live.size;
  }

  upTo(upper: string, limit: number): WorkItem[] {
    const out: WorkItem[] = [];
    for (let i = this.head; i < this.keys.length && out.length < limit; i++) {
      const key = this.keys[i]!;
      if (key > upper) break;
      const item = this.live.get(key);
      if (item) out.push({ ...item });
      else if (i === this.head) this.head++;
    }
    return out;
  }

  put(item: WorkItem): void {
    if (this.live.has(item.key)) {
      this.live.set(item.key, item);
      return;
    }
    this.live.set(item.key, item);
    const last = this.keys[this.keys.length - 1];
    if (last === undefined || last < item.key) {
      this.keys.push(item.key);
      return;
    }
    const at = lowerBound(this.keys, item.key);
    if (this.keys[at] === item.key) {
      // A removed row coming back: its slot is still in the array.
      this.dead--;
      if (at < this.head) this.head = at;
      return;
    }
    this.keys.splice(at, 0, item.key);
    if (at < this.head) this.head = at;
  }

  remove(key: string): void {
    if (!this.live.delete(key)) return;
    this.dead++;
    if (this.dead > 1024 && this.dead > this.live.size) {
      this.keys = this.keys.filter((k) => this.live.has(k));
      this.dead = 0;
      this.head = 0;
    }
  }
}

function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// ---------------------------------------------------------------------------------------------
// Graph

/** A Graph refusal as the doubles throw it: the fields classifyMailboxFailure reads. */
export class SimulatedGraphError extends Error {
  constructor(
    readonly operation: string,
    readonly status: number,
    readonly graphCode: string,
    readonly graphMessage: string,
    readonly retryAfterMs?: number,
  ) {
    super(`${operation} failed (HTTP ${status} ${graphCode}): ${graphMessage}`);
    this.name = 'SimulatedGraphError';
  }
}

/** How the simulated tenant treats a user. */
export type SimulatedUserKind =
  /** Resolves; Inbox readable; subscriptions created. */
  | 'ok'
  /** No such user (GET /users → 404, $filter → empty). */
  | 'unknown'
  /** Synced from on-premises AD and licensed; the mailbox is on an Exchange server (MailboxNotEnabledForRESTAPI). */
  | 'on_premises'
  /** A cloud user without an Exchange Online mailbox (MailboxNotEnabledForRESTAPI). */
  | 'no_mailbox'
  /** An application access policy excludes the mailbox (403 ErrorAccessDenied, RAOP). */
  | 'access_policy'
  /** Mail.Read not consented (403 ErrorAccessDenied). */
  | 'consent_missing'
  /** Graph cannot validate our webhook (POST /subscriptions → 400). */
  | 'handshake_failed';

export type SimulatedGraphStep = 'resolve' | 'inbox' | 'create';

interface SimulatedUser {
  kind: SimulatedUserKind;
  /** 429s still to answer, at `step`. */
  throttles: number;
  throttleStep: SimulatedGraphStep;
  retryAfterMs: number;
}

export interface SubscriptionLogEntry {
  subscriptionId: string;
  email: string;
  userId: string;
  action: 'created' | 'deleted';
}

const INBOX = (userId: string): string => `GET /users/${userId}/mailFolders('Inbox')`;
const NOT_IN_CLOUD =
  'The mailbox is either inactive, soft-deleted, or is hosted on-premise. (MailboxNotEnabledForRESTAPI)';

export interface SimulatedDirectoryOptions {
  process?: SimulatedProcess;
  /** Users not configured: `ok` (default) or `unknown`. */
  defaultKind?: 'ok' | 'unknown';
  /**
   * Asked before every subscription write (create, delete) of a tenant: a number refuses it with a
   * 429 and that Retry-After (the benchmark's per-tenant write limit). Undefined admits it.
   */
  admitWrite?: (tenantId: string) => number | undefined;
  /** Time every Graph call takes, spent with this sleep (virtual time in tests). */
  latency?: { ms: number; sleep: (ms: number) => Promise<void> };
}

/**
 * A simulated Graph tenant for the control plane: users configured per address, and the
 * subscriptions on their Inboxes. Every subscription created or deleted is logged per user, so a
 * test can assert that no mailbox ever had two.
 */
export class SimulatedDirectory implements MailboxDirectoryPort {
  private readonly users = new Map<string, SimulatedUser>();
  /** Live subscriptions: id → owner. */
  private readonly live = new Map<string, { email: string; userId: string; notificationUrl: string }>();
  /** Live subscription ids per user id. */
  private readonly byUser = new Map<string, Set<string>>();
  private readonly createdPerUser = new Map<string, number>();
  private next = 0;
  readonly log: SubscriptionLogEntry[] = [];
  /** Graph calls by kind, and the 429s answered. */
  readonly calls = {
    resolveUser: 0,
    checkInbox: 0,
    findSubscriptions: 0,
    create: 0,
    delete: 0,
    throttled: 0,
  };
  /** Keep `log` (off for large benchmarks: the counters are enough). */
  keepLog = true;

  /** Enrolment groups: member user ids now, and the membership each delta link was issued at. */
  private readonly groupMembers = new Map<string, Set<string>>();
  private readonly deltaSnapshots = new Map<string, Set<string>>();

  constructor(private readonly options: SimulatedDirectoryOptions = {}) {}

  /** Sets a group's members (user ids); the next delta reports the difference. */
  setGroupMembers(groupId: string, userIds: readonly string[]): void {
    this.groupMembers.set(groupId.toLowerCase(), new Set(userIds.map((id) => id.toLowerCase())));
  }

  async groupMemberDelta(_tenantId: string, groupId: string, deltaLink?: string) {
    const current = this.groupMembers.get(groupId.toLowerCase()) ?? new Set<string>();
    const before = deltaLink === undefined ? undefined : this.deltaSnapshots.get(deltaLink);
    const full = before === undefined;
    const previous = before ?? new Set<string>();
    const link = `memory-delta-${this.deltaSnapshots.size + 1}`;
    this.deltaSnapshots.set(link, new Set(current));
    return {
      added: [...current].filter((id) => !previous.has(id)),
      removed: full ? [] : [...previous].filter((id) => !current.has(id)),
      deltaLink: link,
      full,
    };
  }

  /** Configures a user; `throttle` answers the first `times` calls at `step` with 429 + Retry-After. */
  setUser(
    email: string,
    kind: SimulatedUserKind,
    throttle: { times: number; retryAfterMs: number; step?: SimulatedGraphStep } = {
      times: 0,
      retryAfterMs: 0,
    },
  ): this {
    this.users.set(email.toLowerCase(), {
      kind,
      throttles: throttle.times,
      throttleStep: throttle.step ?? 'create',
      retryAfterMs: throttle.retryAfterMs,
    });
    return this;
  }

  /** The Graph user id the tenant gives an address. */
  userIdOf(email: string): string {
    return `user:${email.toLowerCase()}`;
  }

  async resolveUser(_tenantId: string, email: string): Promise<DirectoryUser | undefined> {
    this.options.process?.check();
    this.calls.resolveUser++;
    await this.wait();
    const user = this.user(email);
    this.throttle(user, 'resolve', `GET /users/${email}`);
    if (user.kind === 'unknown') return undefined;
    return {
      id: this.userIdOf(email),
      mail: email.toLowerCase(),
      userPrincipalName: email.toLowerCase(),
      onPremisesSyncEnabled: user.kind === 'on_premises',
      licensed: user.kind !== 'no_mailbox',
    };
  }

  async checkInbox(_tenantId: string, userId: string): Promise<void> {
    this.options.process?.check();
    this.calls.checkInbox++;
    await this.wait();
    const operation = INBOX(userId);
    const user = this.user(emailOf(userId));
    this.throttle(user, 'inbox', operation);
    switch (user.kind) {
      case 'unknown':
        throw new SimulatedGraphError(operation, 404, 'ResourceNotFound', 'User not found');
      case 'on_premises':
      case 'no_mailbox':
        throw new SimulatedGraphError(operation, 404, 'MailboxNotEnabledForRESTAPI', NOT_IN_CLOUD);
      case 'access_policy':
        throw new SimulatedGraphError(
          operation,
          403,
          'ErrorAccessDenied',
          'Access to OData is disabled: [RAOP] : Blocked by tenant configured AppOnly AccessPolicy settings.',
        );
      case 'consent_missing':
        throw new SimulatedGraphError(
          operation,
          403,
          'ErrorAccessDenied',
          'Access is denied. Check credentials and try again.',
        );
      default:
        return;
    }
  }

  /** POST /subscriptions on the user's Inbox: Graph's side of a creation. Returns the new id. */
  async createSubscription(tenantId: string, userId: string, notificationUrl: string): Promise<string> {
    this.options.process?.check();
    this.calls.create++;
    await this.wait();
    const operation = 'POST /subscriptions';
    const email = emailOf(userId);
    const user = this.user(email);
    this.throttle(user, 'create', operation);
    this.admit(tenantId, operation);
    if (user.kind === 'handshake_failed') {
      throw new SimulatedGraphError(
        operation,
        400,
        'ValidationError',
        'Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.',
      );
    }
    if (user.kind !== 'ok') await this.checkInbox(tenantId, userId);
    const subscriptionId = `graph-sub-${++this.next}`;
    this.live.set(subscriptionId, { email, userId, notificationUrl });
    let ids = this.byUser.get(userId);
    if (!ids) this.byUser.set(userId, (ids = new Set()));
    ids.add(subscriptionId);
    this.createdPerUser.set(userId, (this.createdPerUser.get(userId) ?? 0) + 1);
    if (this.keepLog) this.log.push({ subscriptionId, email, userId, action: 'created' });
    return subscriptionId;
  }

  async findSubscriptions(_tenantId: string, userId: string, notificationUrl: string): Promise<string[]> {
    this.options.process?.check();
    this.calls.findSubscriptions++;
    await this.wait();
    return [...(this.byUser.get(userId) ?? [])].filter(
      (id) => this.live.get(id)?.notificationUrl === notificationUrl,
    );
  }

  /** DELETE /subscriptions/{id}; missing is not an error (as the adapter treats a 404). */
  async deleteSubscription(tenantId: string, subscriptionId: string): Promise<void> {
    this.options.process?.check();
    this.calls.delete++;
    await this.wait();
    this.admit(tenantId, `DELETE /subscriptions/${subscriptionId}`);
    const owner = this.live.get(subscriptionId);
    if (!owner) return;
    this.live.delete(subscriptionId);
    this.byUser.get(owner.userId)?.delete(subscriptionId);
    if (this.keepLog) this.log.push({ subscriptionId, ...owner, action: 'deleted' });
  }

  /** Mirrors shared/graph/adapters.ts classifyMailboxFailure for the errors these doubles throw. */
  classify(error: unknown, user?: DirectoryUser): GraphWorkFailure {
    if (!(error instanceof SimulatedGraphError)) {
      const detail = error instanceof Error ? error.message : String(error);
      return { kind: 'failed', failure: 'graph_error', detail };
    }
    const detail = `${error.operation}: ${error.status} ${error.graphCode} ${error.graphMessage}`;
    if (error.status === 0 || error.status === 429 || error.status === 503 || error.status === 504)
      return { kind: 'throttled', retryAfterMs: error.retryAfterMs ?? 60_000, detail };
    const text = `${error.graphCode} ${error.graphMessage}`;
    if (/MailboxNotEnabledForRESTAPI|inactive, soft-deleted, or is hosted on-premise/i.test(text)) {
      const onPremises = user ? user.onPremisesSyncEnabled && user.licensed : false;
      return { kind: 'failed', failure: onPremises ? 'on_premises' : 'no_mailbox', detail };
    }
    if (error.status === 404 && /ResourceNotFound/i.test(text) && /\/users/i.test(error.operation))
      return { kind: 'failed', failure: 'user_not_found', detail };
    if (error.status === 403 || /Authorization_RequestDenied|ErrorAccessDenied/i.test(text)) {
      const failure = /AccessPolicy|\bRAOP\b/i.test(text)
        ? 'access_policy'
        : /maximum of \d[\d,]* subscriptions|subscriptions? (?:limit|quota)|too many subscriptions/i.test(
              text,
            )
          ? 'subscription_limit'
          : 'consent_missing';
      return { kind: 'failed', failure, detail };
    }
    if (/validation request|notification endpoint|handshake/i.test(text))
      return { kind: 'failed', failure: 'handshake_failed', detail };
    return { kind: 'failed', failure: 'graph_error', detail };
  }

  // Assertions -------------------------------------------------------------------------------

  /** Live subscription ids on a user's Inbox. */
  subscriptionsOf(email: string): string[] {
    return [...(this.byUser.get(this.userIdOf(email)) ?? [])];
  }

  /** Subscriptions ever created for a user. */
  createdFor(email: string): number {
    return this.createdPerUser.get(this.userIdOf(email)) ?? 0;
  }

  /** Users holding more than one live subscription. */
  duplicates(): string[] {
    const out: string[] = [];
    for (const [userId, ids] of this.byUser) if (ids.size > 1) out.push(emailOf(userId));
    return out;
  }

  /** Live subscriptions in the tenant. */
  get liveCount(): number {
    return this.live.size;
  }

  private async wait(): Promise<void> {
    const latency = this.options.latency;
    if (latency && latency.ms > 0) await latency.sleep(latency.ms);
    this.options.process?.check();
  }

  private user(email: string): SimulatedUser {
    const configured = this.users.get(email.toLowerCase());
    if (configured) return configured;
    return { kind: this.options.defaultKind ?? 'ok', throttles: 0, throttleStep: 'create', retryAfterMs: 0 };
  }

  private throttle(user: SimulatedUser, step: SimulatedGraphStep, operation: string): void {
    if (user.throttles <= 0 || user.throttleStep !== step) return;
    user.throttles--;
    this.calls.throttled++;
    throw new SimulatedGraphError(operation, 429, 'TooManyRequests', 'Too many requests', user.retryAfterMs);
  }

  private admit(tenantId: string, operation: string): void {
    const retryAfterMs = this.options.admitWrite?.(tenantId);
    if (retryAfterMs === undefined) return;
    this.calls.throttled++;
    throw new SimulatedGraphError(operation, 429, 'TooManyRequests', 'Too many requests', retryAfterMs);
  }
}

function emailOf(userId: string): string {
  return userId.startsWith('user:') ? userId.slice(5) : userId;
}

export interface SimulatedSubscriptionsOptions {
  directory: SimulatedDirectory;
  mailboxes: MailboxStore;
  notificationUrl: string;
  process?: SimulatedProcess;
  /** After a subscription is recorded (the benchmark schedules its renewal here). */
  onRecorded?: (mailbox: MailboxRecord, subscriptionId: string) => Promise<void>;
}

/**
 * The `createSubscription` the mailbox work calls (production: the subscription lifecycle's
 * createForMailbox): Graph creates the subscription, then we record it and point the mailbox at
 * it, retiring the one it had. `crashAfterCreate` kills the process for an address right after
 * Graph created its subscription and before anything is recorded.
 */
export class SimulatedSubscriptions {
  /** Subscription id → mailbox, as we recorded them. */
  readonly recorded = new Map<string, string>();
  /** Addresses whose next creation kills the process between Graph's create and our record. */
  readonly crashAfterCreate = new Set<string>();

  constructor(private readonly options: SimulatedSubscriptionsOptions) {}

  readonly create = async (mailbox: MailboxRecord): Promise<string> => {
    const { directory, mailboxes, process } = this.options;
    if (!mailbox.userId) throw new Error(`mailbox ${mailbox.email} has no Graph user id yet`);
    const subscriptionId = await directory.createSubscription(
      mailbox.tenantId,
      mailbox.userId,
      this.options.notificationUrl,
    );
    if (this.crashAfterCreate.delete(mailbox.email)) {
      process?.kill();
      throw new SimulatedCrashError();
    }
    process?.check();
    this.recorded.set(subscriptionId, mailbox.email);
    let previous: string | undefined;
    for (let attempt = 0; ; attempt++) {
      const current = await mailboxes.getMailbox(mailbox.email);
      if (!current) break;
      try {
        await mailboxes.updateMailbox({ ...current, subscriptionId });
        previous = current.subscriptionId;
        break;
      } catch (error) {
        if (!(error instanceof ConcurrencyError) || attempt >= 4) throw error;
      }
    }
    if (previous && previous !== subscriptionId) {
      await directory.deleteSubscription(mailbox.tenantId, previous);
      this.recorded.delete(previous);
    }
    await this.options.onRecorded?.(mailbox, subscriptionId);
    return subscriptionId;
  };
}

/** Import jobs kept in memory (the control table's `import-<id>` partitions). */
export class InMemoryImportJobs implements ImportJobStore {
  readonly jobs = new Map<string, ImportJob>();
  readonly results = new Map<string, Map<number, ImportChunkResult>>();

  async putJob(job: ImportJob): Promise<void> {
    this.jobs.set(job.id, structuredClone(job));
  }

  async putChunkResult(jobId: string, result: ImportChunkResult): Promise<void> {
    const results = this.results.get(jobId) ?? new Map<number, ImportChunkResult>();
    results.set(result.chunk, structuredClone(result));
    this.results.set(jobId, results);
  }

  async getJob(id: string): Promise<{ job: ImportJob; chunks: ImportChunkResult[] } | undefined> {
    const job = this.jobs.get(id);
    if (!job) return undefined;
    return { job: structuredClone(job), chunks: [...(this.results.get(id)?.values() ?? [])] };
  }
}

/** The queue's side of import jobs: chunks kept in order; `failAfter` sends then refuses. */
export class InMemoryImportChunkQueue implements ImportChunkQueue {
  readonly chunks: ImportChunkMessage[] = [];
  constructor(private readonly failAfter = Infinity) {}

  async enqueueImportChunks(chunks: readonly ImportChunkMessage[]): Promise<void> {
    if (this.chunks.length + chunks.length > this.failAfter)
      throw new DependencyError('service-bus', 'the queue refused the send');
    this.chunks.push(...structuredClone(chunks));
  }
}
