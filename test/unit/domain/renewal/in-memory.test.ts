import { describe, expect, it } from 'vitest';
import { renewalBucketOf } from '../../../../shared/domain/renewal/buckets.js';
import { InMemoryLeaseStore, InMemoryRenewalSchedule } from '../../../../shared/domain/renewal/in-memory.js';
import { ConcurrencyError, ValidationError } from '../../../../shared/errors.js';
import { MINUTE, T0, entry } from './helpers.js';

// The fakes must behave like the Table adapters (same tests run against Azurite in
// test/integration/store/renewal-schedule-store.test.ts and lease-store.test.ts).
describe('InMemoryRenewalSchedule', () => {
  it('files entries by due bucket and lists one bucket', async () => {
    const schedule = new InMemoryRenewalSchedule();
    const a = await schedule.upsertEntry(entry({ subscriptionId: 'a', expiresAt: T0 + 25 * 60 * MINUTE }));
    await schedule.upsertEntry(entry({ subscriptionId: 'b', expiresAt: T0 + 26 * 60 * MINUTE }));
    expect(a.bucket).toBe(renewalBucketOf(a.dueAt));
    expect((await schedule.listBucket(a.bucket)).map((e) => e.subscriptionId)).toEqual(['a']);
    expect(schedule.size).toBe(2);
  });

  it('replaces and removes only with the current etag', async () => {
    const schedule = new InMemoryRenewalSchedule();
    const a = await schedule.upsertEntry(entry({ subscriptionId: 'a', expiresAt: T0 + 25 * 60 * MINUTE }));
    const b = await schedule.replaceEntry({ ...a, attempts: 1 });
    await expect(schedule.replaceEntry({ ...a, attempts: 2 })).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(schedule.replaceEntry({ ...b, dueAt: b.dueAt + 10 * MINUTE })).rejects.toBeInstanceOf(
      ValidationError,
    );
    expect(await schedule.removeEntry(a)).toBe('changed');
    expect(await schedule.removeEntry(b)).toBe('removed');
    expect(await schedule.removeEntry(b)).toBe('missing');
    expect(schedule.size).toBe(0);
  });

  it('moves the cursor only with its etag', async () => {
    const schedule = new InMemoryRenewalSchedule();
    const first = await schedule.saveCursor('202603021200', undefined);
    await expect(schedule.saveCursor('202603021205', undefined)).rejects.toBeInstanceOf(ConcurrencyError);
    await schedule.saveCursor('202603021205', first.etag);
    await expect(schedule.saveCursor('202603021210', first.etag)).rejects.toBeInstanceOf(ConcurrencyError);
    expect((await schedule.getCursor())?.bucket).toBe('202603021205');
  });
});

describe('InMemoryLeaseStore', () => {
  it('grants one holder until expiry, renews, and releases', async () => {
    const leases = new InMemoryLeaseStore();
    const a = await leases.acquire('l', 'a', 1_000, 0);
    expect(a).toBeDefined();
    expect(await leases.acquire('l', 'b', 1_000, 999)).toBeUndefined();
    const renewed = await leases.renew(a!, 1_000, 500);
    expect(renewed?.expiresAt).toBe(1_500);
    expect(await leases.renew(a!, 1_000, 600)).toBeUndefined(); // stale etag
    const b = await leases.acquire('l', 'b', 1_000, 1_500);
    expect(b?.owner).toBe('b');
    await leases.release(renewed!); // not ours any more: no effect
    expect(leases.holder('l')?.owner).toBe('b');
    await leases.release(b!);
    expect(leases.holder('l')).toBeUndefined();
  });
});
