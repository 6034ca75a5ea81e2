import type { SubscriptionRecord } from './model.js';
import type { SubscriptionLookup } from './ports.js';

export interface SubscriptionCacheOptions {
  /** How long a found subscription is trusted, in ms. */
  knownTtlMs: number;
  /** How long "no such subscription" is remembered, in ms (bounds table reads from junk traffic). */
  unknownTtlMs: number;
  /** Entries kept; the oldest are evicted first. */
  maxEntries: number;
  now: () => number;
  /**
   * Fraction of a known entry's TTL after which a lookup still answers from memory but
   * re-reads storage in the background, so hot subscriptions never block on a table read.
   * 1 disables refresh-ahead. Default 0.75.
   */
  refreshAheadRatio?: number;
}

interface Entry {
  record: SubscriptionRecord | undefined;
  expiresAt: number;
  refreshAt: number;
}

/**
 * Short-lived read-through cache in front of the subscriptions table. The webhook looks a
 * subscription up for every notification; Graph sends bursts for the same few subscriptions,
 * so most lookups are answered from memory. Concurrent misses for one id share one read.
 * Failures are not cached (the next request tries storage again).
 */
export class CachedSubscriptionLookup implements SubscriptionLookup {
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<SubscriptionRecord | undefined>>();

  constructor(
    private readonly inner: SubscriptionLookup,
    private readonly options: SubscriptionCacheOptions,
  ) {}

  async getSubscription(subscriptionId: string): Promise<SubscriptionRecord | undefined> {
    const now = this.options.now();
    const entry = this.entries.get(subscriptionId);
    if (entry && entry.expiresAt > now) {
      if (entry.refreshAt <= now && !this.pending.has(subscriptionId)) {
        // Background refresh; a failure just leaves the entry to expire normally.
        this.read(subscriptionId).catch(() => undefined);
      }
      return entry.record;
    }
    if (entry) this.entries.delete(subscriptionId);
    return this.pending.get(subscriptionId) ?? this.read(subscriptionId);
  }

  private read(subscriptionId: string): Promise<SubscriptionRecord | undefined> {
    const read = this.inner
      .getSubscription(subscriptionId)
      .then((record) => {
        const ttl = record ? this.options.knownTtlMs : this.options.unknownTtlMs;
        if (ttl > 0) {
          const now = this.options.now();
          const ratio = record ? (this.options.refreshAheadRatio ?? 0.75) : 1;
          this.remember(subscriptionId, { record, expiresAt: now + ttl, refreshAt: now + ttl * ratio });
        } else {
          this.entries.delete(subscriptionId);
        }
        return record;
      })
      .finally(() => this.pending.delete(subscriptionId));
    this.pending.set(subscriptionId, read);
    return read;
  }

  /** Drops one id (after the subscription was renewed, recreated or deleted in this process). */
  forget(subscriptionId: string): void {
    this.entries.delete(subscriptionId);
  }

  get size(): number {
    return this.entries.size;
  }

  private remember(subscriptionId: string, entry: Entry): void {
    this.entries.delete(subscriptionId);
    this.entries.set(subscriptionId, entry);
    while (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
  }
}
