/**
 * Exactly one push per (message, device), despite Graph's duplicate notifications (it retries for
 * up to 4 hours, beyond Service Bus duplicate detection when a POST was slow), resyncs that find a
 * notified message again, and queue redeliveries after a crash or an abandon. Pure decision logic;
 * the records live in shared/store/idempotency-store.ts.
 *
 * Protocol, per (message, device):
 *   1. claim: write `sending` with a claim time, conditionally, so that of concurrent claimers
 *      exactly one wins. If a record exists (decideClaim): `sent` → skip; `sending` younger than the
 *      claim timeout → another worker is on it, retry later; older → that attempt crashed: take it
 *      over, conditional on the ETag read.
 *   2. send the push.
 *   3. mark `sent`; if the push was not sent, release the claim instead (a retry may claim at once).
 *      Both are conditional on the claim still being ours.
 *
 * Trade-off: a crash (or a lost lock, or a push slower than the claim timeout) between 2 and 3 leaves
 * a `sending` record behind; after the claim timeout a redelivery takes it over and sends again. So
 * the guarantee is exactly-once except in that window, where it is at-least-once: a rare second push
 * beats a lost one, and no push provider offers a transactional "send if not sent". The timeout
 * must be longer than a push takes (seconds) and shorter than the wait a user would accept for a
 * retried push after a crash (minutes): default 2 minutes.
 *
 * Keys: PartitionKey = `${day}-${shard}`: the UTC day (`yyyyMMdd`) of the message's
 * `receivedDateTime` — stable across redeliveries and Graph's retries, unlike the time we process
 * it — plus one hex digit of the message key's hash, so a day's writes spread over 16 partitions
 * (one Table partition serves about 2,000 entity operations per second). Cleanup after the
 * retention period deletes whole old days: `PartitionKey lt '<cutoff day>'` covers every shard of
 * every older day (`20261116-f` < `20261117`) and reads exactly the rows to delete, never a live row.
 * How a store lays out the records inside a partition (the Table store: one row per message, one
 * slot per device, so claiming every device of a message is one write) is the store's concern.
 */
import { createHash } from 'node:crypto';
import type { DeliveryRecord } from './ports.js';

export const DEFAULT_CLAIM_TIMEOUT_MS = 2 * 60_000;
export const DEFAULT_RETENTION_DAYS = 7;

const DAY_KEY = /^\d{8}$/;

/** `yyyyMMdd` (UTC) of a time in ms. */
export function dayKey(ms: number): string {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) throw new RangeError('dayKey: not a valid time');
  const y = d.getUTCFullYear().toString().padStart(4, '0');
  const m = (d.getUTCMonth() + 1).toString().padStart(2, '0');
  const day = d.getUTCDate().toString().padStart(2, '0');
  return `${y}${m}${day}`;
}

export function isDayKey(value: unknown): value is string {
  return typeof value === 'string' && DAY_KEY.test(value);
}

/**
 * The partition of a message's records: the UTC day of its `receivedDateTime` (Graph's, stable
 * however often the message is redelivered), else of `fallbackMs` (when the notification was
 * received — only when Graph gave no time, which it always does for messages).
 */
export function idempotencyDayOf(receivedDateTime: string | undefined, fallbackMs: number): string {
  const parsed = receivedDateTime === undefined ? Number.NaN : Date.parse(receivedDateTime);
  return dayKey(Number.isFinite(parsed) ? parsed : fallbackMs);
}

/** The oldest day still kept: records of days before it may be purged. */
export function retentionCutoffDay(now: number, retentionDays: number): string {
  return dayKey(now - retentionDays * 86_400_000);
}

/** Partitions per day. */
export const DELIVERY_SHARDS = 16;

/** PartitionKey of a message's records: its day plus a shard digit from the message key. */
export function deliveryPartitionKey(day: string, messageKey: string): string {
  const shard = (createHash('sha256').update(messageKey, 'utf8').digest()[0] ?? 0) % DELIVERY_SHARDS;
  return `${day}-${shard.toString(16)}`;
}

/** Key of one (message, device) record, for stores that keep a record per device (`|` never occurs in either part). */
export function deliveryRowKey(messageKey: string, deviceId: string): string {
  return `${messageKey}|${deviceId}`;
}

export type ClaimDecision =
  /** No record: insert a `sending` claim (conditional insert). */
  | { action: 'insert' }
  /** A push was already sent. */
  | { action: 'skip_sent' }
  /** A live claim by someone else: retry after it would expire. */
  | { action: 'wait'; retryAfterMs: number }
  /** A claim older than the timeout: its holder crashed; replace it with the ETag read. */
  | { action: 'take_over'; etag: string };

/** What to do about one (message, device), given its current record. */
export function decideClaim(
  existing: Pick<DeliveryRecord, 'state' | 'claimedAt' | 'etag'> | undefined,
  now: number,
  claimTimeoutMs: number,
): ClaimDecision {
  if (!existing) return { action: 'insert' };
  if (existing.state === 'sent') return { action: 'skip_sent' };
  const age = now - existing.claimedAt;
  // A claim time a little in the future (clock skew between instances) counts as fresh; one far in
  // the future, or unreadable, is corrupt and may be taken over rather than block forever.
  if (Number.isFinite(age) && age > -claimTimeoutMs && age < claimTimeoutMs) {
    return { action: 'wait', retryAfterMs: Math.max(1_000, claimTimeoutMs - Math.max(0, age)) };
  }
  return { action: 'take_over', etag: existing.etag };
}
