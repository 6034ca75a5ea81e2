import { describe, expect, it } from 'vitest';
import { planRenewals, type PlanOptions } from '../../../../shared/domain/renewal/plan.js';
import type { StoredRenewalScheduleEntry } from '../../../../shared/domain/ports.js';
import { DAY, HOUR, MINUTE, T0, WINDOW, stored } from './helpers.js';

const options: PlanOptions = {
  windowMs: WINDOW,
  maxBatchSize: 20,
  maxBatchWaitMs: 0,
  maxRenewalsPerRun: 10_000,
};

const ids = (plan: ReturnType<typeof planRenewals>): string[][] =>
  plan.batches.map((b) => b.items.map((i) => i.entry.subscriptionId));

function many(
  n: number,
  tenantId: string,
  expiresFrom: number,
  stepMs = MINUTE,
): StoredRenewalScheduleEntry[] {
  return Array.from({ length: n }, (_, i) =>
    stored({
      subscriptionId: `${tenantId}-${String(i).padStart(4, '0')}`,
      tenantId,
      expiresAt: expiresFrom + i * stepMs,
    }),
  );
}

describe('planRenewals at the window boundaries', () => {
  it('includes a subscription expiring exactly at the window edge and leaves one expiring 1 ms later', () => {
    const edge = stored({ subscriptionId: 'edge', expiresAt: T0 + WINDOW });
    const outside = stored({ subscriptionId: 'outside', expiresAt: T0 + WINDOW + 1 });
    const plan = planRenewals([outside, edge], T0, options);
    expect(ids(plan)).toEqual([['edge']]);
    expect(plan.notDue).toBe(1);
  });

  it('does not touch far-future subscriptions', () => {
    const plan = planRenewals([stored({ subscriptionId: 'far', expiresAt: T0 + 6 * DAY })], T0, options);
    expect(plan.batches).toEqual([]);
    expect(plan.notDue).toBe(1);
    expect(plan.planned).toBe(0);
  });

  it('renews an already expired subscription first (recreation waits for Graph to answer 404)', () => {
    const expired = stored({ subscriptionId: 'expired', expiresAt: T0 - 10 * MINUTE });
    const soon = stored({ subscriptionId: 'soon', expiresAt: T0 + HOUR });
    const edge = stored({ subscriptionId: 'edge', expiresAt: T0 + WINDOW });
    const plan = planRenewals([edge, soon, expired], T0, options);
    expect(ids(plan)).toEqual([['expired', 'soon', 'edge']]);
  });
});

describe('planRenewals batching', () => {
  it('groups by tenant into batches of at most 20, soonest expiry first across tenants', () => {
    const a = many(45, 'a', T0, MINUTE); // a-0000 … a-0044, one a minute
    const b = many(3, 'b', T0 + 30 * MINUTE);
    const plan = planRenewals([...b, ...a].reverse(), T0, options);
    expect(plan.batches.map((x) => [x.tenantId, x.items.length])).toEqual([
      ['a', 20],
      ['a', 20],
      ['b', 3],
      ['a', 5],
    ]);
    expect(plan.batches[0]?.items[0]?.entry.subscriptionId).toBe('a-0000');
    expect(plan.batches.every((x) => x.items.every((i) => i.entry.tenantId === x.tenantId))).toBe(true);
    expect(plan.planned).toBe(48);
  });

  it('holds a partial batch back to fill it, until it has waited maxBatchWaitMs', () => {
    const wait = 2 * HOUR;
    // Due for one hour: held. Due for two hours: sent.
    const young = many(3, 'young', T0 + WINDOW - HOUR);
    const old = many(3, 'old', T0 + WINDOW - 2 * HOUR);
    // 23 due: one full batch goes, the 3 latest wait.
    const big = many(23, 'big', T0 + WINDOW - HOUR - 23 * MINUTE);
    const plan = planRenewals([...young, ...old, ...big], T0, { ...options, maxBatchWaitMs: wait });
    expect(plan.batches.map((x) => [x.tenantId, x.items.length])).toEqual([
      ['old', 3],
      ['big', 20],
    ]);
    expect(plan.heldForBatching).toBe(6);
    expect(ids(plan)[1]).toEqual(big.slice(0, 20).map((e) => e.subscriptionId));
  });

  it('caps the renewals per run, keeping the soonest-expiring and leaving the rest due', () => {
    const a = many(30, 'a', T0, 2 * MINUTE);
    const b = many(30, 'b', T0 + MINUTE, 2 * MINUTE);
    const plan = planRenewals([...a, ...b], T0, { ...options, maxRenewalsPerRun: 25 });
    expect(plan.planned).toBe(25);
    expect(plan.overCap).toBe(35);
    const planned = plan.batches.flatMap((x) => x.items.map((i) => i.entry.expiresAt));
    const notPlanned = [...a, ...b]
      .filter((e) => !plan.batches.some((x) => x.items.some((i) => i.entry === e)))
      .map((e) => e.expiresAt);
    expect(Math.max(...planned)).toBeLessThanOrEqual(Math.min(...notPlanned));
  });

  it('renews a subscription with two due rows once, carrying the other row along', () => {
    const first = stored({ subscriptionId: 'dup', bucket: '202603011200', expiresAt: T0 + HOUR });
    const second = stored({ subscriptionId: 'dup', bucket: '202603021155', expiresAt: T0 + 2 * HOUR });
    const plan = planRenewals([second, first], T0, options);
    expect(plan.planned).toBe(1);
    expect(plan.duplicates).toBe(1);
    expect(plan.batches[0]?.items[0]?.entry).toBe(first);
    expect(plan.batches[0]?.items[0]?.duplicates).toEqual([second]);
  });

  it('leaves retried entries alone until their retry time', () => {
    const backingOff = stored({
      subscriptionId: 'later',
      expiresAt: T0 + HOUR,
      dueAt: T0 + 30_000,
      attempts: 2,
    });
    const plan = planRenewals([backingOff], T0, options);
    expect(plan.planned).toBe(0);
    expect(plan.notDue).toBe(1);
    expect(planRenewals([backingOff], T0 + 30_000, options).planned).toBe(1);
  });

  it('is deterministic whatever the input order', () => {
    const input = [...many(25, 'a', T0), ...many(25, 'b', T0)];
    const forward = ids(planRenewals(input, T0, options));
    const backward = ids(planRenewals([...input].reverse(), T0, options));
    expect(backward).toEqual(forward);
  });
});
