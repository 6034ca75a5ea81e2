import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CLAIM_TIMEOUT_MS,
  DELIVERY_SHARDS,
  dayKey,
  decideClaim,
  deliveryPartitionKey,
  deliveryRowKey,
  idempotencyDayOf,
  isDayKey,
  retentionCutoffDay,
} from '../../../shared/domain/idempotency.js';

const NOW = Date.parse('2026-11-23T12:00:00Z');
const TIMEOUT = DEFAULT_CLAIM_TIMEOUT_MS;

describe('decideClaim', () => {
  it('inserts when there is no record', () => {
    expect(decideClaim(undefined, NOW, TIMEOUT)).toEqual({ action: 'insert' });
  });

  it('skips a delivery already sent, however old', () => {
    expect(decideClaim({ state: 'sent', claimedAt: NOW - 1, etag: 'e1' }, NOW, TIMEOUT)).toEqual({
      action: 'skip_sent',
    });
    expect(decideClaim({ state: 'sent', claimedAt: NOW - 10 * TIMEOUT, etag: 'e1' }, NOW, TIMEOUT)).toEqual({
      action: 'skip_sent',
    });
  });

  it('waits for a fresh claim held elsewhere, until it would expire', () => {
    const decision = decideClaim({ state: 'sending', claimedAt: NOW - 30_000, etag: 'e1' }, NOW, TIMEOUT);
    expect(decision).toEqual({ action: 'wait', retryAfterMs: TIMEOUT - 30_000 });
  });

  it('waits at least a second even right before expiry', () => {
    const decision = decideClaim(
      { state: 'sending', claimedAt: NOW - TIMEOUT + 10, etag: 'e1' },
      NOW,
      TIMEOUT,
    );
    expect(decision).toEqual({ action: 'wait', retryAfterMs: 1_000 });
  });

  it('takes over a claim older than the timeout with its etag (a crashed attempt)', () => {
    expect(decideClaim({ state: 'sending', claimedAt: NOW - TIMEOUT, etag: 'e7' }, NOW, TIMEOUT)).toEqual({
      action: 'take_over',
      etag: 'e7',
    });
    expect(decideClaim({ state: 'sending', claimedAt: NOW - 3 * TIMEOUT, etag: 'e7' }, NOW, TIMEOUT)).toEqual(
      {
        action: 'take_over',
        etag: 'e7',
      },
    );
  });

  it('treats a claim slightly in the future (clock skew) as fresh', () => {
    expect(decideClaim({ state: 'sending', claimedAt: NOW + 5_000, etag: 'e1' }, NOW, TIMEOUT)).toEqual({
      action: 'wait',
      retryAfterMs: TIMEOUT,
    });
  });

  it('takes over a corrupt claim time (unreadable or far in the future) instead of blocking forever', () => {
    expect(decideClaim({ state: 'sending', claimedAt: Number.NaN, etag: 'e1' }, NOW, TIMEOUT).action).toBe(
      'take_over',
    );
    expect(
      decideClaim({ state: 'sending', claimedAt: NOW + 10 * TIMEOUT, etag: 'e1' }, NOW, TIMEOUT).action,
    ).toBe('take_over');
  });
});

describe('keys', () => {
  it('partitions by the UTC day of receivedDateTime, stable across redeliveries', () => {
    expect(idempotencyDayOf('2026-11-23T23:59:59Z', NOW)).toBe('20261123');
    expect(idempotencyDayOf('2026-11-24T00:30:00+02:00', NOW)).toBe('20261123');
    // Redelivered days later: the same partition.
    expect(idempotencyDayOf('2026-11-23T08:00:00Z', NOW + 3 * 86_400_000)).toBe('20261123');
  });

  it('falls back to the given time without (or with an unreadable) receivedDateTime', () => {
    expect(idempotencyDayOf(undefined, NOW)).toBe('20261123');
    expect(idempotencyDayOf('yesterday', NOW)).toBe('20261123');
  });

  it('formats day keys and recognises them', () => {
    expect(dayKey(Date.parse('2027-01-05T00:00:00Z'))).toBe('20270105');
    expect(isDayKey('20270105')).toBe(true);
    expect(isDayKey('2027-01-05')).toBe(false);
    expect(() => dayKey(Number.NaN)).toThrow(RangeError);
  });

  it('computes the retention cutoff day', () => {
    expect(retentionCutoffDay(NOW, 7)).toBe('20261116');
  });

  it('shards a day over 16 partitions by message, all of which sort before the next day', () => {
    const keys = Array.from({ length: 400 }, (_, i) => `c-message-${i}`);
    const partitions = new Set(keys.map((k) => deliveryPartitionKey('20261123', k)));
    expect(partitions.size).toBe(DELIVERY_SHARDS);
    for (const pk of partitions) {
      expect(pk).toMatch(/^20261123-[0-9a-f]$/);
      // So `PartitionKey lt '<cutoff day>'` covers every shard of older days and none of the cutoff's.
      expect(pk < '20261124').toBe(true);
      expect(pk < '20261123').toBe(false);
    }
    expect(deliveryPartitionKey('20261123', 'c-x')).toBe(deliveryPartitionKey('20261123', 'c-x'));
  });

  it('keys a row by message and device', () => {
    expect(deliveryRowKey('c-abc', 'iphone-1')).toBe('c-abc|iphone-1');
  });
});
