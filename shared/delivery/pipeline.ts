/**
 * The notification-to-push pipeline: one validated change message (from the `mail-notifications`
 * queue) becomes at most one push per registered device of the mailbox. `process` runs five steps:
 *
 *   1. filter: changeType `created`, mailbox enrolled for this user, devices registered; after the
 *      content is read, not already read and not too old;
 *   2. read content: the rich notification (verified and decrypted), else the message from Graph;
 *      what the push shows follows the mailbox's privacy mode;
 *   3. claim: one delivery claim per (message, device);
 *   4. send: one provider call for the claimed devices;
 *   5. settle: mark sent, release the rest, remove devices with invalid tokens, report.
 *
 * Every message ends in exactly one of: a `pushed` outcome, a `dropped` outcome with a reason (never
 * silent), a RetryableError (Graph 429/5xx, the provider asked for a retry, another worker is on it;
 * carries Retry-After or a backoff), or another error (a bug or a dependency down: the queue retries
 * and finally dead-letters). See idempotency.ts for why a push goes out exactly once per device.
 */
import { dedupKeyFor } from '../domain/notifications.js';
import type { ChangeMessage, MailboxRecord, PrivacyMode } from '../domain/model.js';
import type {
  ClaimResult,
  ControlStorePort,
  DeliveryClaim,
  DeviceRecord,
  DeviceStore,
  IdempotencyStore,
  MailboxStore,
  MessageSource,
  PushContent,
  PushDeliveryOutcome,
  PushProvider,
} from '../domain/ports.js';
import { ensureError } from '../errors.js';
import { GraphRequestError } from '../graph/errors.js';
import type { MailMessage } from '../graph/messages.js';
import { KeyedLimiter, TtlCache } from './cache.js';
import { buildPushContent, resolvePrivacyMode, summaryFromGraph, type MessageSummary } from './content.js';
import { RetryableError, type RetryReason } from './errors.js';
import { DEFAULT_CLAIM_TIMEOUT_MS, idempotencyDayOf } from '../domain/idempotency.js';
import type { NotificationCounters, NotificationOutcome } from './outcome.js';
import type { RichNotificationReader } from './rich.js';

export interface DeliveryMeta {
  /** 1 on the first delivery (the Functions host's `deliveryCount`). */
  deliveryCount: number;
  /** The queue's MaxDeliveryCount: on that delivery a throw dead-letters the message. */
  maxDeliveryCount: number;
  /** Attempts so far including scheduled retries, for the backoff. Default `deliveryCount`. */
  attempt?: number;
}

export interface NotificationPipelineDeps {
  mailboxes: Pick<MailboxStore, 'getMailbox'>;
  devices: DeviceStore;
  push: PushProvider;
  idempotency: IdempotencyStore;
  /** Graph (GraphMessageSource over the per-tenant clients). */
  messages: MessageSource;
  /**
   * Verifies and decrypts rich notifications. Without it, a message with encrypted content is read
   * from Graph instead (content from Graph needs no verification).
   */
  rich?: RichNotificationReader;
  /** The tenant's default (`DEFAULT_PRIVACY_MODE`) for mailboxes without their own. */
  defaultPrivacyMode: PrivacyMode;
  /** A `sending` claim older than this is a crashed attempt and is taken over. Default 2 min. */
  claimTimeoutMs?: number;
  /** Messages received longer ago than this are not pushed. Default 48 h; 0 = no limit. */
  maxMessageAgeMs?: number;
  /** How long a mailbox read is reused (bursts of mail). Default 30 s; 0 = always read. */
  mailboxCacheMs?: number;
  /** How long a device list is reused. Default 10 s (a new device waits at most that); 0 = always read. */
  deviceCacheMs?: number;
  /** Concurrent Graph reads per mailbox in this process (Outlook allows 4 per app). Default 4. */
  mailboxConcurrency?: number;
  /** Backoff without a Retry-After: base × 2^(attempt−1), capped, ±20% jitter. */
  backoff?: { baseMs: number; maxMs: number };
  counters?: NotificationCounters;
  now?: () => number;
  random?: () => number;
  /** Best-effort failures (e.g. unregistering a dead device at the provider). Never mail content. */
  log?: (line: string) => void;
  /**
   * Where the push of a connectivity-test mail is recorded (control document
   * `connectivity-<token>`), so the admin API's test can measure it end to end. Absent: not recorded.
   */
  testMarks?: Pick<ControlStorePort, 'put'>;
}

/** The connectivity test's marker in a subject: `[MailPush test 1a2b3c4d]`. */
export const CONNECTIVITY_TEST_SUBJECT = /\[MailPush test ([0-9a-f]{8,32})\]/;

/** The control document the push of a test mail is recorded under. */
export function connectivityTestDocument(token: string): string {
  return `connectivity-${token}`;
}

/** What the pipeline records for a pushed test mail. */
export interface ConnectivityTestMark {
  /** Epoch ms when the push provider accepted the push. */
  pushedAt: number;
  /** Devices pushed to. */
  devices: number;
}

export interface NotificationPipeline {
  /**
   * Processes one change message. Resolves with the outcome; throws RetryableError when it should
   * be tried again later (after every sent push was recorded), or another error.
   */
  process(message: ChangeMessage, meta: DeliveryMeta): Promise<NotificationOutcome>;
}

const DEFAULT_MAX_MESSAGE_AGE_MS = 48 * 3_600_000;
const DEFAULT_BACKOFF = { baseMs: 2_000, maxMs: 5 * 60_000 };

export function createNotificationPipeline(deps: NotificationPipelineDeps): NotificationPipeline {
  const now = deps.now ?? Date.now;
  const log = deps.log ?? (() => {});
  const claimTimeoutMs = deps.claimTimeoutMs ?? DEFAULT_CLAIM_TIMEOUT_MS;
  const maxMessageAgeMs = deps.maxMessageAgeMs ?? DEFAULT_MAX_MESSAGE_AGE_MS;
  const retryPolicy: RetryPolicy = {
    backoff: deps.backoff ?? DEFAULT_BACKOFF,
    random: deps.random ?? Math.random,
    ...(deps.counters ? { counters: deps.counters } : {}),
  };
  const mailboxCache = new TtlCache<MailboxRecord | undefined>(deps.mailboxCacheMs ?? 30_000, 50_000, now);
  const deviceCache = new TtlCache<DeviceRecord[]>(deps.deviceCacheMs ?? 10_000, 50_000, now);
  const graphLimiter = new KeyedLimiter(deps.mailboxConcurrency ?? 4);

  const recipients: RecipientLookup = {
    mailbox: (email) => mailboxCache.get(email, () => deps.mailboxes.getMailbox(email)),
    devices: (email) => deviceCache.get(email, () => deps.devices.listDevices(email)),
  };
  const content: ContentSources = {
    ...(deps.rich ? { rich: deps.rich } : {}),
    graph: (message) =>
      graphLimiter.run(message.userId.toLowerCase(), () =>
        deps.messages.getMessage(message.tenantId, message.userId, message.messageId),
      ),
  };
  const claimStore = { idempotency: deps.idempotency, now, claimTimeoutMs };
  const sender = { push: deps.push, idempotency: deps.idempotency };
  const settleStore = { idempotency: deps.idempotency, now, log };
  const deviceRemoval: DeviceRemoval = { devices: deps.devices, push: deps.push, log };

  async function run(message: ChangeMessage, retry: RetryFactory): Promise<NotificationOutcome> {
    const target = await filterChange(message, recipients);
    if (!target.ok) return target.outcome;

    const read = await readContent(message, content, retry);
    if (!read.ok) return read.outcome;
    const stale = filterContent(read.summary, { now, maxMessageAgeMs });
    if (stale) return stale;
    const privacyMode = resolvePrivacyMode(target.mailbox, deps.defaultPrivacyMode);
    const pushContent = buildPushContent({
      mode: privacyMode,
      mailboxEmail: target.email,
      messageId: message.messageId,
      message: read.summary,
    });

    const claims = await claimDevices(message, read.summary, target.devices, claimStore);
    if (claims.claimed.length === 0) return nothingClaimed(claims, retry);

    const results = await sendPushes(claims, pushContent, sender, retry);

    const settled = await settleClaims(claims, results, settleStore);
    // One regex test per pushed message; only the admin API's test mail carries the marker.
    if (deps.testMarks && settled.sent.length > 0) {
      const marker = CONNECTIVITY_TEST_SUBJECT.exec(read.summary.subject ?? '');
      if (marker) await markTestPush(deps.testMarks, marker[1]!, settled.sent.length, now(), log);
    }
    if (settled.invalid.length > 0) {
      for (const device of settled.invalid) await removeDevice(device, deviceRemoval);
      deviceCache.forget(target.email);
    }
    return conclude(claims, settled, { source: read.source, privacyMode, pushName: deps.push.name }, retry);
  }

  return {
    async process(message, meta) {
      const outcome = await run(message, retryFactory(meta, retryPolicy));
      deps.counters?.record(outcome);
      return outcome;
    },
  };
}

/** Best effort: a failed write only makes the connectivity test wait in vain, never the push fail. */
async function markTestPush(
  marks: Pick<ControlStorePort, 'put'>,
  token: string,
  devices: number,
  pushedAt: number,
  log: (line: string) => void,
): Promise<void> {
  try {
    const mark: ConnectivityTestMark = { pushedAt, devices };
    await marks.put(connectivityTestDocument(token), mark);
  } catch (error) {
    log(`recording the connectivity test's push failed: ${ensureError(error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Retries

interface RetryPolicy {
  /** Used when neither Graph nor the provider gave a Retry-After. */
  backoff: { baseMs: number; maxMs: number };
  random: () => number;
  counters?: NotificationCounters;
}

/** Builds (and counts) the RetryableError of one delivery of a message. */
type RetryFactory = (
  reason: RetryReason,
  retryAfterMs: number | undefined,
  message: string,
  extra?: { cause?: unknown; sent?: number },
) => RetryableError;

function retryFactory(meta: DeliveryMeta, policy: RetryPolicy): RetryFactory {
  return (reason, retryAfterMs, message, extra = {}) => {
    policy.counters?.recordRetry(reason);
    const finalAttempt = meta.deliveryCount >= meta.maxDeliveryCount;
    return new RetryableError(
      reason,
      retryAfterMs ?? backoffMs(meta.attempt ?? meta.deliveryCount, policy),
      message,
      { ...extra, finalAttempt },
    );
  };
}

/** base × 2^(attempt−1), capped, ±20% jitter so that retries of one burst spread out. */
function backoffMs(attempt: number, policy: Pick<RetryPolicy, 'backoff' | 'random'>): number {
  const { baseMs, maxMs } = policy.backoff;
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, Math.min(30, attempt - 1)));
  return Math.round(exp * (0.8 + 0.4 * policy.random()));
}

/** Graph 429 / 5xx / no answer → RetryableError; anything else is not ours to classify. */
function graphRetry(error: unknown, retry: RetryFactory): RetryableError | undefined {
  if (!(error instanceof GraphRequestError)) return undefined;
  if (error.status === 429) {
    return retry('graph_throttled', error.retryAfterMs, `Graph throttled reading the message`, {
      cause: error,
    });
  }
  if (error.status === 0 || error.status >= 500) {
    return retry(
      'graph_unavailable',
      error.retryAfterMs,
      `Graph failed reading the message (${error.status === 0 ? (error.graphCode ?? 'no answer') : `HTTP ${error.status}`})`,
      { cause: error },
    );
  }
  return undefined;
}

type Dropped = { ok: false; outcome: NotificationOutcome };

// ---------------------------------------------------------------------------------------------
// 1. Filter

/** Cached reads of the mailbox and its devices, by lower-cased address. */
interface RecipientLookup {
  mailbox(email: string): Promise<MailboxRecord | undefined>;
  devices(email: string): Promise<DeviceRecord[]>;
}

/** Only a `created` change of an enrolled mailbox (still this user's) with devices can push. */
async function filterChange(
  message: Pick<ChangeMessage, 'changeType' | 'mailboxEmail' | 'userId'>,
  lookup: RecipientLookup,
): Promise<{ ok: true; email: string; mailbox: MailboxRecord; devices: DeviceRecord[] } | Dropped> {
  if (message.changeType !== 'created') {
    return { ok: false, outcome: { action: 'dropped', reason: 'not_created' } };
  }
  const email = message.mailboxEmail.toLowerCase();
  const [mailbox, devices] = await Promise.all([lookup.mailbox(email), lookup.devices(email)]);
  if (
    !mailbox ||
    (mailbox.userId !== undefined && mailbox.userId.toLowerCase() !== message.userId.toLowerCase())
  ) {
    return { ok: false, outcome: { action: 'dropped', reason: 'mailbox_not_enrolled' } };
  }
  if (devices.length === 0) return { ok: false, outcome: { action: 'dropped', reason: 'no_devices' } };
  return { ok: true, email, mailbox, devices };
}

/** A message read elsewhere meanwhile, or older than the age limit, is not pushed. */
function filterContent(
  summary: Pick<MessageSummary, 'isRead' | 'receivedDateTime'>,
  limits: { now: () => number; maxMessageAgeMs: number },
): NotificationOutcome | undefined {
  if (summary.isRead === true) return { action: 'dropped', reason: 'already_read' };
  const receivedMs = summary.receivedDateTime ? Date.parse(summary.receivedDateTime) : Number.NaN;
  if (
    limits.maxMessageAgeMs > 0 &&
    Number.isFinite(receivedMs) &&
    limits.now() - receivedMs > limits.maxMessageAgeMs
  ) {
    return { action: 'dropped', reason: 'too_old' };
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// 2. Read content

interface ContentSources {
  rich?: RichNotificationReader;
  /** The message from Graph (undefined: 404), within the per-mailbox concurrency limit. */
  graph(message: ChangeMessage): Promise<MailMessage | undefined>;
}

/** Rich content when we can verify it, else the message from Graph (a read nobody must verify). */
async function readContent(
  message: ChangeMessage,
  sources: ContentSources,
  retry: RetryFactory,
): Promise<{ ok: true; summary: MessageSummary; source: 'rich' | 'graph' } | Dropped> {
  if (message.encryptedContent !== undefined && sources.rich) {
    const result = await sources.rich.read(message);
    if (!result.ok) {
      return { ok: false, outcome: { action: 'dropped', reason: result.reason, detail: result.detail } };
    }
    return { ok: true, summary: summaryFromGraph(result.resource), source: 'rich' };
  }
  let found;
  try {
    found = await sources.graph(message);
  } catch (error) {
    throw graphRetry(error, retry) ?? error;
  }
  if (!found) return { ok: false, outcome: { action: 'dropped', reason: 'message_gone' } };
  return { ok: true, summary: summaryFromGraph(found), source: 'graph' };
}

// ---------------------------------------------------------------------------------------------
// 3. Claim

type Claimed = Extract<ClaimResult, { status: 'claimed' }>;
type InProgress = Extract<ClaimResult, { status: 'in_progress' }>;

interface Claims {
  messageKey: string;
  devicesById: Map<string, DeviceRecord>;
  claimed: Claimed[];
  inProgress: InProgress[];
  alreadySent: number;
  tookOver: number;
}

/** Claims every device of the message in one store call, in the partition of the day it was received. */
async function claimDevices(
  message: ChangeMessage,
  summary: Pick<MessageSummary, 'receivedDateTime'>,
  devices: readonly DeviceRecord[],
  store: { idempotency: Pick<IdempotencyStore, 'claim'>; now: () => number; claimTimeoutMs: number },
): Promise<Claims> {
  const received = Date.parse(message.receivedAt);
  const day = idempotencyDayOf(summary.receivedDateTime, Number.isFinite(received) ? received : store.now());
  const messageKey = messageKeyFor(message);
  const devicesById = new Map(devices.map((d) => [d.deviceId, d]));
  const results = await store.idempotency.claim({
    day,
    messageKey,
    deviceIds: [...devicesById.keys()],
    now: store.now(),
    claimTimeoutMs: store.claimTimeoutMs,
  });
  const claimed = results.filter((c): c is Claimed => c.status === 'claimed');
  return {
    messageKey,
    devicesById,
    claimed,
    inProgress: results.filter((c): c is InProgress => c.status === 'in_progress'),
    alreadySent: results.filter((c) => c.status === 'already_sent').length,
    tookOver: claimed.filter((c) => c.tookOver).length,
  };
}

/** Nothing of ours to send: another worker is on it (retry), or every device already has it. */
function nothingClaimed(
  claims: Pick<Claims, 'inProgress' | 'alreadySent'>,
  retry: RetryFactory,
): NotificationOutcome {
  const { inProgress, alreadySent } = claims;
  if (inProgress.length > 0) {
    throw retry(
      'in_progress',
      Math.max(...inProgress.map((c) => c.retryAfterMs)),
      `another worker is pushing this message to ${inProgress.length} device(s)`,
    );
  }
  return { action: 'dropped', reason: 'duplicate', alreadySent };
}

// ---------------------------------------------------------------------------------------------
// 4. Send

/**
 * One provider call for the claimed devices; the provider's answer per device. If the call fails
 * as a whole, nothing went out: every claim is released before the retry is thrown.
 */
async function sendPushes(
  claims: Pick<Claims, 'claimed' | 'devicesById'>,
  content: PushContent,
  io: { push: Pick<PushProvider, 'name' | 'send'>; idempotency: Pick<IdempotencyStore, 'release'> },
  retry: RetryFactory,
): Promise<Map<string, PushDeliveryOutcome>> {
  let outcomes: PushDeliveryOutcome[];
  try {
    outcomes = await io.push.send(
      claims.claimed.map((c) => claims.devicesById.get(c.deviceId)!),
      content,
    );
  } catch (error) {
    await io.idempotency.release([...claimsByDevice(claims.claimed).values()]);
    throw retry('push_retry', undefined, `${io.push.name} could not send: ${ensureError(error).message}`, {
      cause: error,
    });
  }
  return new Map(outcomes.map((o) => [o.deviceId, o]));
}

function claimsByDevice(claimed: readonly Claimed[]): Map<string, DeliveryClaim> {
  return new Map(claimed.map((c) => [c.deviceId, c.claim]));
}

// ---------------------------------------------------------------------------------------------
// 5. Settle

interface Settled {
  sent: DeliveryClaim[];
  /** Devices whose token the provider called invalid: to be removed. */
  invalid: DeviceRecord[];
  /** Devices to try again (the provider said `retry`, or gave no answer for them). */
  retries: number;
  /** The longest Retry-After the provider gave for them. */
  providerRetryAfter: number | undefined;
}

/**
 * Every claim ends marked sent or released. Recording what went out comes first: it is what keeps
 * a retry from pushing twice.
 */
async function settleClaims(
  claims: Pick<Claims, 'claimed' | 'devicesById' | 'messageKey'>,
  results: ReadonlyMap<string, PushDeliveryOutcome>,
  store: {
    idempotency: Pick<IdempotencyStore, 'markSent' | 'release'>;
    now: () => number;
    log: (line: string) => void;
  },
): Promise<Settled> {
  const settled: Settled = { sent: [], invalid: [], retries: 0, providerRetryAfter: undefined };
  const release: DeliveryClaim[] = [];
  for (const [deviceId, claim] of claimsByDevice(claims.claimed)) {
    const result = results.get(deviceId);
    if (result?.outcome === 'sent') settled.sent.push(claim);
    else {
      release.push(claim);
      if (result?.outcome === 'invalid_token') settled.invalid.push(claims.devicesById.get(deviceId)!);
      else {
        // `retry`, or no answer for this device: it was not (known to be) sent.
        settled.retries += 1;
        if (result?.outcome === 'retry' && result.retryAfterMs !== undefined) {
          settled.providerRetryAfter = Math.max(settled.providerRetryAfter ?? 0, result.retryAfterMs);
        }
      }
    }
  }
  const { lost } = await store.idempotency.markSent(settled.sent, store.now());
  if (lost > 0) store.log(`${lost} delivery claim(s) of ${claims.messageKey} were taken over while sending`);
  await store.idempotency.release(release);
  return settled;
}

interface DeviceRemoval {
  devices: Pick<DeviceStore, 'getDevice' | 'deleteDeviceIfUnchanged'>;
  push: Pick<PushProvider, 'name' | 'unregisterDevice'>;
  log: (line: string) => void;
}

/** Best effort: a device that cannot be removed now is tried again on its next invalid answer. */
async function removeDevice(device: DeviceRecord, io: DeviceRemoval): Promise<void> {
  try {
    // Re-read first: the device list may be cached, and if the app re-registered the device with
    // a new token meanwhile, the row (and the provider's installation, which has the same id) must
    // stay. The delete is conditional on the row read, so a re-registration racing it wins.
    const current = await io.devices.getDevice(device.mailboxEmail, device.deviceId);
    if (!current || current.token !== device.token) return;
    if (!(await io.devices.deleteDeviceIfUnchanged(current))) return;
  } catch (error) {
    io.log(
      `could not remove device ${device.deviceId} of ${device.mailboxEmail}: ${ensureError(error).message}`,
    );
    return;
  }
  try {
    await io.push.unregisterDevice(device);
  } catch (error) {
    io.log(
      `could not unregister device ${device.deviceId} at ${io.push.name}: ${ensureError(error).message}`,
    );
  }
}

/** The outcome, or the retry for whatever is still missing (after everything sent was recorded). */
function conclude(
  claims: Pick<Claims, 'inProgress' | 'alreadySent' | 'tookOver'>,
  settled: Settled,
  pushed: { source: 'rich' | 'graph'; privacyMode: PrivacyMode; pushName: string },
  retry: RetryFactory,
): NotificationOutcome {
  const { inProgress, alreadySent } = claims;
  const { sent, invalid, retries, providerRetryAfter } = settled;
  if (retries > 0 || inProgress.length > 0) {
    const waits = [
      ...(providerRetryAfter !== undefined ? [providerRetryAfter] : []),
      ...inProgress.map((c) => c.retryAfterMs),
    ];
    throw retry(
      retries > 0 ? 'push_retry' : 'in_progress',
      waits.length > 0 ? Math.max(...waits) : undefined,
      retries > 0
        ? `${pushed.pushName} asked to retry ${retries} device(s) (${sent.length} sent)`
        : `another worker is pushing this message to ${inProgress.length} device(s) (${sent.length} sent)`,
      { sent: sent.length },
    );
  }
  if (sent.length === 0) {
    return alreadySent > 0
      ? { action: 'dropped', reason: 'duplicate', alreadySent, removedDevices: invalid.length }
      : { action: 'dropped', reason: 'devices_invalid', removedDevices: invalid.length };
  }
  return {
    action: 'pushed',
    sent: sent.length,
    alreadySent,
    removedDevices: invalid.length,
    tookOver: claims.tookOver,
    contentSource: pushed.source,
    privacyMode: pushed.privacyMode,
  };
}

/**
 * The per-message key: the same hash the webhook uses as the Service Bus messageId (mailbox user +
 * message id + change type), so a notification, its Graph retries and a resync of the same message
 * share one key.
 */
export function messageKeyFor(
  message: Pick<
    ChangeMessage,
    'userId' | 'messageId' | 'changeType' | 'subscriptionId' | 'tenantId' | 'resource'
  >,
): string {
  return dedupKeyFor({
    kind: 'change',
    subscriptionId: message.subscriptionId,
    clientState: undefined,
    tenantId: message.tenantId,
    changeType: message.changeType,
    resource: message.resource,
    resourceUserId: message.userId,
    messageId: message.messageId,
  });
}
