import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RenewalScheduleEntry, StoredRenewalScheduleEntry } from '../../../shared/domain/ports.js';
import { renewalBucketOf } from '../../../shared/domain/renewal/buckets.js';
import { ConcurrencyError, ValidationError } from '../../../shared/errors.js';
import type { TableStores } from '../../../shared/store/index.js';
import { freshStores, rawClient } from './fixtures.js';

const MINUTE = 60_000;
const T0 = Date.UTC(2026, 2, 2, 12, 0, 0);

let stores: TableStores;

beforeAll(async () => {
  stores = await freshStores();
});

function entry(overrides: Partial<RenewalScheduleEntry> = {}): RenewalScheduleEntry {
  return {
    subscriptionId: randomUUID(),
    tenantId: randomUUID(),
    dueAt: T0 + 7 * MINUTE + 123,
    expiresAt: T0 + 24 * 60 * MINUTE + 7 * MINUTE + 123,
    attempts: 0,
    ...overrides,
  };
}

/** A bucket of its own per test, so tests do not see each other's rows. */
let nextMinute = 0;
function freshDueAt(): number {
  nextMinute += 30; // leaves room for a neighbouring bucket
  return T0 + 365 * 24 * 60 * MINUTE + nextMinute * MINUTE + 42;
}

describe('TableRenewalScheduleStore against Azurite', () => {
  it('files an entry under its due bucket and round-trips every field', async () => {
    const written = entry({ dueAt: freshDueAt(), attempts: 2, lastError: 'transient failure (HTTP 503)' });
    const stored = await stores.renewalSchedule.upsertEntry(written);
    expect(stored).toEqual({ ...written, bucket: renewalBucketOf(written.dueAt), etag: expect.any(String) });

    const listed = await stores.renewalSchedule.listBucket(stored.bucket);
    expect(listed).toEqual([stored]);

    const raw = await rawClient(stores.renewalSchedule.tableName).getEntity<Record<string, unknown>>(
      stored.bucket,
      written.subscriptionId,
    );
    expect(raw).toMatchObject({
      tenantId: written.tenantId,
      dueAt: new Date(written.dueAt).toISOString(),
      expiresAt: new Date(written.expiresAt).toISOString(),
      attempts: 2,
      lastError: 'transient failure (HTTP 503)',
    });
  });

  it('lists exactly one bucket, across result pages', async () => {
    const dueAt = freshDueAt();
    const neighbour = await stores.renewalSchedule.upsertEntry(entry({ dueAt: dueAt + 5 * MINUTE }));
    const rows = Array.from({ length: 1_050 }, (_, i) => entry({ dueAt: dueAt + (i % 200) }));
    for (let i = 0; i < rows.length; i += 50) {
      await Promise.all(rows.slice(i, i + 50).map((r) => stores.renewalSchedule.upsertEntry(r)));
    }
    const listed = await stores.renewalSchedule.listBucket(renewalBucketOf(dueAt));
    expect(listed).toHaveLength(1_050);
    expect(new Set(listed.map((r) => r.subscriptionId))).toEqual(new Set(rows.map((r) => r.subscriptionId)));
    expect(listed.some((r) => r.subscriptionId === neighbour.subscriptionId)).toBe(false);
    expect(await stores.renewalSchedule.listBucket('199901010000')).toEqual([]);

    // With a limit it stops early, also in the middle of a page.
    const some = await stores.renewalSchedule.listBucket(renewalBucketOf(dueAt), 1_001);
    expect(some).toHaveLength(1_001);
    expect(new Set(some.map((r) => r.subscriptionId)).size).toBe(1_001);
    expect(await stores.renewalSchedule.listBucket(renewalBucketOf(dueAt), 7)).toHaveLength(7);
  });

  it('upserts: the same subscription in the same bucket is one row, replaced', async () => {
    const dueAt = freshDueAt();
    const first = await stores.renewalSchedule.upsertEntry(entry({ dueAt }));
    const second = await stores.renewalSchedule.upsertEntry({
      ...first,
      dueAt: dueAt + 1_000,
      attempts: 0,
      lastError: undefined,
    });
    expect(second.etag).not.toBe(first.etag);
    const listed = await stores.renewalSchedule.listBucket(first.bucket);
    expect(listed).toEqual([second]);
    expect(listed[0]).not.toHaveProperty('lastError');
  });

  it('replaces in place only with the current etag and only within the bucket', async () => {
    const stored = await stores.renewalSchedule.upsertEntry(entry({ dueAt: freshDueAt() }));
    const replaced = await stores.renewalSchedule.replaceEntry({ ...stored, attempts: 1, lastError: 'x' });
    expect(replaced.etag).not.toBe(stored.etag);
    await expect(stores.renewalSchedule.replaceEntry({ ...stored, attempts: 5 })).rejects.toBeInstanceOf(
      ConcurrencyError,
    );
    await expect(
      stores.renewalSchedule.replaceEntry({ ...replaced, dueAt: replaced.dueAt + 5 * MINUTE }),
    ).rejects.toBeInstanceOf(ValidationError);
    expect(await stores.renewalSchedule.listBucket(stored.bucket)).toEqual([replaced]);
  });

  it('refuses to replace an entry deleted since it was read, without recreating it', async () => {
    const stored = await stores.renewalSchedule.upsertEntry(entry({ dueAt: freshDueAt() }));
    expect(await stores.renewalSchedule.removeEntry(stored)).toBe('removed');
    await expect(stores.renewalSchedule.replaceEntry({ ...stored, attempts: 1 })).rejects.toBeInstanceOf(
      ConcurrencyError,
    );
    expect(await stores.renewalSchedule.listBucket(stored.bucket)).toEqual([]);
  });

  it('removes conditionally: changed keeps the row, then removed, then missing', async () => {
    const stored = await stores.renewalSchedule.upsertEntry(entry({ dueAt: freshDueAt() }));
    const changed = await stores.renewalSchedule.replaceEntry({ ...stored, attempts: 1 });
    expect(await stores.renewalSchedule.removeEntry(stored)).toBe('changed');
    expect(await stores.renewalSchedule.listBucket(stored.bucket)).toEqual([changed]);
    expect(await stores.renewalSchedule.removeEntry(changed)).toBe('removed');
    expect(await stores.renewalSchedule.removeEntry(changed)).toBe('missing');
    expect(await stores.renewalSchedule.listBucket(stored.bucket)).toEqual([]);
  });

  it('validates keys and fields before sending anything', async () => {
    await expect(stores.renewalSchedule.listBucket('2026-03-02')).rejects.toBeInstanceOf(ValidationError);
    await expect(stores.renewalSchedule.upsertEntry(entry({ subscriptionId: 'a/b' }))).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(stores.renewalSchedule.upsertEntry(entry({ tenantId: '' }))).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(stores.renewalSchedule.upsertEntry(entry({ dueAt: Number.NaN }))).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(stores.renewalSchedule.upsertEntry(entry({ attempts: -1 }))).rejects.toBeInstanceOf(
      ValidationError,
    );
    const bad = { bucket: '202603021200', subscriptionId: randomUUID(), etag: '' };
    await expect(stores.renewalSchedule.removeEntry(bad)).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('renewal cursor against Azurite', () => {
  it('is created once, then moved only with the etag read', async () => {
    const own = await freshStores();
    expect(await own.renewalSchedule.getCursor()).toBeUndefined();

    const results = await Promise.allSettled([
      own.renewalSchedule.saveCursor('202603021200', undefined),
      own.renewalSchedule.saveCursor('202603021205', undefined),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost[0]?.reason).toBeInstanceOf(ConcurrencyError);

    const current = await own.renewalSchedule.getCursor();
    expect(current).toBeDefined();
    const moved = await own.renewalSchedule.saveCursor('202603021300', current!.etag);
    expect(moved.bucket).toBe('202603021300');
    await expect(own.renewalSchedule.saveCursor('202603021400', current!.etag)).rejects.toBeInstanceOf(
      ConcurrencyError,
    );
    expect(await own.renewalSchedule.getCursor()).toEqual(moved);
  });

  it('lives outside every bucket: listing buckets never returns it', async () => {
    const own = await freshStores();
    await own.renewalSchedule.saveCursor('202603021200', undefined);
    const rows: StoredRenewalScheduleEntry[] = await own.renewalSchedule.listBucket('202603021200');
    expect(rows).toEqual([]);
    await expect(own.renewalSchedule.saveCursor('cursor', undefined)).rejects.toBeInstanceOf(ValidationError);
  });
});
