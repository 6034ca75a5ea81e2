import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Lease } from '../../../shared/domain/ports.js';
import { ValidationError } from '../../../shared/errors.js';
import type { TableStores } from '../../../shared/store/index.js';
import { freshStores, rawClient } from './fixtures.js';

const T0 = Date.UTC(2026, 2, 2, 12, 0, 0);
const DURATION = 5 * 60_000;

let stores: TableStores;

beforeAll(async () => {
  stores = await freshStores();
});

const leaseName = (): string => `lease-${randomUUID()}`;

describe('TableLeaseStore against Azurite', () => {
  it('grants a free lease and stores owner and expiry', async () => {
    const name = leaseName();
    const lease = await stores.leases.acquire(name, 'run-a', DURATION, T0);
    expect(lease).toEqual({ name, owner: 'run-a', expiresAt: T0 + DURATION, etag: expect.any(String) });
    const raw = await rawClient(stores.leases.tableName).getEntity<Record<string, unknown>>(name, '');
    expect(raw).toMatchObject({ owner: 'run-a', expiresAt: new Date(T0 + DURATION).toISOString() });
  });

  it('refuses a held lease to anyone else until it expires', async () => {
    const name = leaseName();
    await stores.leases.acquire(name, 'run-a', DURATION, T0);
    expect(await stores.leases.acquire(name, 'run-b', DURATION, T0 + DURATION - 1)).toBeUndefined();
    expect((await stores.leases.read(name))?.owner).toBe('run-a');
  });

  it('lets exactly one of several concurrent acquirers win a free lease', async () => {
    const name = leaseName();
    const owners = Array.from({ length: 8 }, (_, i) => `run-${i}`);
    const results = await Promise.all(owners.map((o) => stores.leases.acquire(name, o, DURATION, T0)));
    const winners = results.filter((r): r is Lease => r !== undefined);
    expect(winners).toHaveLength(1);
    expect((await stores.leases.read(name))?.owner).toBe(winners[0]?.owner);
  });

  it('lets an expired lease be taken over, by exactly one of concurrent acquirers', async () => {
    const name = leaseName();
    const crashed = await stores.leases.acquire(name, 'crashed', DURATION, T0);
    const later = T0 + DURATION;
    const results = await Promise.all(
      ['run-a', 'run-b', 'run-c', 'run-d'].map((o) => stores.leases.acquire(name, o, DURATION, later)),
    );
    const winners = results.filter((r): r is Lease => r !== undefined);
    expect(winners).toHaveLength(1);
    expect(winners[0]?.expiresAt).toBe(later + DURATION);
    // The old holder finds out when it tries to renew.
    expect(await stores.leases.renew(crashed!, DURATION, later + 1)).toBeUndefined();
  });

  it('renews a held lease with a new etag; the old etag is then stale', async () => {
    const name = leaseName();
    const lease = await stores.leases.acquire(name, 'run-a', DURATION, T0);
    const renewed = await stores.leases.renew(lease!, DURATION, T0 + 60_000);
    expect(renewed).toMatchObject({ owner: 'run-a', expiresAt: T0 + 60_000 + DURATION });
    expect(renewed?.etag).not.toBe(lease?.etag);
    expect(await stores.leases.renew(lease!, DURATION, T0 + 120_000)).toBeUndefined();
  });

  it('releases, so another run can start at once; a stale release changes nothing', async () => {
    const name = leaseName();
    const a = await stores.leases.acquire(name, 'run-a', DURATION, T0);
    await stores.leases.release(a!);
    expect(await stores.leases.read(name)).toBeUndefined();
    const b = await stores.leases.acquire(name, 'run-b', DURATION, T0 + 1);
    expect(b?.owner).toBe('run-b');
    await stores.leases.release(a!);
    expect((await stores.leases.read(name))?.owner).toBe('run-b');
    expect(await stores.leases.renew(a!, DURATION, T0 + 2)).toBeUndefined();
  });

  it('validates its input before sending anything', async () => {
    await expect(stores.leases.acquire('a/b', 'run', DURATION, T0)).rejects.toBeInstanceOf(ValidationError);
    await expect(stores.leases.acquire(leaseName(), '', DURATION, T0)).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(stores.leases.acquire(leaseName(), 'run', 0, T0)).rejects.toBeInstanceOf(ValidationError);
  });

  it('treats a malformed row as expired, so it cannot block renewals forever', async () => {
    const name = leaseName();
    await rawClient(stores.leases.tableName).createEntity({ partitionKey: name, rowKey: '', owner: 'x' });
    const lease = await stores.leases.acquire(name, 'run-a', DURATION, T0);
    expect(lease?.owner).toBe('run-a');
  });
});
