import { describe, expect, it } from 'vitest';
import { mapWithConcurrency, retryAfterMs } from '../../../shared/push/retry.js';

const headers = (values: Record<string, string>) => (name: string) => values[name];

describe('retryAfterMs', () => {
  const now = Date.parse('2026-03-01T08:00:00Z');

  it('reads delta-seconds, an HTTP date, and the millisecond headers', () => {
    expect(retryAfterMs(headers({ 'retry-after': '7' }), now)).toBe(7000);
    expect(retryAfterMs(headers({ 'retry-after': 'Sun, 01 Mar 2026 08:00:30 GMT' }), now)).toBe(30_000);
    expect(retryAfterMs(headers({ 'retry-after': 'Sun, 01 Mar 2026 07:00:00 GMT' }), now)).toBe(0);
    expect(retryAfterMs(headers({ 'retry-after-ms': '1500', 'retry-after': '9' }), now)).toBe(1500);
    expect(retryAfterMs(headers({ 'x-ms-retry-after-ms': '250' }), now)).toBe(250);
  });

  it('is undefined when absent or unreadable', () => {
    expect(retryAfterMs(headers({}), now)).toBeUndefined();
    expect(retryAfterMs(headers({ 'retry-after': 'soon' }), now)).toBeUndefined();
  });

  it('reads fractional seconds as seconds, never as a date (Date.parse("1.5") is a day in 2001)', () => {
    expect(retryAfterMs(headers({ 'retry-after': '1.5' }), now)).toBe(1500);
    expect(retryAfterMs(headers({ 'retry-after': '-1' }), now)).toBeUndefined();
  });
});

describe('mapWithConcurrency', () => {
  it('keeps the order and never runs more than the limit at once', async () => {
    let running = 0;
    let peak = 0;
    const results = await mapWithConcurrency([5, 1, 4, 2, 3], 2, async (value) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, value));
      running--;
      return value * 10;
    });
    expect(results).toEqual([50, 10, 40, 20, 30]);
    expect(peak).toBe(2);
  });
});
