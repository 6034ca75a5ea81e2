import { describe, expect, it } from 'vitest';
import {
  hashJitter,
  newExpiry,
  randomJitter,
  renewalAnchor,
  renewalDueAt,
} from '../../../../shared/domain/renewal/expiry.js';
import { DEFAULT_RENEWAL_OPTIONS, resolveRenewalOptions } from '../../../../shared/domain/renewal/options.js';
import { ConfigError } from '../../../../shared/errors.js';
import { DAY, HOUR, MINUTE, T0 } from './helpers.js';

const LIFETIME = 10_080 * MINUTE;
const opts = { maxLifetimeMs: LIFETIME, expirySafetyMs: 5 * MINUTE, jitterFraction: 0.1 };

describe('newExpiry', () => {
  it('asks for the maximum lifetime minus the safety margin with no jitter', () => {
    expect(newExpiry(T0, 0, opts)).toBe(T0 + LIFETIME - 5 * MINUTE);
  });

  it('takes off at most 10% of the lifetime, and stays within Graph maximum', () => {
    const lowest = newExpiry(T0, 0.999_999_999, opts);
    expect(lowest).toBeGreaterThan(T0 + LIFETIME - 5 * MINUTE - 1_008 * MINUTE);
    expect(lowest).toBeLessThan(T0 + LIFETIME - 5 * MINUTE - 1_007 * MINUTE);
    for (const j of [0, 0.25, 0.5, 0.75, 0.99, 1, 1.5, -1, Number.NaN]) {
      const e = newExpiry(T0, j, opts);
      expect(e).toBeLessThanOrEqual(T0 + LIFETIME);
      expect(e).toBeGreaterThanOrEqual(T0 + LIFETIME - 5 * MINUTE - 1_008 * MINUTE);
      expect(Number.isInteger(e)).toBe(true);
    }
  });

  it('uses the defaults for Outlook messages', () => {
    expect(DEFAULT_RENEWAL_OPTIONS.maxLifetimeMs).toBe(LIFETIME);
    expect(DEFAULT_RENEWAL_OPTIONS.jitterFraction).toBe(0.1);
  });
});

describe('jitter sources', () => {
  it('hashJitter is deterministic, in [0, 1) and about uniform', () => {
    expect(hashJitter('7f105c7d-2dc5-4530-97cd-4e7ae6534c07')).toBe(
      hashJitter('7f105c7d-2dc5-4530-97cd-4e7ae6534c07'),
    );
    const deciles = new Array<number>(10).fill(0);
    const n = 20_000;
    let sum = 0;
    let min = 1;
    let max = 0;
    for (let i = 0; i < n; i++) {
      const j = hashJitter(`00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`);
      min = Math.min(min, j);
      max = Math.max(max, j);
      sum += j;
      deciles[Math.floor(j * 10)]! += 1;
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    expect(sum / n).toBeCloseTo(0.5, 1);
    for (const count of deciles) expect(Math.abs(count - n / 10)).toBeLessThan(n / 100);
  });

  it('randomJitter draws from the given source', () => {
    const values = [0.1, 0.9];
    const source = randomJitter(() => values.shift() ?? 0);
    expect(source('x')).toBe(0.1);
    expect(source('x')).toBe(0.9);
  });

  it('spreads a population created within one hour over more than 16 hours after one renewal', () => {
    const due: number[] = [];
    for (let i = 0; i < 5_000; i++) {
      const created = T0 + (i % 60) * MINUTE;
      const expiresAt = created + LIFETIME;
      const dueAt = expiresAt - DAY;
      const renewedTo = newExpiry(dueAt, hashJitter(`sub-${i}`), opts);
      due.push(renewalDueAt(renewedTo, dueAt, DAY));
    }
    const span = Math.max(...due) - Math.min(...due);
    expect(span).toBeGreaterThan(16 * HOUR);
    // Evenly: no hour holds much more than its share (1 h of creation + 16.8 h of jitter).
    const perHour = new Map<number, number>();
    for (const d of due) perHour.set(Math.floor(d / HOUR), (perHour.get(Math.floor(d / HOUR)) ?? 0) + 1);
    expect(Math.max(...perHour.values())).toBeLessThan((5_000 / 17) * 1.5);
  });
});

describe('renewalAnchor', () => {
  it('counts from the due time when due and not long overdue, else from now', () => {
    expect(renewalAnchor(T0 - HOUR, T0, 12 * HOUR)).toBe(T0 - HOUR);
    expect(renewalAnchor(T0 - 12 * HOUR, T0, 12 * HOUR)).toBe(T0 - 12 * HOUR);
    expect(renewalAnchor(T0 - 12 * HOUR - 1, T0, 12 * HOUR)).toBe(T0);
    expect(renewalAnchor(T0 + 1, T0, 12 * HOUR)).toBe(T0);
  });
});

describe('renewalDueAt', () => {
  it('is the window before expiry for a normal lifetime', () => {
    expect(renewalDueAt(T0 + 6 * DAY, T0, DAY)).toBe(T0 + 5 * DAY);
  });

  it('is halfway to a short expiry, so a short-lived subscription is not renewed every run', () => {
    expect(renewalDueAt(T0 + 20 * HOUR, T0, DAY)).toBe(T0 + 10 * HOUR);
  });

  it('is now for an expired subscription', () => {
    expect(renewalDueAt(T0 - HOUR, T0, DAY)).toBe(T0);
  });
});

describe('resolveRenewalOptions', () => {
  it('returns the defaults', () => {
    expect(resolveRenewalOptions()).toEqual(DEFAULT_RENEWAL_OPTIONS);
  });

  it('names every bad option', () => {
    let error: unknown;
    try {
      resolveRenewalOptions({ maxBatchSize: 21, concurrency: 0, jitterFraction: 1, windowMs: -1 });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toMatch(/maxBatchSize/);
    expect(problems).toMatch(/concurrency/);
    expect(problems).toMatch(/jitterFraction/);
    expect(problems).toMatch(/windowMs/);
  });

  it('refuses a window that leaves a renewed subscription due again at once', () => {
    expect(() => resolveRenewalOptions({ windowMs: 4 * DAY })).toThrow(/too little/);
  });
});
