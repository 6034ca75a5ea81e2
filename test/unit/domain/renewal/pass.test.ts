import { describe, expect, it } from 'vitest';
import { renewalBucketOf } from '../../../../shared/domain/renewal/buckets.js';
import { hashJitter, newExpiry } from '../../../../shared/domain/renewal/expiry.js';
import { TenantBudgets } from '../../../../shared/domain/renewal/token-bucket.js';
import { DAY, HOUR, MINUTE, T0, WINDOW, entry, harness } from './helpers.js';

const LIFETIME = 10_080 * MINUTE;

/** `n` subscriptions of one tenant, due now (expiring within the window), soonest first. */
function due(n: number, tenantId = 'tenant-a', prefix = tenantId) {
  return Array.from({ length: n }, (_, i) =>
    entry({
      subscriptionId: `${prefix}-${String(i).padStart(4, '0')}`,
      tenantId,
      expiresAt: T0 + WINDOW - HOUR + i * 1_000,
    }),
  );
}

describe('runRenewalPass: the happy path', () => {
  it('renews due subscriptions in $batches of 20 and reschedules them at the new expiry minus the window', async () => {
    const h = harness();
    const a = due(45, 'tenant-a');
    const b = due(7, 'tenant-b');
    const later = entry({ subscriptionId: 'later', expiresAt: T0 + 5 * DAY });
    await h.add(...a, ...b, later);

    const report = await h.pass();

    expect(report).toMatchObject({
      leaseHeld: true,
      stoppedBy: 'done',
      renewed: 52,
      graphRequests: 4,
      gone: 0,
      forbidden: 0,
      retried: 0,
      throttled: 0,
      deferred: 0,
      storeErrors: 0,
    });
    expect(h.graph.calls.map((c) => [c.tenantId, c.items.length]).sort()).toEqual([
      ['tenant-a', 20],
      ['tenant-a', 20],
      ['tenant-a', 5],
      ['tenant-b', 7],
    ]);
    // Every subscription has exactly one row, at its new due time.
    expect(h.schedule.size).toBe(53);
    for (const e of [...a, ...b]) {
      const rows = h.schedule.find(e.subscriptionId);
      expect(rows).toHaveLength(1);
      const row = rows[0]!;
      expect(row.expiresAt).toBe(
        newExpiry(e.dueAt, hashJitter(e.subscriptionId), {
          maxLifetimeMs: LIFETIME,
          expirySafetyMs: 5 * MINUTE,
          jitterFraction: 0.1,
        }),
      );
      expect(row.dueAt).toBe(row.expiresAt - WINDOW);
      expect(row.bucket).toBe(renewalBucketOf(row.dueAt));
      expect(row.attempts).toBe(0);
    }
    expect(h.schedule.find('later')[0]?.expiresAt).toBe(later.expiresAt);
    // Requested expiries stay within Graph's maximum.
    for (const call of h.graph.calls) {
      for (const item of call.items) {
        expect(Date.parse(item.expirationDateTime)).toBeLessThanOrEqual(call.at + LIFETIME);
        expect(Date.parse(item.expirationDateTime)).toBeGreaterThan(call.at + LIFETIME - 1_100 * MINUTE);
      }
    }
  });

  it('releases the lease and moves the cursor past emptied buckets, keeping a lag behind now', async () => {
    const h = harness();
    await h.add(...due(3));
    await h.pass();
    expect(h.lease.holder('subscription-renewal')).toBeUndefined();
    const cursor = await h.schedule.getCursor();
    expect(cursor?.bucket).toBe(renewalBucketOf(T0 - 15 * MINUTE));

    // A second pass reads only from the cursor on.
    h.clock.advance(5 * MINUTE);
    const report = await h.pass();
    expect(report.bucketsRead).toBe(5);
    expect(report.renewed).toBe(0);
  });

  it('starts the first run a lookback before now, and keeps the cursor at a bucket still holding entries', async () => {
    const h = harness();
    const old = entry({ subscriptionId: 'held', expiresAt: T0 + WINDOW - 30 * MINUTE });
    await h.add(old);
    const report = await h.pass({ maxBatchWaitMs: 2 * HOUR, initialLookbackMs: DAY });
    expect(report.bucketsRead).toBe(DAY / (5 * MINUTE) + 1);
    expect(report.heldForBatching).toBe(1);
    expect(report.deferred).toBe(1);
    expect(h.graph.calls).toHaveLength(0);
    expect((await h.schedule.getCursor())?.bucket).toBe(renewalBucketOf(old.dueAt));
  });
});

describe('runRenewalPass: the lease', () => {
  it('does nothing when another run holds the lease', async () => {
    const h = harness();
    await h.add(...due(5));
    await h.lease.acquire('subscription-renewal', 'other-run', 5 * MINUTE, T0);
    const report = await h.pass();
    expect(report).toMatchObject({
      leaseHeld: false,
      stoppedBy: 'leaseNotHeld',
      renewed: 0,
      graphRequests: 0,
    });
    expect(h.graph.calls).toHaveLength(0);
    expect(h.schedule.calls.listBucket).toBe(0);
    expect(h.lease.holder('subscription-renewal')?.owner).toBe('other-run');
  });

  it('takes over an expired lease', async () => {
    const h = harness();
    await h.add(...due(2));
    await h.lease.acquire('subscription-renewal', 'crashed-run', 5 * MINUTE, T0 - 6 * MINUTE);
    expect((await h.pass()).renewed).toBe(2);
  });

  it('stops sending when the lease is lost, keeping what it did', async () => {
    const h = harness();
    await h.add(...due(60));
    h.graph.latencyMs = 2 * MINUTE;
    h.lease.renew = async () => undefined; // someone took it over
    const report = await h.pass({ concurrency: 1, leaseDurationMs: 3 * MINUTE, timeBudgetMs: 10 * MINUTE });
    expect(report.stoppedBy).toBe('leaseLost');
    expect(report.renewed).toBe(20);
    expect(report.deferred).toBe(40);
    // The renewed ones moved; the others are still due.
    const stillDue = h.schedule.all().filter((e) => e.dueAt <= T0);
    expect(stillDue).toHaveLength(40);
  });

  it('renews the lease when half of it has passed', async () => {
    const h = harness();
    await h.add(...due(60));
    h.graph.latencyMs = 2 * MINUTE;
    const report = await h.pass({ concurrency: 1, leaseDurationMs: 3 * MINUTE, timeBudgetMs: 10 * MINUTE });
    expect(report.stoppedBy).toBe('done');
    expect(report.renewed).toBe(60);
  });
});

describe('runRenewalPass: per-member outcomes', () => {
  it('honours a 429 member Retry-After for its tenant and retries it in a later batch, while other tenants go on', async () => {
    const h = harness();
    const a = due(25, 'tenant-a');
    const b = due(20, 'tenant-b');
    await h.add(...a, ...b);
    const throttled = a[2]!.subscriptionId;
    h.graph.answers.set(throttled, [{ status: 429, retryAfterMs: 7_000 }, { status: 200 }]);
    h.graph.latencyMs = 100;

    const report = await h.pass({ concurrency: 1 });

    expect(report).toMatchObject({ renewed: 45, throttled: 1, retried: 1, graphRequests: 3, deferred: 0 });
    const [first, second, third] = h.graph.calls;
    expect(first?.tenantId).toBe('tenant-a');
    // tenant-b is not held up by tenant-a's pause …
    expect(second?.tenantId).toBe('tenant-b');
    expect(second!.at).toBeLessThan(first!.at + 7_000);
    // … and tenant-a waits out its Retry-After, then sends the rest with the throttled member.
    expect(third?.tenantId).toBe('tenant-a');
    expect(third!.at).toBeGreaterThanOrEqual(first!.at + 100 + 7_000);
    expect(third!.items.map((i) => i.subscriptionId)).toContain(throttled);
    expect(h.schedule.find(throttled)).toMatchObject([{ attempts: 0 }]);
    expect(h.schedule.find(throttled)[0]!.dueAt).toBeGreaterThan(T0 + 4 * DAY);
  });

  it('keeps a throttled member for a later run when no later batch can carry it', async () => {
    const h = harness();
    const [only] = due(1);
    await h.add(only!);
    h.graph.answers.set(only!.subscriptionId, [{ status: 429, retryAfterMs: 90_000 }, { status: 200 }]);

    const first = await h.pass();
    expect(first).toMatchObject({ renewed: 0, throttled: 1, retried: 1, deferred: 1 });
    expect(h.schedule.find(only!.subscriptionId)).toMatchObject([
      { dueAt: T0 + 90_000, attempts: 1, lastError: 'throttled (429)', expiresAt: only!.expiresAt },
    ]);

    h.clock.t = T0 + 60_000; // before Retry-After: left alone
    expect((await h.pass()).graphRequests).toBe(0);
    h.clock.t = T0 + 90_000;
    expect((await h.pass()).renewed).toBe(1);
    expect(h.schedule.find(only!.subscriptionId)).toMatchObject([{ attempts: 0 }]);
  });

  it('hands a 404 to onGone and removes the entry', async () => {
    const h = harness();
    const [gone, kept] = due(2);
    await h.add(gone!, kept!);
    h.graph.answers.set(gone!.subscriptionId, [{ status: 404, errorCode: 'ResourceNotFound' }]);
    const report = await h.pass();
    expect(report).toMatchObject({ renewed: 1, gone: 1 });
    expect(h.gone.map((e) => e.subscriptionId)).toEqual([gone!.subscriptionId]);
    expect(h.schedule.find(gone!.subscriptionId)).toEqual([]);
    expect(h.schedule.find(kept!.subscriptionId)).toHaveLength(1);
  });

  it('keeps the entry when onGone fails, for a retry', async () => {
    const h = harness();
    const [gone] = due(1);
    await h.add(gone!);
    h.graph.answers.set(gone!.subscriptionId, [{ status: 404 }]);
    const report = await h.pass(
      {},
      {
        onGone: async () => {
          throw new Error('recreate failed');
        },
      },
    );
    expect(report.gone).toBe(1);
    expect(h.schedule.find(gone!.subscriptionId)).toMatchObject([
      { attempts: 1, dueAt: T0 + 10_000, lastError: 'gone; recreation failed' },
    ]);
    expect(h.warnings.some((w) => w.includes('onGone failed'))).toBe(true);
  });

  it('renews an already expired subscription rather than recreating it, and recreates on 404', async () => {
    const h = harness();
    const expired = entry({ subscriptionId: 'expired-ok', expiresAt: T0 - 10 * MINUTE });
    const expiredGone = entry({ subscriptionId: 'expired-gone', expiresAt: T0 - 10 * MINUTE });
    await h.add(expired, expiredGone);
    h.graph.answers.set('expired-gone', [{ status: 404 }]);
    const report = await h.pass();
    expect(report).toMatchObject({ renewed: 1, gone: 1 });
    expect(h.gone.map((e) => e.subscriptionId)).toEqual(['expired-gone']);
    expect(h.schedule.find('expired-ok')[0]!.expiresAt).toBeGreaterThan(T0 + 5 * DAY);
  });

  it('hands a 403 to onForbidden with an actionable reason and looks again an hour later', async () => {
    const h = harness();
    const [forbidden] = due(1);
    await h.add(forbidden!);
    h.graph.answers.set(forbidden!.subscriptionId, [{ status: 403, errorCode: 'ExtensionError' }]);
    const report = await h.pass();
    expect(report).toMatchObject({ forbidden: 1, renewed: 0, gone: 0 });
    expect(h.forbidden).toHaveLength(1);
    const { reason } = h.forbidden[0]!;
    expect(reason).toMatch(/403 ExtensionError/);
    expect(reason).toMatch(/consent/);
    expect(reason).toMatch(/tenant-a/);
    expect(h.schedule.find(forbidden!.subscriptionId)).toMatchObject([
      { dueAt: T0 + HOUR, attempts: 1, lastError: reason, expiresAt: forbidden!.expiresAt },
    ]);
  });

  it('retries a 5xx with exponential backoff and never loses the entry', async () => {
    const h = harness();
    const [flaky] = due(1);
    await h.add(flaky!);
    const id = flaky!.subscriptionId;
    h.graph.answers.set(id, [{ status: 503 }, { status: 500 }, { status: 502 }, { status: 200 }]);

    const dueTimes: number[] = [];
    for (let run = 0; run < 3; run++) {
      const report = await h.pass();
      expect(report).toMatchObject({ transient: 1, retried: 1, renewed: 0 });
      const rows = h.schedule.find(id);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ attempts: run + 1, expiresAt: flaky!.expiresAt });
      dueTimes.push(rows[0]!.dueAt - h.clock.t);
      h.clock.t = rows[0]!.dueAt;
    }
    expect(dueTimes).toEqual([10_000, 20_000, 40_000]);
    expect((await h.pass()).renewed).toBe(1);
    expect(h.schedule.find(id)).toMatchObject([{ attempts: 0 }]);
    expect(h.schedule.find(id)[0]!.expiresAt).toBeGreaterThan(T0 + 5 * DAY);
  });

  it('keeps every entry when a whole $batch request fails', async () => {
    const h = harness();
    await h.add(...due(20));
    h.graph.failRequestWith = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const report = await h.pass();
    // Retried as a whole batch after 10 s and 20 s, then left for a later run.
    expect(report).toMatchObject({ transient: 60, retried: 60, renewed: 0, graphRequests: 3 });
    expect(h.graph.calls.map((c) => c.at - T0)).toEqual([0, 10_000, 30_000]);
    expect(h.schedule.size).toBe(20);
    expect(
      h.schedule.all().every((e) => e.attempts === 3 && e.lastError === 'request failed: ECONNRESET'),
    ).toBe(true);
    expect(h.schedule.all().every((e) => e.dueAt === T0 + 30_000 + 40_000)).toBe(true);
  });

  it('treats a missing member answer as transient', async () => {
    const h = harness();
    const [a] = due(1);
    await h.add(a!);
    h.graph.renewBatch = async () => [];
    const report = await h.pass();
    expect(report).toMatchObject({ transient: 1, renewed: 0 });
    expect(h.schedule.find(a!.subscriptionId)).toHaveLength(1);
  });

  it('hands a failing renewal of a long-expired subscription to onGone so it cannot circulate forever', async () => {
    const h = harness();
    const dead = entry({ subscriptionId: 'dead', expiresAt: T0 - 2 * HOUR });
    await h.add(dead);
    h.graph.answers.set('dead', [{ status: 503 }]);
    const report = await h.pass();
    expect(report.gone).toBe(1);
    expect(h.gone.map((e) => e.subscriptionId)).toEqual(['dead']);
    expect(h.schedule.size).toBe(0);
  });

  it('reschedules another 4xx with the longest backoff', async () => {
    const h = harness();
    const [bad] = due(1);
    await h.add(bad!);
    h.graph.answers.set(bad!.subscriptionId, [{ status: 400, errorCode: 'InvalidRequest' }]);
    const report = await h.pass();
    expect(report.failed).toBe(1);
    expect(h.schedule.find(bad!.subscriptionId)).toMatchObject([
      { dueAt: T0 + 30 * MINUTE, attempts: 1, lastError: 'renewal failed (HTTP 400 InvalidRequest)' },
    ]);
  });
});

describe('runRenewalPass: never losing an entry', () => {
  it('keeps the old entry due when writing the new one fails', async () => {
    const h = harness();
    const [a] = due(1);
    await h.add(a!);
    h.schedule.beforeWrite = (op) => {
      if (op === 'upsert') throw new Error('storage down');
    };
    const report = await h.pass();
    expect(report).toMatchObject({ renewed: 1, storeErrors: 1 });
    expect(h.schedule.find(a!.subscriptionId)).toMatchObject([{ dueAt: a!.dueAt }]);
    // The cursor does not move past it.
    expect((await h.schedule.getCursor())?.bucket).toBe(renewalBucketOf(a!.dueAt));
  });

  it('converges when a move was interrupted between writing the new row and deleting the old one', async () => {
    const h = harness();
    const [a] = due(1);
    await h.add(a!);
    h.schedule.beforeWrite = (op) => {
      if (op === 'remove') throw new Error('process killed');
    };
    await h.pass();
    expect(h.schedule.find(a!.subscriptionId)).toHaveLength(2);

    h.schedule.beforeWrite = undefined;
    h.clock.advance(5 * MINUTE);
    await h.pass();
    // The rerun asked for the same expiry, so it overwrote the same row and removed the old one.
    const rows = h.schedule.find(a!.subscriptionId);
    expect(rows).toHaveLength(1);
    const [firstAsk, secondAsk] = h.graph.calls.map((c) => c.items[0]?.expirationDateTime);
    expect(secondAsk).toBe(firstAsk);
  });

  it('renews two rows of one subscription once and removes both', async () => {
    const h = harness();
    const a = entry({ subscriptionId: 'dup', expiresAt: T0 + WINDOW - HOUR });
    await h.add(a, { ...a, dueAt: a.dueAt - 10 * MINUTE });
    expect(h.schedule.find('dup')).toHaveLength(2);
    const report = await h.pass();
    expect(report.renewed).toBe(1);
    expect(h.graph.members).toBe(1);
    expect(h.schedule.find('dup')).toHaveLength(1);
    expect(h.schedule.find('dup')[0]!.dueAt).toBeGreaterThan(T0 + 4 * DAY);
  });
});

describe('runRenewalPass: bounded work', () => {
  it('renews at most maxRenewalsPerRun, soonest expiry first, and leaves the rest due for the next run', async () => {
    const h = harness();
    const all = [...due(50, 'tenant-a'), ...due(50, 'tenant-b')];
    await h.add(...all);
    const first = await h.pass({ maxRenewalsPerRun: 30 });
    expect(first).toMatchObject({ renewed: 30, deferred: 70, stoppedBy: 'done' });
    const stillDue = h.schedule.all().filter((e) => e.dueAt <= T0);
    expect(stillDue).toHaveLength(70);
    const renewedIds = new Set(h.graph.calls.flatMap((c) => c.items.map((i) => i.subscriptionId)));
    const latestRenewed = Math.max(
      ...all.filter((e) => renewedIds.has(e.subscriptionId)).map((e) => e.expiresAt),
    );
    expect(Math.min(...stillDue.map((e) => e.expiresAt))).toBeGreaterThanOrEqual(latestRenewed);

    h.clock.advance(5 * MINUTE);
    expect((await h.pass({ maxRenewalsPerRun: 30 })).renewed).toBe(30);
    h.clock.advance(5 * MINUTE);
    expect((await h.pass({ maxRenewalsPerRun: 30 })).renewed).toBe(30);
    h.clock.advance(5 * MINUTE);
    expect((await h.pass({ maxRenewalsPerRun: 30 })).renewed).toBe(10);
    expect(h.schedule.all().filter((e) => e.dueAt <= h.clock.t)).toHaveLength(0);
  });

  it('reads at most maxEntriesReadPerRun and never takes a partly read bucket for emptied', async () => {
    const h = harness();
    const all = Array.from({ length: 100 }, (_, i) =>
      entry({ subscriptionId: `same-bucket-${i}`, expiresAt: T0 + WINDOW - HOUR }),
    );
    await h.add(...all);
    const bucket = renewalBucketOf(all[0]!.dueAt);
    for (let run = 1; run <= 4; run++) {
      const report = await h.pass({ maxEntriesReadPerRun: 30 });
      expect(report.entriesRead).toBe(run < 4 ? 30 : 10);
      expect(report.renewed).toBe(run < 4 ? 30 : 10);
      expect((await h.schedule.getCursor())!.bucket <= bucket).toBe(run < 4);
      h.clock.advance(5 * MINUTE);
    }
    expect(h.schedule.all().filter((e) => e.dueAt <= h.clock.t)).toHaveLength(0);
    expect(new Set(h.graph.calls.flatMap((c) => c.items.map((i) => i.subscriptionId))).size).toBe(100);
  });

  it('stops sending at the time budget and leaves the rest due', async () => {
    const h = harness();
    await h.add(...due(100));
    h.graph.latencyMs = 50_000;
    const report = await h.pass({ concurrency: 1, timeBudgetMs: 2 * MINUTE });
    expect(report.stoppedBy).toBe('timeBudget');
    expect(report.graphRequests).toBe(3); // sent at 0, 50 s, 100 s; none at 150 s
    expect(report.renewed).toBe(60);
    expect(report.deferred).toBe(40);
    expect(h.schedule.all().filter((e) => e.dueAt <= T0)).toHaveLength(40);
  });

  it('stays within the tenant write budget in every window, waiting for tokens', async () => {
    const h = harness();
    await h.add(...due(300));
    const budget = { writes: 100, windowMs: 20_000, burst: 20 };
    const report = await h.pass({ budget, concurrency: 4 }, { budgets: new TenantBudgets(budget) });
    expect(report.renewed).toBe(300);
    const sends = h.graph.calls.flatMap((c) => c.items.map(() => c.at)).sort((x, y) => x - y);
    let peak = 0;
    for (let i = 0, j = 0; i < sends.length; i++) {
      while (sends[j]! <= sends[i]! - budget.windowMs) j++;
      peak = Math.max(peak, i - j + 1);
    }
    expect(peak).toBeLessThanOrEqual(100);
    // 300 writes at 80 per 20 s after a burst of 20: about 70 s.
    expect(report.durationMs).toBeGreaterThan(60_000);
    expect(report.durationMs).toBeLessThan(80_000);
  });

  it('defers a tenant whose pause outlasts the time budget, without sleeping through it', async () => {
    const h = harness();
    const budgets = new TenantBudgets();
    budgets.pause('tenant-a', T0 + 10 * MINUTE);
    await h.add(...due(20, 'tenant-a'), ...due(20, 'tenant-b'));
    const report = await h.pass({}, { budgets });
    expect(report).toMatchObject({ renewed: 20, deferred: 20, stoppedBy: 'timeBudget' });
    expect(report.durationMs).toBe(0);
  });
});
