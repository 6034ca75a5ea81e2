import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../../dev/local/host.js';
import { runMaintenance } from '../../../shared/app/maintenance.js';
import type { LeasePort } from '../../../shared/domain/ports.js';
import { startTestHost } from '../../support/test-host.js';

/**
 * A maintenance run that crashed leaves the renewal lease behind (the row of a dead owner); the
 * next runs skip until it expires, MAINTENANCE_LEASE_SECONDS after it was last taken or renewed,
 * and then one takes it over. test/chaos does the same with a SIGKILLed host.
 */
let host: LocalHost;

beforeAll(async () => {
  host = await startTestHost({ startQueueTriggers: false, env: { MAINTENANCE_LEASE_SECONDS: '45' } });
}, 60_000);

afterAll(async () => {
  await host?.stop();
});

describe('the renewal lease after a crashed run', () => {
  it('is taken for MAINTENANCE_LEASE_SECONDS, skipped while a dead run holds it, and taken over once it expired', async () => {
    const leases = host.services.leases;
    const durations: number[] = [];
    const recording: LeasePort = {
      acquire: (name, owner, durationMs, now) => {
        if (name === 'subscription-renewal') durations.push(durationMs);
        return leases.acquire(name, owner, durationMs, now);
      },
      renew: (lease, durationMs, now) => leases.renew(lease, durationMs, now),
      release: (lease) => leases.release(lease),
    };
    const services = { ...host.services, leases: recording };

    // A run that died holding the lease: its row stays until it expires.
    const crashedAt = Date.now();
    expect(await leases.acquire('subscription-renewal', 'crashed-run', 45_000, crashedAt)).toBeDefined();

    const skipped = await runMaintenance(services, () => {}, { now: () => Date.now() });
    expect(skipped).toMatchObject({ leaseHeld: false, stoppedBy: 'leaseNotHeld' });

    const later = crashedAt + 45_001 - Date.now();
    const recovered = await runMaintenance(services, () => {}, { now: () => Date.now() + later });
    expect(recovered).toMatchObject({ leaseHeld: true, stoppedBy: 'done' });
    expect(durations).toEqual([45_000, 45_000]);
  });
});
