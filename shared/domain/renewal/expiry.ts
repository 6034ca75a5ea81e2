/**
 * New expiry times, and when to renew next.
 *
 * Jitter: each renewal asks for `maxLifetime - safety - jitter`, with jitter in
 * [0, jitterFraction × maxLifetime). By default the jitter is deterministic per subscription (a
 * hash of its id), not random:
 * - a subscription keeps a fixed cycle length, different from its neighbours', so a population
 *   created in one hour spreads by up to 16.8 h more with every cycle, evenly (uniform over
 *   k × 16.8 h after k cycles; a fresh random draw per cycle piles up in the middle instead);
 * - it is reproducible: tests and the benchmark see the same schedule, and re-running an
 *   interrupted renewal asks Graph for the same expiry and writes the same schedule row, so the
 *   rerun overwrites instead of duplicating.
 * A random source (`randomJitter`) can be injected instead.
 */

/** A fraction in [0, 1) for a subscription. */
export type JitterSource = (subscriptionId: string) => number;

/** 32-bit FNV-1a of the id, as a fraction in [0, 1). */
export const hashJitter: JitterSource = (subscriptionId) => {
  let hash = 0x811c9dc5;
  for (let i = 0; i < subscriptionId.length; i++) {
    hash ^= subscriptionId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  // Finaliser (from murmur3) so ids differing in the last characters still spread.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  return (hash >>> 0) / 2 ** 32;
};

/** A fresh random fraction per call (e.g. `Math.random`), if per-renewal randomness is wanted. */
export function randomJitter(random: () => number = Math.random): JitterSource {
  return () => random();
}

export interface ExpiryOptions {
  /** Graph's longest lifetime for the resource: 10,080 min for Outlook messages. */
  maxLifetimeMs: number;
  /** Taken off the maximum so clock skew and latency never make Graph reject the request. */
  expirySafetyMs: number;
  /** Jitter is up to this fraction of `maxLifetimeMs` (0.1 → up to 1,008 min). */
  jitterFraction: number;
}

/**
 * The expiry to request when renewing at `now`: `now + maxLifetime - safety - jitter`, where
 * `jitter` (a fraction in [0, 1) from a JitterSource) is scaled to `jitterFraction × maxLifetime`.
 * Always in (now, now + maxLifetime - safety]. Whole milliseconds.
 */
export function newExpiry(now: number, jitter: number, options: ExpiryOptions): number {
  const fraction = Number.isFinite(jitter) ? Math.min(Math.max(jitter, 0), 1 - Number.EPSILON) : 0;
  const jitterMs = Math.floor(fraction * options.jitterFraction * options.maxLifetimeMs);
  return Math.floor(now) + options.maxLifetimeMs - options.expirySafetyMs - jitterMs;
}

/**
 * The time a renewal's new expiry is counted from: the entry's due time when it is due and not
 * long overdue, else `now`. Counting from the due time (not from when a throttled run got to it)
 * makes a rerun of the same renewal ask for the same expiry, so an interrupted move converges on
 * one schedule row. It never exceeds `now`, so the request stays within Graph's maximum.
 */
export function renewalAnchor(dueAt: number, now: number, maxAnchorLagMs: number): number {
  if (dueAt > now || now - dueAt > maxAnchorLagMs) return now;
  return dueAt;
}

/**
 * When to renew a subscription expiring at `expiresAt`: `window` before it; but if Graph granted
 * a lifetime shorter than about twice the window, halfway to the expiry instead (so a short-lived
 * subscription is not renewed on every run); and never before `now`. Whole milliseconds.
 */
export function renewalDueAt(expiresAt: number, now: number, windowMs: number): number {
  const beforeWindow = expiresAt - windowMs;
  const halfway = now + (expiresAt - now) / 2;
  return Math.floor(Math.max(now, beforeWindow, halfway));
}
