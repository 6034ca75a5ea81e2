/**
 * Per-tenant budget for subscription writes. Graph throttles subscription writes per app per
 * tenant (published: 1,000 per 20 s); we spend less than that, because subscription creation,
 * lifecycle recreation and the EWS migration write to the same budget.
 */

/** A classic token bucket. Starts full. Times are epoch ms from the caller's clock. */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    readonly capacity: number,
    /** Tokens added per millisecond. */
    readonly refillPerMs: number,
    now: number,
  ) {
    if (!(capacity > 0) || !Number.isFinite(capacity)) throw new RangeError('capacity must be positive');
    if (!(refillPerMs > 0) || !Number.isFinite(refillPerMs)) {
      throw new RangeError('refillPerMs must be positive');
    }
    this.tokens = capacity;
    this.updatedAt = now;
  }

  /** Tokens available at `now` (fractional). */
  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  /** Takes `n` tokens if they are all available at `now`; otherwise takes none. */
  tryTake(n: number, now: number): boolean {
    this.check(n);
    this.refill(now);
    // Tolerates float rounding, so a caller that waited until nextAvailableAt() is not refused.
    if (this.tokens + 1e-9 < n) return false;
    this.tokens = Math.max(0, this.tokens - n);
    return true;
  }

  /** The earliest time (≥ now, whole ms) at which `n` tokens will be available. */
  nextAvailableAt(n: number, now: number): number {
    this.check(n);
    this.refill(now);
    const missing = n - this.tokens;
    if (missing <= 1e-9) return now;
    return Math.max(now, this.updatedAt) + Math.ceil(missing / this.refillPerMs);
  }

  private refill(now: number): void {
    // A clock that steps back adds nothing (and takes nothing away).
    if (now <= this.updatedAt) return;
    this.tokens = Math.min(this.capacity, this.tokens + (now - this.updatedAt) * this.refillPerMs);
    this.updatedAt = now;
  }

  private check(n: number): void {
    if (!(n > 0) || n > this.capacity) {
      throw new RangeError(`cannot take ${n} tokens from a bucket of capacity ${this.capacity}`);
    }
  }
}

export interface WriteBudget {
  /** Writes allowed per window, per tenant. Default 600 (60% of Graph's published 1,000). */
  writes: number;
  /** Window length. Default 20 s (Graph's window). */
  windowMs: number;
  /**
   * Burst capacity of the bucket. Any window of `windowMs` then sees at most
   * `burst + refill × windowMs = writes`, so the budget holds for every window, not only on
   * average. Default 20% of `writes`; at least one full batch.
   */
  burst: number;
}

export const DEFAULT_WRITE_BUDGET: WriteBudget = { writes: 600, windowMs: 20_000, burst: 120 };

/** Bucket parameters that keep every `windowMs` window at or below `writes`. */
export function bucketParameters(budget: WriteBudget): { capacity: number; refillPerMs: number } {
  const { writes, windowMs, burst } = budget;
  if (!(writes > 0) || !(windowMs > 0) || !(burst > 0) || burst >= writes) {
    throw new RangeError('write budget needs writes > burst > 0 and windowMs > 0');
  }
  return { capacity: burst, refillPerMs: (writes - burst) / windowMs };
}

/**
 * Token buckets and Retry-After pauses per tenant. Keep one per process and pass it to every
 * pass, so consecutive passes in a warm host share the state; a fresh one is also safe because a
 * pass stops dispatching well before the next one starts (more than one window apart).
 */
export class TenantBudgets {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly pauses = new Map<string, number>();
  private readonly capacity: number;
  private readonly refillPerMs: number;

  constructor(readonly budget: WriteBudget = DEFAULT_WRITE_BUDGET) {
    ({ capacity: this.capacity, refillPerMs: this.refillPerMs } = bucketParameters(budget));
  }

  /** Largest batch a tenant can ever be granted at once. */
  get maxTake(): number {
    return Math.floor(this.capacity);
  }

  /** Earliest time `n` writes may be sent for the tenant (pause and tokens both respected). */
  readyAt(tenantId: string, n: number, now: number): number {
    return Math.max(this.pausedUntil(tenantId), this.bucket(tenantId, now).nextAvailableAt(n, now));
  }

  /** Takes `n` tokens if the tenant is not paused and has them; otherwise takes none. */
  tryTake(tenantId: string, n: number, now: number): boolean {
    if (this.pausedUntil(tenantId) > now) return false;
    return this.bucket(tenantId, now).tryTake(n, now);
  }

  /** Honours a Retry-After: no writes for the tenant before `until`. Never shortens a pause. */
  pause(tenantId: string, until: number): void {
    if (until > this.pausedUntil(tenantId)) this.pauses.set(tenantId, until);
  }

  pausedUntil(tenantId: string): number {
    return this.pauses.get(tenantId) ?? Number.NEGATIVE_INFINITY;
  }

  private bucket(tenantId: string, now: number): TokenBucket {
    let bucket = this.buckets.get(tenantId);
    if (!bucket) {
      bucket = new TokenBucket(this.capacity, this.refillPerMs, now);
      this.buckets.set(tenantId, bucket);
    }
    return bucket;
  }
}
