import { describe, expect, it } from 'vitest';
import {
  TenantBudgets,
  TokenBucket,
  bucketParameters,
  DEFAULT_WRITE_BUDGET,
} from '../../../../shared/domain/renewal/token-bucket.js';

describe('TokenBucket', () => {
  it('starts full and allows a burst of its capacity, then refuses', () => {
    const bucket = new TokenBucket(100, 0.01, 0);
    for (let i = 0; i < 5; i++) expect(bucket.tryTake(20, 0)).toBe(true);
    expect(bucket.tryTake(1, 0)).toBe(false);
    expect(bucket.available(0)).toBe(0);
  });

  it('refills at its rate and never above capacity', () => {
    const bucket = new TokenBucket(100, 0.01, 0); // 10 per second
    bucket.tryTake(100, 0);
    expect(bucket.tryTake(20, 1_999)).toBe(false);
    expect(bucket.tryTake(20, 2_000)).toBe(true);
    expect(bucket.available(1_000_000)).toBe(100);
  });

  it('says exactly when n tokens will be there, and then grants them', () => {
    const bucket = new TokenBucket(100, 0.024, 0);
    bucket.tryTake(100, 0);
    const at = bucket.nextAvailableAt(20, 0);
    expect(at).toBe(Math.ceil(20 / 0.024));
    expect(bucket.tryTake(20, at - 1)).toBe(false);
    expect(bucket.tryTake(20, at)).toBe(true);
    expect(bucket.nextAvailableAt(1, at + 10_000)).toBe(at + 10_000);
  });

  it('adds nothing when the clock steps back, and takes none on refusal', () => {
    const bucket = new TokenBucket(10, 0.001, 1_000);
    bucket.tryTake(10, 1_000);
    expect(bucket.tryTake(1, 500)).toBe(false);
    expect(bucket.available(500)).toBe(0);
    expect(bucket.tryTake(5, 3_000)).toBe(false);
    expect(bucket.available(3_000)).toBeCloseTo(2, 9);
  });

  it('rejects requests larger than its capacity or not positive', () => {
    const bucket = new TokenBucket(10, 1, 0);
    expect(() => bucket.tryTake(11, 0)).toThrow(RangeError);
    expect(() => bucket.tryTake(0, 0)).toThrow(RangeError);
    expect(() => new TokenBucket(0, 1, 0)).toThrow(RangeError);
  });
});

describe('write budget', () => {
  it('derives the bucket so that no window of windowMs exceeds the budget', () => {
    const budget = { writes: 600, windowMs: 20_000, burst: 120 };
    const { capacity, refillPerMs } = bucketParameters(budget);
    expect(capacity).toBe(120);
    expect(capacity + refillPerMs * budget.windowMs).toBeCloseTo(600, 9);

    // A greedy sender taking batches of 20 whenever it can, for 5 minutes.
    const bucket = new TokenBucket(capacity, refillPerMs, 0);
    const sent: number[] = [];
    for (let t = 0; t < 300_000; t = Math.max(t + 1, bucket.nextAvailableAt(20, t))) {
      if (bucket.tryTake(20, t)) for (let i = 0; i < 20; i++) sent.push(t);
    }
    let peak = 0;
    for (let i = 0, j = 0; i < sent.length; i++) {
      while ((sent[j] ?? 0) <= (sent[i] ?? 0) - budget.windowMs) j++;
      peak = Math.max(peak, i - j + 1);
    }
    expect(peak).toBeLessThanOrEqual(600);
    expect(peak).toBeGreaterThan(560);
  });

  it('defaults to 600 writes per 20 s, 60% of the published Graph limit', () => {
    expect(DEFAULT_WRITE_BUDGET).toEqual({ writes: 600, windowMs: 20_000, burst: 120 });
    expect(() => bucketParameters({ writes: 100, windowMs: 20_000, burst: 100 })).toThrow(RangeError);
  });
});

describe('TenantBudgets', () => {
  it('keeps a bucket per tenant', () => {
    const budgets = new TenantBudgets({ writes: 100, windowMs: 20_000, burst: 40 });
    expect(budgets.tryTake('a', 40, 0)).toBe(true);
    expect(budgets.tryTake('a', 20, 0)).toBe(false);
    expect(budgets.tryTake('b', 40, 0)).toBe(true);
    expect(budgets.readyAt('a', 20, 0)).toBe(Math.ceil(20 / (60 / 20_000)));
  });

  it('pauses one tenant until Retry-After while others continue, and never shortens a pause', () => {
    const budgets = new TenantBudgets();
    budgets.pause('a', 5_000);
    budgets.pause('a', 2_000);
    expect(budgets.pausedUntil('a')).toBe(5_000);
    expect(budgets.tryTake('a', 20, 4_999)).toBe(false);
    expect(budgets.readyAt('a', 20, 0)).toBe(5_000);
    expect(budgets.tryTake('b', 20, 0)).toBe(true);
    expect(budgets.tryTake('a', 20, 5_000)).toBe(true);
  });
});
