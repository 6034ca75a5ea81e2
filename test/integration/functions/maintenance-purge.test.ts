import { randomBytes } from 'node:crypto';
import azureFunctions from '@azure/functions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscriptionMaintenance } from '../../../functions/subscription-maintenance.js';
import type { LocalHost } from '../../../dev/local/host.js';
import { startTestHost } from '../../support/test-host.js';
import { runMaintenance } from '../../../shared/app/maintenance.js';
import { dayKey } from '../../../shared/domain/idempotency.js';
import type { IdempotencyStore } from '../../../shared/domain/ports.js';

const { InvocationContext } = azureFunctions;

/**
 * The subscription-maintenance timer purges expired delivery records (the duplicate-suppression
 * table) after its renewal pass: real Table Storage (Azurite), the local runner's services, the
 * retention from settings (DELIVERY_RECORD_RETENTION_DAYS, 7 here).
 */
const DAY_MS = 86_400_000;
const RETENTION_DAYS = 7;
let host: LocalHost;
let store: IdempotencyStore;

beforeAll(async () => {
  host = await startTestHost({
    startQueueTriggers: false,
    env: {
      DELIVERY_RECORD_RETENTION_DAYS: String(RETENTION_DAYS),
    },
  });
  store = host.services.deliveries;
}, 60_000);

afterAll(async () => {
  await host?.stop();
});

/** Noon UTC of today, moving with real time: no run straddles midnight, whatever the wall clock. */
function clockAtNoon(): () => number {
  const start = Date.now();
  const noon = Math.floor(start / DAY_MS) * DAY_MS + DAY_MS / 2;
  return () => noon + (Date.now() - start);
}

/** `count` messages of `day`, each pushed to two devices and marked sent, as the pipeline leaves them. */
async function seed(day: string, count: number): Promise<{ day: string; messageKey: string }[]> {
  const seeded: { day: string; messageKey: string }[] = [];
  for (let i = 0; i < count; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, count - i) }, async () => {
        const messageKey = `c-${randomBytes(24).toString('base64url')}`;
        const results = await store.claim({
          day,
          messageKey,
          deviceIds: ['phone', 'tablet'],
          now: Date.now(),
          claimTimeoutMs: 120_000,
        });
        const claims = results.map((r) => {
          if (r.status !== 'claimed') throw new Error(`seed claim: ${r.status}`);
          return r.claim;
        });
        await store.markSent(claims, Date.now());
        seeded.push({ day, messageKey });
      }),
    );
  }
  return seeded;
}

async function present(records: { day: string; messageKey: string }[]): Promise<number> {
  const found = await Promise.all(
    records.flatMap(({ day, messageKey }) =>
      ['phone', 'tablet'].map((deviceId) => store.get(day, messageKey, deviceId)),
    ),
  );
  return found.filter((r) => r?.state === 'sent').length;
}

describe('subscription-maintenance purges expired delivery records', () => {
  it('deletes the days before the retention and keeps today and the last kept day', async () => {
    const now = clockAtNoon();
    const today = dayKey(now());
    const lastKept = dayKey(now() - RETENTION_DAYS * DAY_MS);
    const firstExpired = dayKey(now() - (RETENTION_DAYS + 1) * DAY_MS);
    const monthOld = dayKey(now() - 30 * DAY_MS);
    const kept = [...(await seed(today, 30)), ...(await seed(lastKept, 5))];
    const expired = [...(await seed(firstExpired, 5)), ...(await seed(monthOld, 40))];

    const warnings: string[] = [];
    const report = await runMaintenance(host.services, (w) => warnings.push(w), { now });

    expect(warnings).toEqual([]);
    expect(report.leaseHeld).toBe(true);
    // `deleted` counts table rows, however the store lays out (message, device) records.
    expect(report.purge).toMatchObject({
      status: 'done',
      before: lastKept,
      days: [monthOld, firstExpired],
      more: false,
    });
    expect(report.purge.status === 'done' && report.purge.deleted).toBeGreaterThanOrEqual(expired.length);
    expect(await present(expired)).toBe(0);
    expect(await present(kept)).toBe(kept.length * 2);

    // Nothing left to do: the next run deletes nothing.
    const again = await runMaintenance(host.services, () => {}, { now });
    expect(again.purge).toMatchObject({ status: 'done', deleted: 0, days: [], more: false });
    expect(await present(kept)).toBe(kept.length * 2);
  });

  it('is bounded per run: the rest is left for the next runs', async () => {
    const now = clockAtNoon();
    const old = await seed(dayKey(now() - 10 * DAY_MS), 120);

    const first = await runMaintenance(host.services, () => {}, { now, purgeMaxRows: 50 });
    expect(first.purge).toMatchObject({ status: 'done', deleted: 50, more: true });
    expect(await present(old)).toBeGreaterThan(0);
    let runs = 1;
    for (let more = true; more && runs < 10; runs++) {
      const next = await runMaintenance(host.services, () => {}, { now, purgeMaxRows: 50 });
      if (next.purge.status !== 'done') throw new Error(JSON.stringify(next.purge));
      expect(next.purge.deleted).toBeLessThanOrEqual(50);
      more = next.purge.more;
    }
    expect(runs).toBeGreaterThanOrEqual(3); // at least 120 rows: three runs of 50
    expect(await present(old)).toBe(0);
  });

  it('leaves the purge to the run that holds the renewal lease', async () => {
    const now = clockAtNoon();
    const old = await seed(dayKey(now() - 20 * DAY_MS), 3);
    const lease = await host.services.leases.acquire('subscription-renewal', 'other-run', 60_000, Date.now());
    expect(lease).toBeDefined();
    try {
      const report = await runMaintenance(host.services, () => {}, { now });
      expect(report.leaseHeld).toBe(false);
      expect(report.purge).toEqual({ status: 'skipped', reason: 'lease_not_held' });
      expect(await present(old)).toBe(old.length * 2);
    } finally {
      await host.services.leases.release(lease!);
    }
    const report = await runMaintenance(host.services, () => {}, { now });
    expect(report.purge).toMatchObject({ status: 'done', days: [dayKey(now() - 20 * DAY_MS)] });
    expect(await present(old)).toBe(0);
  });

  it('a failing purge is a warning: the renewal pass still reports', async () => {
    const failing = {
      ...host.services,
      deliveries: {
        purgeOlderThan: () => Promise.reject(new Error('Table Storage is unavailable')),
      } as unknown as IdempotencyStore,
    };
    const warnings: string[] = [];
    const report = await runMaintenance(failing, (w) => warnings.push(w));
    expect(report.leaseHeld).toBe(true);
    expect(report.stoppedBy).toBe('done');
    expect(report.purge).toMatchObject({ status: 'failed', deleted: 0, more: true });
    expect(warnings).toEqual([expect.stringMatching(/purging expired delivery records failed.*unavailable/)]);
  });

  it('the timer function logs the purge report in its line', async () => {
    const day = dayKey(Date.now() - 40 * DAY_MS);
    const old = await seed(day, 2);
    const lines: string[] = [];
    const context = new InvocationContext({
      invocationId: 'test',
      functionName: 'subscription-maintenance',
      logHandler: (level, ...args) => lines.push(`${level}: ${args.map(String).join(' ')}`),
    });
    await subscriptionMaintenance(
      {
        isPastDue: false,
        schedule: { adjustForDST: false },
        scheduleStatus: { last: '', next: '', lastUpdated: '' },
      },
      context,
    );
    const line = lines.find((l) => l.includes('subscription-maintenance:'));
    expect(line).toBeDefined();
    const report = JSON.parse(line!.slice(line!.indexOf('{'))) as { purge: { deleted: number } };
    expect(report.purge).toMatchObject({ status: 'done', days: [day], more: false });
    expect(report.purge.deleted).toBeGreaterThanOrEqual(old.length);
    expect(await present(old)).toBe(0);
  });
});
