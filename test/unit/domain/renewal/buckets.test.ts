import { describe, expect, it } from 'vitest';
import {
  RENEWAL_BUCKET_MS,
  isRenewalBucket,
  nextRenewalBucket,
  renewalBucketOf,
  renewalBucketStart,
} from '../../../../shared/domain/renewal/buckets.js';

describe('renewal buckets', () => {
  it('names the 5-minute slot yyyyMMddHHmm in UTC', () => {
    expect(renewalBucketOf(Date.UTC(2026, 0, 2, 3, 4, 59, 999))).toBe('202601020300');
    expect(renewalBucketOf(Date.UTC(2026, 0, 2, 3, 5, 0, 0))).toBe('202601020305');
    expect(renewalBucketOf(Date.UTC(2026, 11, 31, 23, 59, 59))).toBe('202612312355');
  });

  it('starts buckets on the slot boundary and round-trips', () => {
    const key = '202602281455';
    expect(renewalBucketStart(key)).toBe(Date.UTC(2026, 1, 28, 14, 55));
    expect(renewalBucketOf(renewalBucketStart(key))).toBe(key);
    expect(renewalBucketOf(renewalBucketStart(key) + RENEWAL_BUCKET_MS - 1)).toBe(key);
  });

  it('steps to the next bucket across hour, day, month and year ends', () => {
    expect(nextRenewalBucket('202602281455')).toBe('202602281500');
    expect(nextRenewalBucket('202602282355')).toBe('202603010000');
    expect(nextRenewalBucket('202812312355')).toBe('202901010000');
    expect(nextRenewalBucket('202802282355')).toBe('202802290000'); // leap year
  });

  it('sorts keys as strings in time order', () => {
    const keys = [0, 7, 1_000, 50_000, 10_000_000].map((m) =>
      renewalBucketOf(Date.UTC(2026, 0, 1) + m * 60_000),
    );
    expect([...keys].sort()).toEqual(keys);
  });

  it.each([['20260102030'], ['2026010203041'], ['abcdefghijkl'], ['202601020303'], ['202613010000']])(
    'rejects %j as a bucket start',
    (key) => {
      expect(() => renewalBucketStart(key)).toThrow(RangeError);
    },
  );

  it('checks the shape of keys', () => {
    expect(isRenewalBucket('202601020300')).toBe(true);
    expect(isRenewalBucket('cursor')).toBe(false);
    expect(isRenewalBucket(202601020300)).toBe(false);
    expect(() => renewalBucketOf(Number.NaN)).toThrow(RangeError);
  });
});
