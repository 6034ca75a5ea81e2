/**
 * The notification-to-push pipeline: one validated change message (from the `mail-notifications`
 * queue) becomes at most one push per registered device of the mailbox.
 *
 *   changeType `created`? → mailbox enrolled? → devices? → content (rich notification, verified and
 *   decrypted; else the message from Graph with `$select`) → 404 / already read / too old? →
 *   privacy mode → claim (message, device) → push → mark sent / release / remove invalid devices.
 *
 * Every message ends in exactly one of: a `pushed` outcome, a `dropped` outcome with a reason (never
 * silent), a RetryableError (Graph 429/5xx, the provider asked for a retry, another worker is on it;
 * carries Retry-After or a backoff), or another error (a bug or a dependency down: the queue retries
 * and finally dead-letters). See idempotency.ts for why a push goes out exactly once per device.
 */
import { dedupKeyFor } from '../domain/notifications.js';
import type { ChangeMessage, MailboxRecord, PrivacyMode } from '../domain/model.js';
import type {
  DeviceRecord,
  DeviceStore,
  MailboxStore,
  PushDeliveryOutcome,
  PushProvider,
} from '../domain/ports.js';
import { ensureError } from '../errors.js';
import { GraphRequestError } from '../graph/errors.js';
import { KeyedLimiter, TtlCache } from './cache.js';
import { buildPushContent, resolvePrivacyMode, summaryFromGraph, type MessageSummary } from './content.js';
import { RetryableError, type RetryReason } from './errors.js';
import { DEFAULT_CLAIM_TIMEOUT_MS, idempotencyDayOf } from '../domain/idempotency.js';
import type { NotificationCounters, NotificationOutcome } from './outcome.js';
import type { ClaimResult, DeliveryClaim, IdempotencyStore, MessageSource } from '../domain/ports.js';
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
  const random = deps.random ?? Math.random;
  const log = deps.log ?? (() => {});
  const claimTimeoutMs = deps.claimTimeoutMs ?? DEFAULT_CLAIM_TIMEOUT_MS;
  const maxMessageAgeMs = deps.maxMessageAgeMs ?? DEFAULT_MAX_MESSAGE_AGE_MS;
  const backoff = deps.backoff ?? DEFAULT_BACKOFF;
  const mailboxCache = new TtlCache<MailboxRecord | undefined>(deps.mailboxCacheMs ?? 30_000, 50_000, now);
  const deviceCache = new TtlCache<DeviceRecord[]>(deps.deviceCacheMs ?? 10_000, 50_000, now);
  const graphLimiter = new KeyedLimiter(deps.mailboxConcurrency ?? 4);

  const backoffMs = (attempt: number): number => {
    const exp = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, Math.min(30, attempt - 1)));
    return Math.round(exp * (0.8 + 0.4 * random()));
  };

  const retryable = (
    reason: RetryReason,
    retryAfterMs: number | undefined,
    meta: DeliveryMeta,
    message: string,
    extra: { cause?: unknown; sent?: number } = {},
  ): RetryableError => {
    deps.counters?.recordRetry(reason);
    const finalAttempt = meta.deliveryCount >= meta.maxDeliveryCount;
    return new RetryableError(
      reason,
      retryAfterMs ?? backoffMs(meta.attempt ?? meta.deliveryCount),
      message,
      {
        ...extra,
        finalAttempt,
      },
    );
  };

  const dropped = (outcome: NotificationOutcome): NotificationOutcome => {
    deps.counters?.record(outcome);
    return outcome;
  };

  /** Graph 429 / 5xx / no answer → RetryableError; anything else is not ours to classify. */
  const graphRetry = (error: unknown, meta: DeliveryMeta): RetryableError | undefined => {
    if (!(error instanceof GraphRequestError)) return undefined;
    if (error.status === 429) {
      return retryable('graph_throttled', error.retryAfterMs, meta, `Graph throttled reading the message`, {
        cause: error,
      });
    }
    if (error.status === 0 || error.status >= 500) {
      return retryable(
        'graph_unavailable',
        error.retryAfterMs,
        meta,
        `Graph failed reading the message (${error.status === 0 ? (error.graphCode ?? 'no answer') : `HTTP ${error.status}`})`,
        { cause: error },
      );
    }
    return undefined;
  };

  async function readContent(
    message: ChangeMessage,
    meta: DeliveryMeta,
  ): Promise<
    | { ok: true; summary: MessageSummary; source: 'rich' | 'graph' }
    | { ok: false; outcome: NotificationOutcome }
  > {
    if (message.encryptedContent !== undefined && deps.rich) {
      const result = await deps.rich.read(message);
      if (!result.ok) {
        return { ok: false, outcome: { action: 'dropped', reason: result.reason, detail: result.detail } };
      }
      return { ok: true, summary: summaryFromGraph(result.resource), source: 'rich' };
    }
    let found;
    try {
      found = await graphLimiter.run(message.userId.toLowerCase(), () =>
        deps.messages.getMessage(message.tenantId, message.userId, message.messageId),
      );
    } catch (error) {
      throw graphRetry(error, meta) ?? error;
    }
    if (!found) return { ok: false, outcome: { action: 'dropped', reason: 'message_gone' } };
    return { ok: true, summary: summaryFromGraph(found), source: 'graph' };
  }

  async function removeDevice(device: DeviceRecord): Promise<void> {
    try {
      // Re-read first: the device list may be cached, and if the app re-registered the device with
      // a new token meanwhile, the row (and the provider's installation, which has the same id) must
      // stay. The delete is conditional on the row read, so a re-registration racing it wins.
      const current = await deps.devices.getDevice(device.mailboxEmail, device.deviceId);
      if (!current || current.token !== device.token) return;
      if (!(await deps.devices.deleteDeviceIfUnchanged(current))) return;
    } catch (error) {
      log(
        `could not remove device ${device.deviceId} of ${device.mailboxEmail}: ${ensureError(error).message}`,
      );
      return;
    }
    try {
      await deps.push.unregisterDevice(device);
    } catch (error) {
      log(
        `could not unregister device ${device.deviceId} at ${deps.push.name}: ${ensureError(error).message}`,
      );
    }
  }

  return {
    async process(message, meta) {
      if (message.changeType !== 'created') {
        return dropped({ action: 'dropped', reason: 'not_created' });
      }
      const email = message.mailboxEmail.toLowerCase();
      const [mailbox, devices] = await Promise.all([
        mailboxCache.get(email, () => deps.mailboxes.getMailbox(email)),
        deviceCache.get(email, () => deps.devices.listDevices(email)),
      ]);
      if (
        !mailbox ||
        (mailbox.userId !== undefined && mailbox.userId.toLowerCase() !== message.userId.toLowerCase())
      ) {
        return dropped({ action: 'dropped', reason: 'mailbox_not_enrolled' });
      }
      if (devices.length === 0) return dropped({ action: 'dropped', reason: 'no_devices' });

      const content = await readContent(message, meta);
      if (!content.ok) return dropped(content.outcome);
      const { summary, source } = content;
      if (summary.isRead === true) return dropped({ action: 'dropped', reason: 'already_read' });
      const receivedMs = summary.receivedDateTime ? Date.parse(summary.receivedDateTime) : Number.NaN;
      if (maxMessageAgeMs > 0 && Number.isFinite(receivedMs) && now() - receivedMs > maxMessageAgeMs) {
        return dropped({ action: 'dropped', reason: 'too_old' });
      }

      const privacyMode = resolvePrivacyMode(mailbox, deps.defaultPrivacyMode);
      const push = buildPushContent({
        mode: privacyMode,
        mailboxEmail: email,
        messageId: message.messageId,
        message: summary,
      });

      // Claim every device (one conditional write per device; one transaction when they fit).
      const received = Date.parse(message.receivedAt);
      const day = idempotencyDayOf(summary.receivedDateTime, Number.isFinite(received) ? received : now());
      const messageKey = messageKeyFor(message);
      const byId = new Map(devices.map((d) => [d.deviceId, d]));
      const claims: ClaimResult[] = await deps.idempotency.claim({
        day,
        messageKey,
        deviceIds: [...byId.keys()],
        now: now(),
        claimTimeoutMs,
      });
      const claimed = claims.filter(
        (c): c is Extract<ClaimResult, { status: 'claimed' }> => c.status === 'claimed',
      );
      const alreadySent = claims.filter((c) => c.status === 'already_sent').length;
      const inProgress = claims.filter(
        (c): c is Extract<ClaimResult, { status: 'in_progress' }> => c.status === 'in_progress',
      );
      const tookOver = claimed.filter((c) => c.tookOver).length;

      if (claimed.length === 0) {
        if (inProgress.length > 0) {
          throw retryable(
            'in_progress',
            Math.max(...inProgress.map((c) => c.retryAfterMs)),
            meta,
            `another worker is pushing this message to ${inProgress.length} device(s)`,
          );
        }
        return dropped({ action: 'dropped', reason: 'duplicate', alreadySent });
      }

      // Send to the claimed devices; whatever happens, every claim ends marked sent or released.
      const claimOf = new Map(claimed.map((c) => [c.deviceId, c.claim]));
      let outcomes: PushDeliveryOutcome[];
      try {
        outcomes = await deps.push.send(
          claimed.map((c) => byId.get(c.deviceId)!),
          push,
        );
      } catch (error) {
        await deps.idempotency.release([...claimOf.values()]);
        throw retryable(
          'push_retry',
          undefined,
          meta,
          `${deps.push.name} could not send: ${ensureError(error).message}`,
          {
            cause: error,
          },
        );
      }
      const outcomeOf = new Map(outcomes.map((o) => [o.deviceId, o]));
      const sent: DeliveryClaim[] = [];
      const release: DeliveryClaim[] = [];
      const invalid: DeviceRecord[] = [];
      let providerRetryAfter: number | undefined;
      let retries = 0;
      for (const [deviceId, claim] of claimOf) {
        const result = outcomeOf.get(deviceId);
        if (result?.outcome === 'sent') sent.push(claim);
        else {
          release.push(claim);
          if (result?.outcome === 'invalid_token') invalid.push(byId.get(deviceId)!);
          else {
            // `retry`, or no answer for this device: it was not (known to be) sent.
            retries += 1;
            if (result?.outcome === 'retry' && result.retryAfterMs !== undefined) {
              providerRetryAfter = Math.max(providerRetryAfter ?? 0, result.retryAfterMs);
            }
          }
        }
      }
      // Recording what went out comes first: it is what keeps a retry from pushing twice.
      const { lost } = await deps.idempotency.markSent(sent, now());
      if (lost > 0) log(`${lost} delivery claim(s) of ${messageKey} were taken over while sending`);
      await deps.idempotency.release(release);
      if (invalid.length > 0) {
        for (const device of invalid) await removeDevice(device);
        deviceCache.forget(email);
      }

      if (retries > 0 || inProgress.length > 0) {
        const waits = [
          ...(providerRetryAfter !== undefined ? [providerRetryAfter] : []),
          ...inProgress.map((c) => c.retryAfterMs),
        ];
        throw retryable(
          retries > 0 ? 'push_retry' : 'in_progress',
          waits.length > 0 ? Math.max(...waits) : undefined,
          meta,
          retries > 0
            ? `${deps.push.name} asked to retry ${retries} device(s) (${sent.length} sent)`
            : `another worker is pushing this message to ${inProgress.length} device(s) (${sent.length} sent)`,
          { sent: sent.length },
        );
      }
      if (sent.length === 0) {
        return dropped(
          alreadySent > 0
            ? { action: 'dropped', reason: 'duplicate', alreadySent, removedDevices: invalid.length }
            : { action: 'dropped', reason: 'devices_invalid', removedDevices: invalid.length },
        );
      }
      const outcome: NotificationOutcome = {
        action: 'pushed',
        sent: sent.length,
        alreadySent,
        removedDevices: invalid.length,
        tookOver,
        contentSource: source,
        privacyMode,
      };
      deps.counters?.record(outcome);
      return outcome;
    },
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
