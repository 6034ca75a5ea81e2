import type {
  ImportChunkMessage,
  ChangeMessage,
  MailMessage,
  MailboxRecord,
  PushPlatform,
  QueuedNotification,
  SubscriptionRecord,
} from './model.js';

export type { PushPlatform };
import type { GraphWorkFailure, MailboxState } from './enrolment/states.js';

/** Point read of a subscription by Graph subscription id (the webhook's only lookup). */
export interface SubscriptionLookup {
  getSubscription(subscriptionId: string): Promise<SubscriptionRecord | undefined>;
}

/** Subscriptions, keyed by Graph subscription id. Writes use ETags (ConcurrencyError on conflict). */
export interface SubscriptionStore extends SubscriptionLookup {
  /** Inserts; throws AlreadyExistsError if the id is taken. Returns the record with its etag. */
  insertSubscription(record: SubscriptionRecord): Promise<SubscriptionRecord>;
  /** Replaces; `record.etag` must be the one read. Throws ConcurrencyError if it changed. */
  updateSubscription(record: SubscriptionRecord): Promise<SubscriptionRecord>;
  /** Deletes; with an etag, only if unchanged. Missing is not an error. */
  deleteSubscription(subscriptionId: string, etag?: string): Promise<void>;
}

/** Mailboxes, keyed by lower-cased email. Writes use ETags (ConcurrencyError on conflict). */
export interface MailboxStore {
  getMailbox(email: string): Promise<MailboxRecord | undefined>;
  insertMailbox(record: MailboxRecord): Promise<MailboxRecord>;
  updateMailbox(record: MailboxRecord): Promise<MailboxRecord>;
  deleteMailbox(email: string, etag?: string): Promise<void>;
}

/** The operators' paged view of the mailboxes (a scan: never on a timer path). */
export interface MailboxQuery {
  state?: MailboxState;
  transport?: MailboxRecord['transport'];
  /** Addresses starting with this. */
  prefix?: string;
  /** Only mailboxes migrated to Graph at or after this time (ISO). */
  migratedSince?: string;
  continuationToken?: string;
  pageSize?: number;
}

export interface MailboxPage {
  mailboxes: MailboxRecord[];
  /** Present when there is more. */
  continuationToken?: string;
}

export interface MailboxListing {
  listMailboxes(query?: MailboxQuery): Promise<MailboxPage>;
}

// ---------------------------------------------------------------------------------------------
// Control plane (shared/domain/enrolment, shared/admin). Adapters: shared/store/work-queue-store.ts,
// shared/store/control-store.ts, shared/graph/adapters.ts (GraphDirectory).
// ---------------------------------------------------------------------------------------------

/** `create`: a pending mailbox needs its subscription; `migrate`: an EWS mailbox waits for the switch. */
export type WorkKind = 'create' | 'migrate';

export interface WorkItem {
  kind: WorkKind;
  /** The RowKey: due time, then enrolment order, then the address (see workKeyFor). */
  key: string;
  email: string;
  /** Epoch ms from which it may be worked on. */
  dueAt: number;
}

/**
 * The work queue: one partition per kind, rows ordered by due time, so the next batch is a
 * single-partition range read however many mailboxes there are.
 */
export interface WorkQueuePort {
  /** Up to `limit` items due at `now`, oldest first. */
  due(kind: WorkKind, now: number, limit: number): Promise<WorkItem[]>;
  /** Inserts or replaces items (batched by the adapter). */
  put(items: readonly WorkItem[]): Promise<void>;
  /** Missing is not an error. */
  remove(kind: WorkKind, key: string): Promise<void>;
  /** Items in a kind's partition (for progress; a count of one partition, paged). */
  count(kind: WorkKind): Promise<number>;
}

/** Small named documents the control plane keeps (the migration switch, group delta links, run reports). */
export interface ControlStorePort {
  get<T>(name: string): Promise<{ value: T; etag: string } | undefined>;
  /** Writes; with `etag`, only if unchanged (ConcurrencyError otherwise). */
  put<T>(name: string, value: T, etag?: string): Promise<void>;
}

/** A user as Graph resolved it. */
export interface DirectoryUser {
  id: string;
  mail: string | undefined;
  userPrincipalName: string;
  /** Synced from on-premises AD (a hybrid user; its mailbox may be on-premises). */
  onPremisesSyncEnabled: boolean;
  /** Has any licence assigned. */
  licensed: boolean;
}

/** Graph as the control plane needs it. Failures are thrown; `classify` reads them. */
export interface MailboxDirectoryPort {
  /** By address (UPN or primary SMTP); undefined when no such user. */
  resolveUser(tenantId: string, email: string): Promise<DirectoryUser | undefined>;
  /** Reads the Inbox folder: proves Mail.Read, the access policy and that the mailbox is in Exchange Online. */
  checkInbox(tenantId: string, userId: string): Promise<void>;
  /** Our subscriptions on this user's Inbox (after a crash mid-creation). */
  findSubscriptions(tenantId: string, userId: string, notificationUrl: string): Promise<string[]>;
  deleteSubscription(tenantId: string, subscriptionId: string): Promise<void>;
  /** What a thrown failure means for the mailbox, given the user when known. */
  classify(error: unknown, user?: DirectoryUser): GraphWorkFailure;
  /**
   * One group's membership changes since `deltaLink` (all members without one): Graph's
   * `GET /groups/delta?$filter=id eq '{id}'&$select=members`, followed to its deltaLink. An
   * expired link gives a full round (`full: true`): every current member as added.
   */
  groupMemberDelta(
    tenantId: string,
    groupId: string,
    deltaLink?: string,
  ): Promise<{ added: string[]; removed: string[]; deltaLink: string; full: boolean }>;
}

/** Which enrolment groups a user is in, and their address (group sync keeps it). */
export interface GroupMembershipPort {
  /** The user's address if they are a member of the group. */
  member(groupId: string, userId: string): Promise<string | undefined>;
  addMember(groupId: string, userId: string, email: string): Promise<void>;
  removeMember(groupId: string, userId: string): Promise<void>;
}

/** The `mail-notifications` queue. Resolves only once every message is durably accepted. */
export interface NotificationQueue {
  enqueue(messages: readonly QueuedNotification[]): Promise<void>;
}

/** The import chunks of a large upload, on the same queue as notifications (a different `type`). */
export interface ImportChunkQueue {
  /** Resolves when the broker has accepted every chunk; `import-<job>-<chunk>` is the message id. */
  enqueueImportChunks(chunks: readonly ImportChunkMessage[]): Promise<void>;
}

/** A large import as the operator follows it (control table, one partition per job). */
export interface ImportJob {
  id: string;
  /** Epoch ms. */
  acceptedAt: number;
  /** Who uploaded it (audit name). */
  by: string;
  format: 'csv' | 'jsonl';
  /** `receiving` while the upload streams in; `queued` once every chunk is on the queue. */
  status: 'receiving' | 'queued' | 'failed';
  /** Data rows read, invalid rows, rows queued in chunks (known once `queued`). */
  rows: number;
  invalid: number;
  queuedRows: number;
  chunks: number;
  /** Invalid rows with their reasons (at most MAX_REPORTED_ROWS). */
  errors: { row: number; reason: string }[];
  truncated: boolean;
  /** Why it failed (status `failed`): operator words, never a secret. */
  failure?: string;
}

/** What one chunk did, recorded once it is written. */
export interface ImportChunkResult {
  chunk: number;
  accepted: number;
  unchanged: number;
  /** Epoch ms: when this delivery started writing, and when it was done. */
  startedAt: number;
  finishedAt: number;
  /** The first rows left as they were (already enrolled), at most 100 per chunk. */
  unchangedRows: { row: number; email: string }[];
}

export interface ImportJobStore {
  putJob(job: ImportJob): Promise<void>;
  getJob(id: string): Promise<{ job: ImportJob; chunks: ImportChunkResult[] } | undefined>;
  putChunkResult(jobId: string, result: ImportChunkResult): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Subscription renewal (shared/domain/renewal). Times are epoch milliseconds.
// ---------------------------------------------------------------------------------------------

/** A subscription's place in the renewal schedule. */
export interface RenewalScheduleEntry {
  /** Graph subscription id. */
  subscriptionId: string;
  /** Tenant whose subscription-write budget the renewal spends. */
  tenantId: string;
  /**
   * When to look at the entry next; decides its bucket. Normally the expiry minus the renewal
   * window; after a failure, the retry time.
   */
  dueAt: number;
  /** The subscription's expirationDateTime as Graph last confirmed it. */
  expiresAt: number;
  /** Consecutive failed renewal attempts (0 after a success); drives the backoff. */
  attempts: number;
  /** Why the last attempt failed, for operators. Never holds secrets. */
  lastError?: string;
}

/** An entry as stored: its bucket (the partition it lives in) and its concurrency token. */
export interface StoredRenewalScheduleEntry extends RenewalScheduleEntry {
  bucket: string;
  etag: string;
}

/** The oldest bucket that may still hold entries; everything older is known to be empty. */
export interface RenewalCursor {
  bucket: string;
  etag: string;
}

/**
 * The renewal schedule, partitioned by due-time bucket (see shared/domain/renewal/buckets.ts), so
 * finding due renewals reads a few small partitions instead of a table that grows with mailboxes.
 */
export interface RenewalSchedulePort {
  /**
   * The entries of one bucket (a single-partition query), at most `limit` of them (default: all);
   * which ones, when there are more, is up to the store.
   */
  listBucket(bucket: string, limit?: number): Promise<StoredRenewalScheduleEntry[]>;
  /**
   * Inserts or replaces the entry in the bucket of its `dueAt` (unconditionally). Rows are found
   * by bucket only: a row for the same subscription in another bucket is not touched, so add a
   * row once per subscription id (see scheduleEntryFor) and let the renewal pass move it.
   */
  upsertEntry(entry: RenewalScheduleEntry): Promise<StoredRenewalScheduleEntry>;
  /**
   * Replaces a stored entry in place (its `dueAt` must stay in `entry.bucket`), only if `entry.etag`
   * still matches; else ConcurrencyError.
   */
  replaceEntry(entry: StoredRenewalScheduleEntry): Promise<StoredRenewalScheduleEntry>;
  /** Deletes the entry only if `etag` still matches: `changed` if it does not (entry kept). */
  removeEntry(entry: {
    bucket: string;
    subscriptionId: string;
    etag: string;
  }): Promise<'removed' | 'missing' | 'changed'>;
  getCursor(): Promise<RenewalCursor | undefined>;
  /** Creates (etag undefined) or moves the cursor; ConcurrencyError if it changed since read. */
  saveCursor(bucket: string, etag: string | undefined): Promise<RenewalCursor>;
}

/** A named lease with an expiry; `etag` is the store's token for the version we hold. */
export interface Lease {
  name: string;
  owner: string;
  expiresAt: number;
  etag: string;
}

/** Mutual exclusion between overlapping timer runs (possibly on different instances). */
export interface LeasePort {
  /**
   * Takes the lease if nobody holds it or the holder's lease expired at `now`. Of concurrent
   * callers exactly one gets it; the others get undefined.
   */
  acquire(name: string, owner: string, durationMs: number, now: number): Promise<Lease | undefined>;
  /** Extends a lease we hold; undefined if it was lost (expired and taken over, or released). */
  renew(lease: Lease, durationMs: number, now: number): Promise<Lease | undefined>;
  /** Gives the lease up if it is still ours; otherwise does nothing. */
  release(lease: Lease): Promise<void>;
}

/** One member of a renewal `$batch`: `PATCH /subscriptions/{id}` with a new expiry. */
export interface RenewalRequest {
  subscriptionId: string;
  /** ISO 8601 (UTC). */
  expirationDateTime: string;
}

/** What Graph answered for one member. */
export interface RenewalOutcome {
  subscriptionId: string;
  /** HTTP status of the member; 0 if there was no answer for it. */
  status: number;
  /** The expiry Graph set (2xx). */
  expirationDateTime?: string;
  /** From the member's `Retry-After` (429, sometimes 503). */
  retryAfterMs?: number;
  /** Graph's `error.code`, e.g. `ExtensionError`. Never a message that may echo input. */
  errorCode?: string;
}

/** Renews subscriptions of one tenant in one Graph request. */
export interface SubscriptionRenewalPort {
  /**
   * One `$batch` of at most 20 renewals for one tenant. Resolves with one outcome per item, in any
   * order (a missing one counts as status 0); rejects only if the request as a whole failed.
   */
  renewBatch(tenantId: string, items: readonly RenewalRequest[]): Promise<readonly RenewalOutcome[]>;
}

// ---------------------------------------------------------------------------------------------
// Devices and push (notification → push). Adapters: shared/store (devices, idempotency),
// shared/push (providers).
// ---------------------------------------------------------------------------------------------

/** A phone registered by its user for push. Keyed by mailbox, then device id. */
export interface DeviceRecord {
  /** Lower-cased SMTP address of the mailbox the device gets pushes for. */
  mailboxEmail: string;
  /** Chosen by the app, stable per installation (letters, digits, `-`, `_`, `.`, ≤ 64). */
  deviceId: string;
  platform: PushPlatform;
  /** APNs device token or FCM registration token. Sensitive: never log it whole. */
  token: string;
  /** Entra object id of the user who registered it. */
  userObjectId: string;
  createdAt: string;
  updatedAt: string;
  etag?: string;
}

/** Devices by mailbox: listing one mailbox's devices is a single-partition query. */
export interface DeviceStore {
  listDevices(mailboxEmail: string): Promise<DeviceRecord[]>;
  getDevice(mailboxEmail: string, deviceId: string): Promise<DeviceRecord | undefined>;
  /** Inserts or replaces (a re-registration updates the token). */
  upsertDevice(record: DeviceRecord): Promise<DeviceRecord>;
  /** Missing is not an error. */
  deleteDevice(mailboxEmail: string, deviceId: string): Promise<void>;
  /**
   * Deletes the device only if its row is still the one read (same ETag; same token where the store
   * has no ETags). False when it is gone or was re-registered meanwhile: then nothing is deleted.
   */
  deleteDeviceIfUnchanged(device: DeviceRecord): Promise<boolean>;
}

/** What a push shows, already reduced to the mailbox's privacy mode. */
export interface PushContent {
  title: string;
  body: string;
  /** Unread count for the app badge, when known. */
  badge?: number;
  /** Small, non-sensitive data for the app (ids only). */
  data: { mailbox: string; messageId: string };
  /** Collapses pushes of one mailbox on the lock screen. */
  threadId: string;
}

export type PushDeliveryOutcome =
  /** Accepted by the provider. */
  | { deviceId: string; outcome: 'sent' }
  /** The provider says the token is invalid or expired: the device must be removed. */
  | { deviceId: string; outcome: 'invalid_token'; detail?: string }
  /** Temporary failure (5xx, throttling): try again later. */
  | { deviceId: string; outcome: 'retry'; retryAfterMs?: number; detail?: string };

/** One interface for every push service (Notification Hubs, a signed webhook, the local sink). */
export interface PushProvider {
  readonly name: string;
  /** Called when a device registers (Notification Hubs: create/update its installation tagged with the user). */
  registerDevice(device: DeviceRecord): Promise<void>;
  /** Called when a device is removed. Missing is not an error. */
  unregisterDevice(device: DeviceRecord): Promise<void>;
  /** Sends one push to each given device; one outcome per device. Rejects only if nothing could be attempted. */
  send(devices: readonly DeviceRecord[], content: PushContent): Promise<PushDeliveryOutcome[]>;
}

// =============================================================================================
// Change notification → push (adapters: store/idempotency-store.ts, graph/adapters.ts,
// queue/retry-scheduler.ts). Times are epoch milliseconds.

// ---------------------------------------------------------------------------------------------
// Idempotency: one push per (message, device)

/** Where a delivery stands for one (message, device). */
export type DeliveryState = 'sending' | 'sent';

/** A stored delivery record, as read (with its ETag). */
export interface DeliveryRecord {
  /** UTC day `yyyyMMdd` of the message (its partition's prefix); see idempotencyDayOf. */
  day: string;
  /** Per-message key (dedupKeyFor of the change). */
  messageKey: string;
  deviceId: string;
  state: DeliveryState;
  /** When the current `sending` claim was taken (or when it was marked sent). */
  claimedAt: number;
  /** When it was marked `sent`. */
  sentAt?: number;
  etag: string;
}

/** A `sending` claim we hold: only its holder may mark it sent or release it (ETag). */
export interface DeliveryClaim {
  day: string;
  messageKey: string;
  deviceId: string;
  claimedAt: number;
  etag: string;
  /**
   * Which claim this is, for stores whose ETag covers several devices (one row per message): a
   * holder whose ETag went stale checks the device still carries its claim id before writing.
   */
  claimId?: string;
}

export type ClaimResult =
  /** Ours: send, then markSent (or release if the send did not happen). */
  | { deviceId: string; status: 'claimed'; claim: DeliveryClaim; tookOver: boolean }
  /** A push already went out for this (message, device): skip. */
  | { deviceId: string; status: 'already_sent' }
  /** Another worker holds a fresh claim: try again after `retryAfterMs`. */
  | { deviceId: string; status: 'in_progress'; retryAfterMs: number };

export interface ClaimRequest {
  day: string;
  messageKey: string;
  deviceIds: readonly string[];
  now: number;
  /** A `sending` claim older than this is considered crashed and may be taken over. */
  claimTimeoutMs: number;
}

export interface PurgeOptions {
  /** Rows deleted per call at most (each call is bounded; the timer calls again next run). Default 10,000. */
  maxRows?: number;
}

export interface PurgeReport {
  /** Rows deleted. */
  deleted: number;
  /** Days (`yyyyMMdd`) rows were deleted from, oldest first. */
  days: string[];
  /** True when the row budget ran out before every old row was gone. */
  more: boolean;
}

/**
 * Delivery records per (message, device). Claims are conditional inserts (exactly one of
 * concurrent claimers wins) or ETag-conditional takeovers of stale claims.
 */
export interface IdempotencyStore {
  /** One result per requested device, in the same order. */
  claim(request: ClaimRequest): Promise<ClaimResult[]>;
  /**
   * Marks claims `sent`. A claim lost in the meantime (taken over after the claim timeout, which
   * means the other holder sends too) is reported, not thrown.
   */
  markSent(claims: readonly DeliveryClaim[], now: number): Promise<{ lost: number }>;
  /** Gives claims back (the push was not sent), so a retry can claim at once. Lost claims are ignored. */
  release(claims: readonly DeliveryClaim[]): Promise<void>;
  /** The record, for tests and diagnostics. */
  get(day: string, messageKey: string, deviceId: string): Promise<DeliveryRecord | undefined>;
  /**
   * Deletes the records of every day before `day` (`yyyyMMdd`, exclusive), oldest first, in
   * bounded batches. Reads only rows it deletes: partitions are days, so "older than" is a range.
   */
  purgeOlderThan(day: string, options?: PurgeOptions): Promise<PurgeReport>;
}

// ---------------------------------------------------------------------------------------------
// The message itself

/** Reads one message of a mailbox (Graph `GET /users/{id}/messages/{id}?$select=…`). */
export interface MessageSource {
  /** Undefined when the message no longer exists (deleted or moved: Graph 404). */
  getMessage(tenantId: string, userId: string, messageId: string): Promise<MailMessage | undefined>;
}

// ---------------------------------------------------------------------------------------------
// Retry

/**
 * Puts a copy of a change message back on the queue for later (Service Bus scheduled message).
 * Resolves only once the broker has accepted it.
 */
export interface RetryScheduler {
  scheduleRetry(message: RetryingChangeMessage, atMs: number): Promise<void>;
}

/** A change message that may be a scheduled retry of an earlier one. */
export interface RetryingChangeMessage extends ChangeMessage {
  /** Scheduled retries so far (absent on the original). */
  retryAttempt?: number;
  /** When the first attempt failed (ISO); kept across scheduled retries. */
  firstFailedAt?: string;
}
