/**
 * Due-time buckets of the renewal schedule: 5-minute slots named `yyyyMMddHHmm` (UTC, start of
 * the slot). Keys sort as strings in time order. The size is fixed, not configurable: readers step
 * from bucket to bucket, so every writer and reader must agree on it for the table's lifetime.
 */

export const RENEWAL_BUCKET_MS = 5 * 60_000;

const BUCKET_KEY_RE = /^\d{12}$/;

/** Formatted keys of recently used slots (formatting dates is the hot spot of a big run). */
const keyCache = new Map<number, string>();
const KEY_CACHE_SIZE = 4_096;

/** The bucket holding `time` (epoch ms). */
export function renewalBucketOf(time: number): string {
  if (!Number.isFinite(time)) throw new RangeError('renewal bucket: time must be a finite number');
  const slot = Math.floor(time / RENEWAL_BUCKET_MS);
  let key = keyCache.get(slot);
  if (key === undefined) {
    key = formatSlot(slot);
    if (keyCache.size >= KEY_CACHE_SIZE) keyCache.clear();
    keyCache.set(slot, key);
  }
  return key;
}

function formatSlot(slot: number): string {
  const d = new Date(slot * RENEWAL_BUCKET_MS);
  const year = d.getUTCFullYear();
  if (year < 1000 || year > 9999) throw new RangeError('renewal bucket: year out of range');
  return (
    String(year) +
    two(d.getUTCMonth() + 1) +
    two(d.getUTCDate()) +
    two(d.getUTCHours()) +
    two(d.getUTCMinutes())
  );
}

/** Start of the bucket (epoch ms). Throws RangeError for a malformed key. */
export function renewalBucketStart(bucket: string): number {
  if (!isRenewalBucket(bucket)) throw new RangeError('renewal bucket key must be yyyyMMddHHmm');
  const time = Date.UTC(
    Number(bucket.slice(0, 4)),
    Number(bucket.slice(4, 6)) - 1,
    Number(bucket.slice(6, 8)),
    Number(bucket.slice(8, 10)),
    Number(bucket.slice(10, 12)),
  );
  if (renewalBucketOf(time) !== bucket) throw new RangeError('renewal bucket key is not a bucket start');
  return time;
}

export function nextRenewalBucket(bucket: string): string {
  return renewalBucketOf(renewalBucketStart(bucket) + RENEWAL_BUCKET_MS);
}

/** Shape check only (12 digits); `renewalBucketStart` also checks it is a real bucket start. */
export function isRenewalBucket(value: unknown): value is string {
  return typeof value === 'string' && BUCKET_KEY_RE.test(value);
}

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}
