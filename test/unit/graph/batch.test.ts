/** `$batch`'s pure parts: chunking and member retry planning. */
import { describe, expect, it } from 'vitest';
import { MAX_BATCH_MEMBERS, chunk, planMemberRetry } from '../../../shared/graph/index.js';

describe('chunk', () => {
  it('splits 45 members into 20 + 20 + 5, in order', () => {
    const items = Array.from({ length: 45 }, (_, i) => i);
    const chunks = chunk(items);
    expect(chunks.map((c) => c.length)).toEqual([20, 20, 5]);
    expect(chunks.flat()).toEqual(items);
    expect(MAX_BATCH_MEMBERS).toBe(20);
  });

  it('handles exact multiples, fewer than one chunk and nothing', () => {
    expect(chunk(Array.from({ length: 40 }, (_, i) => i)).map((c) => c.length)).toEqual([20, 20]);
    expect(chunk([1, 2, 3])).toEqual([[1, 2, 3]]);
    expect(chunk([])).toEqual([]);
    expect(chunk([1, 2, 3], 2)).toEqual([[1, 2], [3]]);
  });

  it('rejects a useless size', () => {
    expect(() => chunk([1], 0)).toThrow(RangeError);
  });
});

describe('planMemberRetry', () => {
  const limits = { maxMemberAttempts: 4, delayMs: 1000, maxDelayMs: 30_000 };

  it('resubmits only 429/503/504 members, after the largest Retry-After', () => {
    const plan = planMemberRetry(
      [
        { id: 'a', status: 200 },
        { id: 'b', status: 429, retryAfterMs: 2000 },
        { id: 'c', status: 404 },
        { id: 'd', status: 429, retryAfterMs: 5000 },
        { id: 'e', status: 504, retryAfterMs: 1000 },
        { id: 'f', status: 500 },
        { id: 'g', status: 0 },
      ],
      1,
      limits,
    );
    expect(plan).toEqual({ retryIds: ['b', 'd', 'e'], waitMs: 5000 });
  });

  it('backs off exponentially for members without Retry-After', () => {
    const results = [{ id: 'a', status: 503 }];
    expect(planMemberRetry(results, 1, limits).waitMs).toBe(1000);
    expect(planMemberRetry(results, 2, limits).waitMs).toBe(2000);
    expect(planMemberRetry(results, 3, limits).waitMs).toBe(4000);
    expect(planMemberRetry(results, 3, { ...limits, maxDelayMs: 3000 }).waitMs).toBe(3000);
  });

  it('leaves members that ask for more than maxDelayMs to the caller', () => {
    const plan = planMemberRetry(
      [
        { id: 'a', status: 429, retryAfterMs: 60_000 },
        { id: 'b', status: 429, retryAfterMs: 3000 },
      ],
      1,
      limits,
    );
    expect(plan).toEqual({ retryIds: ['b'], waitMs: 3000 });
  });

  it('stops after maxMemberAttempts and when nothing is retryable', () => {
    expect(planMemberRetry([{ id: 'a', status: 429, retryAfterMs: 1 }], 4, limits)).toEqual({
      retryIds: [],
      waitMs: 0,
    });
    expect(planMemberRetry([{ id: 'a', status: 201 }], 1, limits)).toEqual({ retryIds: [], waitMs: 0 });
  });
});
