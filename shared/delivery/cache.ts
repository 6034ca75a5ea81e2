/**
 * Small in-process helpers of the pipeline: a read-through TTL cache (mailbox and device lookups
 * repeat for bursts of mail to one mailbox) and a per-key concurrency limit (Outlook allows an app 4
 * concurrent requests per mailbox; going over earns 429s that would only be retried).
 */

interface Entry<V> {
  value: V;
  expiresAt: number;
}

/**
 * Read-through cache with a TTL. Concurrent misses for one key share one load; failures are not
 * cached; the oldest entries are evicted beyond `maxEntries`. A TTL of 0 turns it into a pass-through.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private readonly pending = new Map<string, Promise<V>>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
    private readonly now: () => number,
  ) {}

  async get(key: string, load: () => Promise<V>): Promise<V> {
    if (this.ttlMs <= 0) return load();
    const hit = this.entries.get(key);
    if (hit && hit.expiresAt > this.now()) return hit.value;
    const inFlight = this.pending.get(key);
    if (inFlight) return inFlight;
    // `load()` is called here, not inside a callback: a loader that throws synchronously fails
    // this call only, instead of leaving a rejected promise pending for the key.
    const loading: Promise<V> = load()
      .then((value) => {
        // A load forgotten while in flight may predate what made the caller forget the key (e.g. a
        // removed device): its waiters get it, but it is not cached.
        if (this.pending.get(key) === loading) {
          this.entries.delete(key);
          this.entries.set(key, { value, expiresAt: this.now() + this.ttlMs });
          while (this.entries.size > this.maxEntries) {
            const oldest = this.entries.keys().next().value;
            if (oldest === undefined) break;
            this.entries.delete(oldest);
          }
        }
        return value;
      })
      .finally(() => {
        if (this.pending.get(key) === loading) this.pending.delete(key);
      });
    this.pending.set(key, loading);
    return loading;
  }

  /** Drops the key, and any load in flight for it (a later get reads afresh). */
  forget(key: string): void {
    this.entries.delete(key);
    this.pending.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}

/** At most `limit` tasks per key at once; the rest wait in arrival order. 0 = unlimited. */
export class KeyedLimiter {
  private readonly slots = new Map<string, { running: number; waiting: (() => void)[] }>();

  constructor(private readonly limit: number) {}

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    if (this.limit <= 0) return task();
    const slot = this.slots.get(key) ?? { running: 0, waiting: [] };
    this.slots.set(key, slot);
    if (slot.running >= this.limit) {
      await new Promise<void>((resolve) => slot.waiting.push(resolve));
    } else {
      slot.running += 1;
    }
    try {
      return await task();
    } finally {
      const next = slot.waiting.shift();
      if (next)
        next(); // hand our slot over: `running` stays the same
      else {
        slot.running -= 1;
        if (slot.running === 0) this.slots.delete(key);
      }
    }
  }
}
