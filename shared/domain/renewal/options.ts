/** Settings of the renewal engine, with defaults and validation. */
import { ConfigError } from '../../errors.js';
import { hashJitter, type ExpiryOptions, type JitterSource } from './expiry.js';
import { DEFAULT_WRITE_BUDGET, type WriteBudget } from './token-bucket.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Graph's `$batch` limit. */
export const GRAPH_MAX_BATCH_SIZE = 20;

export interface RenewalOptions extends ExpiryOptions {
  /** Renew subscriptions that expire within this window. Default 24 h. */
  windowMs: number;
  /** Where jitter fractions come from. Default: a hash of the subscription id. */
  jitter: JitterSource;
  /** Members per `$batch`. Default 20 (Graph's maximum). */
  maxBatchSize: number;
  /**
   * A tenant's last, partial batch may wait this long past its due time for more renewals to fill
   * it (fewer requests per renewal); after that it is sent anyway. Default 2 h. Must be well
   * below `windowMs`: it eats into the safety margin before expiry.
   */
  maxBatchWaitMs: number;
  /** `$batch` requests in flight at once. Default 4. */
  concurrency: number;
  /** Renewals planned per run; the rest stay due for the next run, soonest-expiring first. Default 10,000. */
  maxRenewalsPerRun: number;
  /**
   * Schedule entries read per run, oldest buckets first. Above `maxRenewalsPerRun` so a throttled
   * tenant at the head of a backlog does not hide the others behind it. Default 30,000.
   */
  maxEntriesReadPerRun: number;
  /** Buckets read at once. Default 8. */
  readConcurrency: number;
  /**
   * No new `$batch` is sent after this much time into the run, so a run fits the 5-minute timer
   * interval with room for the requests in flight and their writes. Default 4 min.
   */
  timeBudgetMs: number;
  /** Per-tenant subscription-write budget. Default 600 writes per 20 s, burst 120. */
  budget: WriteBudget;
  /** Name of the lease row. Default `subscription-renewal`. */
  leaseName: string;
  /** Lease length; renewed when half has passed. Default 5 min. */
  leaseDurationMs: number;
  /** Who holds the lease (for operators). Default: a random id per run. */
  owner: string | undefined;
  /** Where the very first run starts reading when there is no cursor yet. Default 7 days back. */
  initialLookbackMs: number;
  /**
   * The cursor never moves past `now - cursorLag`, so an entry another writer adds for "now"
   * (with a slightly different clock) is never behind it. Default 15 min.
   */
  cursorLagMs: number;
  /** Renewals more overdue than this count their new expiry from now, not from the due time. Default 12 h. */
  maxAnchorLagMs: number;
  /** Backoff after a 5xx or a failed request: base × 2^(attempts−1), at most max. Default 10 s … 30 min. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** Attempts of one renewal within a run; after that it waits for a later run. Default 3. */
  maxAttemptsPerRun: number;
  /** Pause for a 429 without a usable Retry-After. Default 30 s. */
  defaultRetryAfterMs: number;
  /** After a 403 the entry is looked at again this much later. Default 1 h. */
  forbiddenRetryMs: number;
  /**
   * A failed renewal of a subscription that expired longer ago than this is treated as gone
   * (Graph deletes expired subscriptions), so its entry cannot circulate forever. Default 1 h.
   */
  goneAfterExpiryMs: number;
}

export const DEFAULT_RENEWAL_OPTIONS: Readonly<RenewalOptions> = Object.freeze({
  maxLifetimeMs: 10_080 * MINUTE,
  expirySafetyMs: 5 * MINUTE,
  jitterFraction: 0.1,
  windowMs: 24 * HOUR,
  jitter: hashJitter,
  maxBatchSize: GRAPH_MAX_BATCH_SIZE,
  maxBatchWaitMs: 2 * HOUR,
  concurrency: 4,
  maxRenewalsPerRun: 10_000,
  maxEntriesReadPerRun: 30_000,
  readConcurrency: 8,
  timeBudgetMs: 4 * MINUTE,
  budget: DEFAULT_WRITE_BUDGET,
  leaseName: 'subscription-renewal',
  leaseDurationMs: 5 * MINUTE,
  owner: undefined,
  initialLookbackMs: 10_080 * MINUTE,
  cursorLagMs: 15 * MINUTE,
  maxAnchorLagMs: 12 * HOUR,
  retryBaseMs: 10_000,
  retryMaxMs: 30 * MINUTE,
  maxAttemptsPerRun: 3,
  defaultRetryAfterMs: 30_000,
  forbiddenRetryMs: HOUR,
  goneAfterExpiryMs: HOUR,
});

/** Defaults plus overrides, validated together. Throws ConfigError listing every problem. */
export function resolveRenewalOptions(overrides: Partial<RenewalOptions> = {}): RenewalOptions {
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const o: RenewalOptions = { ...DEFAULT_RENEWAL_OPTIONS, ...defined };
  const problems: string[] = [];
  const positive = (name: keyof RenewalOptions, integer = false): void => {
    const v = o[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
      problems.push(`renewal ${name} must be a positive ${integer ? 'integer' : 'number'}`);
    }
  };
  for (const name of [
    'maxLifetimeMs',
    'windowMs',
    'timeBudgetMs',
    'leaseDurationMs',
    'initialLookbackMs',
    'retryBaseMs',
    'retryMaxMs',
    'defaultRetryAfterMs',
    'forbiddenRetryMs',
  ] as const) {
    positive(name);
  }
  for (const name of [
    'maxBatchSize',
    'concurrency',
    'maxRenewalsPerRun',
    'maxEntriesReadPerRun',
    'readConcurrency',
    'maxAttemptsPerRun',
  ] as const) {
    positive(name, true);
  }
  for (const name of [
    'expirySafetyMs',
    'maxBatchWaitMs',
    'cursorLagMs',
    'maxAnchorLagMs',
    'goneAfterExpiryMs',
  ] as const) {
    const v = o[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      problems.push(`renewal ${name} must be a number ≥ 0`);
    }
  }
  if (!(o.jitterFraction >= 0 && o.jitterFraction < 1)) {
    problems.push('renewal jitterFraction must be in [0, 1)');
  }
  if (typeof o.jitter !== 'function') problems.push('renewal jitter must be a function');
  if (o.maxBatchSize > GRAPH_MAX_BATCH_SIZE) {
    problems.push(`renewal maxBatchSize must be at most ${GRAPH_MAX_BATCH_SIZE} (Graph's $batch limit)`);
  }
  const { writes, windowMs, burst } = o.budget;
  if (!(writes > 0 && windowMs > 0 && burst > 0 && burst < writes)) {
    problems.push('renewal budget needs writes > burst > 0 and windowMs > 0');
  } else if (burst < o.maxBatchSize) {
    problems.push('renewal budget burst must hold at least one full batch (maxBatchSize)');
  }
  if (o.maxBatchWaitMs >= o.windowMs) problems.push('renewal maxBatchWaitMs must be below windowMs');
  // The next due time must land well in the future even for the longest jitter and an overdue
  // anchor; otherwise a renewed subscription would be due again at once.
  const nextDueMargin =
    o.maxLifetimeMs - o.expirySafetyMs - o.jitterFraction * o.maxLifetimeMs - o.windowMs - o.maxAnchorLagMs;
  if (problems.length === 0 && nextDueMargin < o.windowMs) {
    problems.push(
      'renewal windowMs + maxAnchorLagMs + jitter + expirySafetyMs leave too little of maxLifetimeMs ' +
        '(a renewed subscription would be due again within one window)',
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return o;
}
