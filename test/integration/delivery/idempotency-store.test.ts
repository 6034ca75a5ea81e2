/** TableIdempotencyStore against Azurite: conditional inserts, takeovers, transactions, purge. */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { ValidationError } from '../../../shared/errors.js';
import { deliveryPartitionKey } from '../../../shared/domain/idempotency.js';
import type { ClaimResult, DeliveryClaim } from '../../../shared/domain/ports.js';
import {
  createIdempotencyStore,
  deviceProperty,
  type TableIdempotencyStore,
} from '../../../shared/store/idempotency-store.js';

const NOW = Date.parse('2026-11-23T12:00:00Z');
const TIMEOUT = 120_000;
const DAY = '20261123';

let store: TableIdempotencyStore;
let raw: TableClient;

beforeAll(async () => {
  const connectionString = inject('tablesConnectionString');
  const deliveries = createIdempotencyStore({
    connectionString,
    tablePrefix: `idem${randomBytes(4).toString('hex')}`,
  });
  await deliveries.ensureTable();
  store = deliveries.store;
  raw = TableClient.fromConnectionString(connectionString, store.tableName, {
    allowInsecureConnection: true,
  });
});

// Shaped like real message keys (a hash), but the same every run: the shard spread asserted below
// must not depend on chance. The table is new per run, so keys never meet an older run's rows.
let messageKeys = 0;
const messageKey = () =>
  `c-${createHash('sha256')
    .update(`message-${(messageKeys += 1)}`)
    .digest('base64url')}`;
const claimed = (r: ClaimResult | undefined): DeliveryClaim => {
  if (r?.status !== 'claimed') throw new Error(`expected a claim, got ${JSON.stringify(r)}`);
  return r.claim;
};

describe('claims', () => {
  it('a first claim inserts the message row with a sending slot for the device', async () => {
    const key = messageKey();
    const [result] = await store.claim({
      day: DAY,
      messageKey: key,
      deviceIds: ['d1'],
      now: NOW,
      claimTimeoutMs: TIMEOUT,
    });
    expect(result).toMatchObject({ deviceId: 'd1', status: 'claimed', tookOver: false });
    const row = await raw.getEntity<Record<string, unknown>>(deliveryPartitionKey(DAY, key), key);
    const slot = JSON.parse(String(row[deviceProperty('d1')])) as Record<string, unknown>;
    expect(slot).toMatchObject({ id: 'd1', s: 'sending', c: NOW, k: claimed(result).claimId });
    expect(row.etag).toBe(claimed(result).etag);
    expect(await store.get(DAY, key, 'd1')).toMatchObject({ state: 'sending', claimedAt: NOW });
  });

  it('of two concurrent claimers exactly one wins; the other is told to retry later', async () => {
    for (let round = 0; round < 5; round++) {
      const key = messageKey();
      const request = { day: DAY, messageKey: key, deviceIds: ['d1'], now: NOW, claimTimeoutMs: TIMEOUT };
      const [a, b] = await Promise.all([store.claim(request), store.claim(request)]);
      const statuses = [a[0]?.status, b[0]?.status].sort();
      expect(statuses).toEqual(['claimed', 'in_progress']);
      const loser = [a[0], b[0]].find((r) => r?.status === 'in_progress');
      expect(loser).toMatchObject({ retryAfterMs: TIMEOUT });
    }
  });

  it('of many concurrent multi-device claimers exactly one wins each device', async () => {
    const key = messageKey();
    const devices = ['d1', 'd2', 'd3'];
    const results = await Promise.all(
      Array.from({ length: 6 }, () =>
        store.claim({ day: DAY, messageKey: key, deviceIds: devices, now: NOW, claimTimeoutMs: TIMEOUT }),
      ),
    );
    for (const [i, deviceId] of devices.entries()) {
      const winners = results.filter((r) => r[i]?.deviceId === deviceId && r[i]?.status === 'claimed');
      expect(winners).toHaveLength(1);
    }
  });

  it('claims every device of a message in one write, and marks them sent in one write', async () => {
    const key = messageKey();
    const results = await store.claim({
      day: DAY,
      messageKey: key,
      deviceIds: ['d1', 'd2', 'd3'],
      now: NOW,
      claimTimeoutMs: TIMEOUT,
    });
    expect(results.map((r) => r.status)).toEqual(['claimed', 'claimed', 'claimed']);
    // One row holds all three: one insert, one ETag, one claim id.
    expect(new Set(results.map((r) => claimed(r).etag)).size).toBe(1);
    expect(new Set(results.map((r) => claimed(r).claimId)).size).toBe(1);
    const rows = raw.listEntities({ queryOptions: { filter: `RowKey eq '${key}'` } });
    let count = 0;
    for await (const row of rows) {
      count += 1;
      for (const d of ['d1', 'd2', 'd3']) expect(row[deviceProperty(d)]).toBeTypeOf('string');
    }
    expect(count).toBe(1);
    // The ETag from the insert is the stored one: marking sent (conditional) succeeds.
    expect(await store.markSent(results.map(claimed), NOW + 1000)).toEqual({ lost: 0 });
    for (const d of ['d1', 'd2', 'd3']) {
      expect(await store.get(DAY, key, d)).toMatchObject({ state: 'sent', sentAt: NOW + 1000 });
    }
  });

  it('settles devices of one message separately although each write changes the row ETag', async () => {
    const key = messageKey();
    const results = await store.claim({
      day: DAY,
      messageKey: key,
      deviceIds: ['d1', 'd2'],
      now: NOW,
      claimTimeoutMs: TIMEOUT,
    });
    const [d1, d2] = results.map(claimed);
    expect(await store.markSent([d1!], NOW + 100)).toEqual({ lost: 0 });
    // d2's claim still carries the insert's ETag, now stale: the store checks the claim id instead.
    await store.release([d2!]);
    expect((await store.get(DAY, key, 'd1'))?.state).toBe('sent');
    expect(await store.get(DAY, key, 'd2')).toBeUndefined();
    const [again1, again2] = await store.claim({
      day: DAY,
      messageKey: key,
      deviceIds: ['d1', 'd2'],
      now: NOW + 200,
      claimTimeoutMs: TIMEOUT,
    });
    expect(again1).toEqual({ deviceId: 'd1', status: 'already_sent' });
    expect(again2).toMatchObject({ deviceId: 'd2', status: 'claimed', tookOver: false });
  });

  it('a takeover of one device leaves the crashed holder its other devices', async () => {
    const key = messageKey();
    const crashed = (
      await store.claim({
        day: DAY,
        messageKey: key,
        deviceIds: ['d1', 'd2'],
        now: NOW,
        claimTimeoutMs: TIMEOUT,
      })
    ).map(claimed);
    const later = NOW + TIMEOUT + 1;
    const [taker] = await store.claim({
      day: DAY,
      messageKey: key,
      deviceIds: ['d1'],
      now: later,
      claimTimeoutMs: TIMEOUT,
    });
    expect(taker).toMatchObject({ status: 'claimed', tookOver: true });
    // The slow holder comes back: d1 is no longer its own (the taker sends it), d2 still is.
    expect(await store.markSent(crashed, later + 10)).toEqual({ lost: 1 });
    expect(await store.get(DAY, key, 'd1')).toMatchObject({ state: 'sending', claimedAt: later });
    expect((await store.get(DAY, key, 'd2'))?.state).toBe('sent');
    expect(await store.markSent([claimed(taker)], later + 20)).toEqual({ lost: 0 });
    expect((await store.get(DAY, key, 'd1'))?.state).toBe('sent');
  });

  it('a sent delivery is skipped, however old', async () => {
    const key = messageKey();
    const [first] = await store.claim({
      day: DAY,
      messageKey: key,
      deviceIds: ['d1'],
      now: NOW,
      claimTimeoutMs: TIMEOUT,
    });
    await store.markSent([claimed(first)], NOW + 500);
    const [again] = await store.claim({
      day: DAY,
      messageKey: key,
      deviceIds: ['d1'],
      now: NOW + 10 * TIMEOUT,
      claimTimeoutMs: TIMEOUT,
    });
    expect(again).toEqual({ deviceId: 'd1', status: 'already_sent' });
    expect(await store.get(DAY, key, 'd1')).toMatchObject({ state: 'sent', sentAt: NOW + 500 });
  });

  it('mixes outcomes per device when the message already has a row', async () => {
    const key = messageKey();
    const [d1] = await store.claim({
      day: DAY,
      messageKey: key,
      deviceIds: ['d1'],
      now: NOW,
      claimTimeoutMs: TIMEOUT,
    });
    await store.markSent([claimed(d1)], NOW);
    await store.claim({ day: DAY, messageKey: key, deviceIds: ['d2'], now: NOW, claimTimeoutMs: TIMEOUT });
    const results = await store.claim({
      day: DAY,
      messageKey: key,
      deviceIds: ['d1', 'd2', 'd3'],
      now: NOW + 1000,
      claimTimeoutMs: TIMEOUT,
    });
    expect(results.map((r) => [r.deviceId, r.status])).toEqual([
      ['d1', 'already_sent'],
      ['d2', 'in_progress'],
      ['d3', 'claimed'],
    ]);
  });

  it('a stale sending claim (a crashed attempt) is taken over with its etag, by exactly one taker', async () => {
    const key = messageKey();
    const [crashed] = await store.claim({
      day: DAY,
      messageKey: key,
      deviceIds: ['d1'],
      now: NOW,
      claimTimeoutMs: TIMEOUT,
    });
    const later = NOW + TIMEOUT + 1;
    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        store.claim({ day: DAY, messageKey: key, deviceIds: ['d1'], now: later, claimTimeoutMs: TIMEOUT }),
      ),
    );
    const winners = results.filter((r) => r[0]?.status === 'claimed');
    expect(winners).toHaveLength(1);
    expect(winners[0]![0]).toMatchObject({ tookOver: true });
    expect(results.filter((r) => r[0]?.status === 'in_progress')).toHaveLength(3);
    // The crashed holder's claim is lost: marking it sent is reported, not applied.
    expect(await store.markSent([claimed(crashed)], later)).toEqual({ lost: 1 });
    expect((await store.get(DAY, key, 'd1'))?.state).toBe('sending');
    expect(await store.markSent([claimed(winners[0]![0])], later)).toEqual({ lost: 0 });
    expect((await store.get(DAY, key, 'd1'))?.state).toBe('sent');
  });

  it('a fresh claim is not taken over', async () => {
    const key = messageKey();
    await store.claim({ day: DAY, messageKey: key, deviceIds: ['d1'], now: NOW, claimTimeoutMs: TIMEOUT });
    const [result] = await store.claim({
      day: DAY,
      messageKey: key,
      deviceIds: ['d1'],
      now: NOW + TIMEOUT - 5_000,
      claimTimeoutMs: TIMEOUT,
    });
    expect(result).toEqual({ deviceId: 'd1', status: 'in_progress', retryAfterMs: 5_000 });
  });

  it('release deletes only our own claim, and lets the next claim in at once', async () => {
    const key = messageKey();
    const [mine] = await store.claim({
      day: DAY,
      messageKey: key,
      deviceIds: ['d1'],
      now: NOW,
      claimTimeoutMs: TIMEOUT,
    });
    await store.release([claimed(mine)]);
    expect(await store.get(DAY, key, 'd1')).toBeUndefined();
    const [next] = await store.claim({
      day: DAY,
      messageKey: key,
      deviceIds: ['d1'],
      now: NOW,
      claimTimeoutMs: TIMEOUT,
    });
    // Releasing the old (no longer valid) claim leaves the new one alone.
    await store.release([claimed(mine)]);
    expect((await store.get(DAY, key, 'd1'))?.etag).toBe(claimed(next).etag);
  });

  it('refuses keys Table Storage cannot hold, before any request', async () => {
    const bad = [
      { day: '2026-11-23', messageKey: messageKey(), deviceIds: ['d1'] },
      { day: DAY, messageKey: 'a|b', deviceIds: ['d1'] },
      { day: DAY, messageKey: messageKey(), deviceIds: ['d/1'] },
      { day: DAY, messageKey: messageKey(), deviceIds: ['d1', 'd1'] },
    ];
    for (const request of bad) {
      await expect(store.claim({ ...request, now: NOW, claimTimeoutMs: TIMEOUT })).rejects.toBeInstanceOf(
        ValidationError,
      );
    }
  });
});

describe('purge', () => {
  it('deletes whole days before the cutoff, in bounded calls, and keeps the rest', async () => {
    // Days of their own, so other tests' rows (all on DAY) are not involved.
    const old = ['20200101', '20200102'];
    const keep = '20200103';
    const shardsSeen = new Map<string, number>();
    const rows = async (day: string) => {
      const partitions = new Set<string>();
      let n = 0;
      // Every shard of the day: `${day}-0` … `${day}-f` (and '.' sorts right after '-').
      const filter = `PartitionKey gt '${day}' and PartitionKey lt '${day}.'`;
      for await (const page of raw.listEntities({ queryOptions: { filter } }).byPage()) {
        n += page.length;
        for (const e of page) partitions.add(e.partitionKey!);
      }
      shardsSeen.set(day, partitions.size);
      return n;
    };
    for (const day of [...old, keep]) {
      // 150 messages (rows) in the first old day: more than one 100-operation transaction.
      const count = day === old[0] ? 150 : 20;
      for (let i = 0; i < count; i += 10) {
        await Promise.all(
          Array.from({ length: 10 }, () =>
            store.claim({
              day,
              messageKey: messageKey(),
              deviceIds: ['dev0', 'dev1'],
              now: NOW,
              claimTimeoutMs: TIMEOUT,
            }),
          ),
        );
      }
    }
    expect(await rows(old[0]!)).toBe(150);
    // A day's messages are spread over several partitions (16 shards).
    expect(shardsSeen.get(old[0]!)).toBeGreaterThan(3);

    const first = await store.purgeOlderThan(keep, { maxRows: 100 });
    expect(first).toEqual({ deleted: 100, days: [old[0]], more: true });
    expect(await rows(old[0]!)).toBe(50);

    const second = await store.purgeOlderThan(keep, { maxRows: 1000 });
    expect(second).toEqual({ deleted: 70, days: old, more: false });
    expect(await rows(old[0]!)).toBe(0);
    expect(await rows(old[1]!)).toBe(0);
    expect(await rows(keep)).toBe(20);

    expect(await store.purgeOlderThan(keep)).toEqual({ deleted: 0, days: [], more: false });
  });

  it('two overlapping purges delete everything exactly once between them', async () => {
    const day = '20190601';
    for (let i = 0; i < 50; i++) {
      await store.claim({
        day,
        messageKey: `c-${randomUUID()}`,
        deviceIds: ['dev0', 'dev1'],
        now: NOW,
        claimTimeoutMs: TIMEOUT,
      });
    }
    const [a, b] = await Promise.all([store.purgeOlderThan('20190602'), store.purgeOlderThan('20190602')]);
    expect(a.deleted + b.deleted).toBe(50);
  });
});
