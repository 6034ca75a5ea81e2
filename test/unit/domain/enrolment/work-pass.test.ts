import { describe, expect, it } from 'vitest';
import { SimulatedCrashError } from '../../../../shared/domain/enrolment/in-memory.js';
import { retryDelayMs } from '../../../../shared/domain/enrolment/states.js';
import { runMailboxWork } from '../../../../shared/domain/enrolment/work-pass.js';
import { workKeyFor } from '../../../../shared/store/work-queue-store.js';
import { MINUTE, NOTIFICATION_URL, T0, TIMER_MS, address, countByState, world } from './helpers.js';

describe('runMailboxWork: the EWS migration', () => {
  it('moves 1,000 EWS mailboxes in exactly 20 runs of 50, oldest first, one subscription each', async () => {
    const w = world();
    // Enrolled one second apart, newest first in address order: the queue must order by time.
    for (let i = 0; i < 1_000; i++) await w.enrol(address(999 - i), 'ews', T0 - 10_000_000 + i * 1_000);

    const perRun: number[] = [];
    const order: string[] = [];
    for (let run = 0; run < 25 && (await w.work.count('migrate')) > 0; run++) {
      const before = new Set(
        w.mailboxes
          .all()
          .filter((m) => m.state === 'active')
          .map((m) => m.email),
      );
      const report = await w.run();
      expect(report).toMatchObject({ leaseHeld: true, created: 0, finalFailures: 0, throttled: 0, stale: 0 });
      perRun.push(report.migrated);
      const moved = w.mailboxes.all().filter((m) => m.state === 'active' && !before.has(m.email));
      order.push(...moved.map((m) => m.email).sort((a, b) => (a < b ? 1 : -1)));
      w.nextTick();
    }

    expect(perRun).toEqual(Array.from({ length: 20 }, () => 50));
    expect(countByState(w)).toEqual({ active: 1_000 });
    // Oldest enrolment first: run k moved exactly the k-th 50 enrolled.
    expect(order).toEqual(Array.from({ length: 1_000 }, (_, i) => address(999 - i)));
    for (const m of w.mailboxes.all()) {
      expect(m).toMatchObject({ transport: 'graph', state: 'active' });
      expect(m.workKey).toBeUndefined();
      expect(m.attemptStartedAt).toBeUndefined();
      expect(m.migratedAt).toBeDefined();
      expect(w.directory.subscriptionsOf(m.email)).toEqual([m.subscriptionId]);
    }
    expect(w.directory.duplicates()).toEqual([]);
    expect(w.directory.liveCount).toBe(1_000);
    expect(await w.work.count('migrate')).toBe(0);
  });

  it('migrates nothing while the switch is off, but still creates pending subscriptions', async () => {
    const w = world();
    for (let i = 0; i < 10; i++) await w.enrol(address(i), 'ews', T0 - 60_000 + i);
    for (let i = 10; i < 15; i++) await w.enrol(address(i), 'graph', T0 - 60_000 + i);

    const report = await w.run({ migrationEnabled: false });

    expect(report).toMatchObject({ created: 5, migrated: 0 });
    expect(countByState(w)).toEqual({ ews: 10, active: 5 });
    expect(await w.work.count('migrate')).toBe(10);
    expect(w.directory.calls.create).toBe(5);
  });
});

describe('runMailboxWork: pending creations', () => {
  it('drains pending mailboxes within the write budget, never more than the budget in any window', async () => {
    const w = world({ writes: 100, windowMs: 20_000, burst: 20 });
    const writes: number[] = [];
    const create = w.subscriptions.create;
    const deps = {
      now: w.clock.now,
      sleep: w.clock.sleep,
      mailboxes: w.mailboxes,
      work: w.work,
      directory: w.directory,
      createSubscription: async (m: Parameters<typeof create>[0]) => {
        writes.push(w.clock.now());
        return create(m);
      },
      budgets: w.budgets,
      lease: w.lease,
      notificationUrl: NOTIFICATION_URL,
      workKeyFor,
    };
    for (let i = 0; i < 500; i++) await w.enrol(address(i), 'graph', T0 - 1_000 + i);

    const report = await runMailboxWork(deps, {
      migrationEnabled: true,
      migrationBatchSize: 50,
      maxAttempts: 5,
      maxCreationsPerRun: 5_000,
      owner: 'run',
      deadline: T0 + 4 * MINUTE,
    });

    // Burst of 20, then 80 per 20 s: 20 + 4 × 240 s ≥ 500, so all of them within the run.
    expect(report.created).toBe(500);
    expect(countByState(w)).toEqual({ active: 500 });
    for (let i = 0; i < writes.length; i++) {
      const inWindow = writes.filter((t) => t > writes[i]! - 20_000 && t <= writes[i]!).length;
      expect(inWindow).toBeLessThanOrEqual(100);
    }
    // The budget's rate: (500 − 20) / 4 per second.
    expect(w.clock.now() - T0).toBeGreaterThanOrEqual(((500 - 20) / 4) * 1_000 - 1_000);
    expect(w.clock.now() - T0).toBeLessThanOrEqual(((500 - 20) / 4) * 1_000 + 1_000);
  });

  it('stops starting work at the deadline and leaves the rest queued for the next run', async () => {
    const w = world({ writes: 100, windowMs: 20_000, burst: 20 });
    for (let i = 0; i < 2_000; i++) await w.enrol(address(i), 'graph', T0 - 10_000 + i);
    const first = await w.run();
    expect(first.created).toBeGreaterThan(900);
    expect(first.created).toBeLessThan(1_000);
    expect(first.stoppedBy).toBe('time');
    expect(await w.work.count('create')).toBe(2_000 - first.created);
    let runs = 1;
    while ((await w.work.count('create')) > 0 && runs < 10) {
      w.nextTick();
      await w.run();
      runs++;
    }
    expect(countByState(w)).toEqual({ active: 2_000 });
    expect(w.directory.duplicates()).toEqual([]);
  });
});

describe('runMailboxWork: failures', () => {
  it('an unknown user is retried with backoff, then failed with user_not_found after max attempts', async () => {
    const w = world();
    await w.enrol('ghost@contoso.example', 'ews', T0 - 1_000);
    w.directory.setUser('ghost@contoso.example', 'unknown');

    const dueTimes: number[] = [];
    for (let attempt = 1; attempt <= 5; attempt++) {
      const report = await w.run();
      expect(report.failures).toEqual({ user_not_found: 1 });
      const m = w.mailbox('ghost@contoso.example');
      expect(m.attempts).toBe(attempt);
      expect(m.failure).toBe('user_not_found');
      expect(m.attemptStartedAt).toBeUndefined();
      if (attempt < 5) {
        expect(m.state).toBe('ews');
        const [item] = w.work.items('migrate');
        expect(item?.dueAt).toBe(w.clock.now() + retryDelayMs(attempt));
        expect(m.workKey).toBe(item?.key);
        dueTimes.push(item!.dueAt);
        // Not due before its backoff: a run just before does nothing.
        w.clock.t = item!.dueAt - 1;
        expect((await w.run()).failures).toEqual({});
        w.clock.t = item!.dueAt;
      } else {
        expect(report.finalFailures).toBe(1);
        expect(m.state).toBe('failed');
        expect(m.workKey).toBeUndefined();
        expect(await w.work.count('migrate')).toBe(0);
      }
    }
    expect(dueTimes.length).toBe(4);
    expect(w.directory.calls.create).toBe(0);
  });

  it('a 403 access policy counts attempts and backs off; fixing the policy lets the next attempt through', async () => {
    const w = world();
    await w.enrol('policy@contoso.example', 'graph', T0 - 1_000);
    w.directory.setUser('policy@contoso.example', 'access_policy');

    await w.run();
    let m = w.mailbox('policy@contoso.example');
    expect(m).toMatchObject({ state: 'pending', failure: 'access_policy', attempts: 1 });
    expect(w.work.items('create')[0]?.dueAt).toBe(T0 + retryDelayMs(1));
    w.clock.t = T0 + retryDelayMs(1);
    await w.run();
    m = w.mailbox('policy@contoso.example');
    expect(m).toMatchObject({ failure: 'access_policy', attempts: 2 });
    const due = w.work.items('create')[0]!.dueAt;
    expect(due - w.clock.now()).toBe(retryDelayMs(2));
    expect(retryDelayMs(2)).toBe(2 * retryDelayMs(1));

    w.directory.setUser('policy@contoso.example', 'ok');
    w.clock.t = due;
    const report = await w.run();
    expect(report.created).toBe(1);
    m = w.mailbox('policy@contoso.example');
    expect(m.state).toBe('active');
    expect(m.failure).toBeUndefined();
    expect(m.attempts).toBeUndefined();
    expect(w.directory.subscriptionsOf(m.email)).toHaveLength(1);
  });

  it('a 403 without consent is consent_missing, counted', async () => {
    const w = world();
    await w.enrol('consent@contoso.example', 'ews', T0 - 1_000);
    w.directory.setUser('consent@contoso.example', 'consent_missing');
    const report = await w.run();
    expect(report.failures).toEqual({ consent_missing: 1 });
    expect(w.mailbox('consent@contoso.example')).toMatchObject({
      state: 'ews',
      failure: 'consent_missing',
      attempts: 1,
    });
  });

  it('an on-premises mailbox is on_premises at once (final), a cloud user without a mailbox is retried', async () => {
    const w = world();
    await w.enrol('onprem@contoso.example', 'ews', T0 - 2_000);
    await w.enrol('nobox@contoso.example', 'ews', T0 - 1_000);
    w.directory.setUser('onprem@contoso.example', 'on_premises');
    w.directory.setUser('nobox@contoso.example', 'no_mailbox');

    const report = await w.run();

    expect(report.finalFailures).toBe(1);
    expect(report.failures).toEqual({ on_premises: 1, no_mailbox: 1 });
    expect(w.mailbox('onprem@contoso.example')).toMatchObject({
      state: 'on_premises',
      failure: 'on_premises',
      attempts: 1,
    });
    expect(w.mailbox('onprem@contoso.example').workKey).toBeUndefined();
    expect(w.mailbox('nobox@contoso.example')).toMatchObject({
      state: 'ews',
      failure: 'no_mailbox',
      attempts: 1,
    });
    expect(w.work.items('migrate').map((i) => i.email)).toEqual(['nobox@contoso.example']);
  });

  it('a 429 with Retry-After is not an attempt: the tenant pauses, the mailbox is retried after it', async () => {
    const w = world();
    await w.enrol('busy@contoso.example', 'graph', T0 - 1_000);
    w.directory.setUser('busy@contoso.example', 'ok', { times: 2, retryAfterMs: 30_000 });

    const first = await w.run();
    expect(first).toMatchObject({ throttled: 1, created: 0, failures: {} });
    let m = w.mailbox('busy@contoso.example');
    expect(m.attempts).toBeUndefined();
    expect(m.state).toBe('pending');
    expect(w.work.items('create')[0]?.dueAt).toBe(T0 + 30_000);
    expect(w.budgets.pausedUntil('tenant-a')).toBe(T0 + 30_000);

    w.nextTick();
    expect((await w.run()).throttled).toBe(1);
    w.nextTick();
    expect((await w.run()).created).toBe(1);
    m = w.mailbox('busy@contoso.example');
    expect(m.state).toBe('active');
    expect(m.attempts).toBeUndefined();
    expect(w.directory.createdFor(m.email)).toBe(1);
    expect(w.directory.duplicates()).toEqual([]);
  });

  it('a handshake failure is counted as handshake_failed', async () => {
    const w = world();
    await w.enrol('hs@contoso.example', 'graph', T0 - 1_000);
    w.directory.setUser('hs@contoso.example', 'handshake_failed');
    expect((await w.run()).failures).toEqual({ handshake_failed: 1 });
    expect(w.directory.liveCount).toBe(0);
  });
});

describe('runMailboxWork: overlapping runs and crashes', () => {
  it('two runs at once sharing the lease: one works, the other finds the lease held; each mailbox moves once', async () => {
    const w = world();
    for (let i = 0; i < 120; i++) await w.enrol(address(i), 'ews', T0 - 10_000 + i);
    for (let i = 120; i < 140; i++) await w.enrol(address(i), 'graph', T0 - 10_000 + i);

    const [a, b] = await Promise.all([w.run(), w.run()]);

    expect([a.leaseHeld, b.leaseHeld].sort()).toEqual([false, true]);
    expect(a.migrated + b.migrated).toBe(50);
    expect(a.created + b.created).toBe(20);
    expect(w.directory.duplicates()).toEqual([]);
    expect(w.directory.calls.create).toBe(70);
  });

  it('two runs at once without a common lease (one run outlived its lease): ETag claims still move each mailbox once', async () => {
    const w = world();
    for (let i = 0; i < 100; i++) await w.enrol(address(i), 'ews', T0 - 10_000 + i);

    const [a, b] = await Promise.all([w.run({ leaseName: 'lease-a' }), w.run({ leaseName: 'lease-b' })]);

    expect(a.leaseHeld && b.leaseHeld).toBe(true);
    expect(a.migrated + b.migrated).toBe(50);
    expect(a.busy + b.busy + a.stale + b.stale).toBe(50);
    expect(w.directory.calls.create).toBe(50);
    expect(w.directory.duplicates()).toEqual([]);
    for (let i = 0; i < 50; i++) expect(w.directory.subscriptionsOf(address(i))).toHaveLength(1);
  });

  it('a run that finds a mailbox claimed moments ago by a live run leaves it alone (no second subscription)', async () => {
    // Run B starts while run A is between its claim and its Graph call (A outlived its lease).
    let b: Promise<unknown> | undefined;
    let calls = 0;
    const w = world(undefined, (clock) => ({
      ms: 1_000,
      sleep: async (ms) => {
        await clock.sleep(ms);
        // A's second Graph call (checkInbox of the first mailbox): A has claimed it.
        if (++calls === 2) b = w.run({ leaseName: 'lease-b', migrationBatchSize: 1, concurrency: 1 });
        if (b && calls === 2) await b;
      },
    }));
    await w.enrol(address(0), 'ews', T0 - 1_000);

    const a = await w.run({ leaseName: 'lease-a', concurrency: 1 });
    const other = (await b) as Awaited<ReturnType<typeof w.run>>;

    expect(a.migrated).toBe(1);
    expect(other).toMatchObject({ migrated: 0, busy: 1, orphansDeleted: 0 });
    expect(w.directory.createdFor(address(0))).toBe(1);
    expect(w.directory.subscriptionsOf(address(0))).toEqual([w.mailbox(address(0)).subscriptionId]);
  });

  it('a run killed after Graph created a subscription, re-run: the orphan is found and deleted, one subscription per mailbox', async () => {
    const w = world();
    for (let i = 0; i < 60; i++) await w.enrol(address(i), 'ews', T0 - 10_000 + i);
    w.subscriptions.crashAfterCreate.add(address(20));

    await expect(w.run()).rejects.toBeInstanceOf(SimulatedCrashError);
    const killedAt = w.clock.now();
    const crashed = w.mailbox(address(20));
    expect(crashed.state).toBe('migrating');
    expect(crashed.attemptStartedAt).toBeDefined();
    expect(crashed.subscriptionId).toBeUndefined();
    expect(w.directory.subscriptionsOf(address(20))).toHaveLength(1);
    const migratedBeforeKill = countByState(w).active ?? 0;
    expect(migratedBeforeKill).toBeGreaterThan(0);
    expect(migratedBeforeKill).toBeLessThan(50);
    // Lanes in flight at the kill may also have had Graph create a subscription we never recorded.
    const orphaned = w.mailboxes
      .all()
      .filter((m) => !m.subscriptionId && w.directory.subscriptionsOf(m.email).length > 0)
      .map((m) => m.email);
    expect(orphaned).toContain(address(20));

    // A new process; the dead run's lease is still held until it expires.
    w.process.restart();
    w.nextTick();
    expect((await w.run()).leaseHeld).toBe(false);
    w.clock.t = killedAt + 6 * MINUTE;
    w.nextTick();
    let total = migratedBeforeKill;
    for (let run = 0; run < 5 && (await w.work.count('migrate')) > 0; run++) {
      const report = await w.run();
      total += report.migrated;
      if (run === 0) expect(report.orphansDeleted).toBe(orphaned.length);
      w.nextTick();
    }

    expect(countByState(w)).toEqual({ active: 60 });
    expect(total).toBe(60);
    expect(w.directory.duplicates()).toEqual([]);
    for (let i = 0; i < 60; i++) {
      const m = w.mailbox(address(i));
      expect(w.directory.subscriptionsOf(m.email)).toEqual([m.subscriptionId]);
    }
    for (const email of orphaned) expect(w.directory.createdFor(email)).toBe(2);
    expect(
      w.directory.log
        .filter((e) => e.action === 'deleted')
        .map((e) => e.email)
        .sort(),
    ).toEqual(orphaned.sort());
    expect(w.directory.liveCount).toBe(60);
  });
});

describe('runMailboxWork: stale work items', () => {
  it('drops items whose mailbox was removed, re-keyed or has moved on', async () => {
    const w = world();
    await w.enrol(address(1), 'graph', T0 - 3_000);
    await w.enrol(address(2), 'graph', T0 - 2_000);
    await w.enrol(address(3), 'ews', T0 - 1_000);
    await w.enrol(address(4), 'graph', T0 - 500);
    // 1: unenrolled. 2: re-queued under a new key (the old row was left behind). 3: already active.
    await w.mailboxes.deleteMailbox(address(1));
    const two = w.mailbox(address(2));
    const newKey = workKeyFor(T0 - 100, address(2));
    await w.work.put([{ kind: 'create', key: newKey, email: address(2), dueAt: T0 - 100 }]);
    await w.mailboxes.updateMailbox({ ...two, workKey: newKey });
    const three = w.mailbox(address(3));
    await w.mailboxes.updateMailbox({ ...three, state: 'active', transport: 'graph', subscriptionId: 'x' });

    const report = await w.run();

    expect(report.stale).toBe(3);
    expect(report.created).toBe(2);
    expect(report.migrated).toBe(0);
    expect(w.work.items('create')).toEqual([]);
    expect(w.work.items('migrate')).toEqual([]);
    expect(w.directory.createdFor(address(2))).toBe(1);
    expect(w.directory.createdFor(address(3))).toBe(0);
  });

  it('does nothing without the lease', async () => {
    const w = world();
    await w.enrol(address(1), 'graph', T0 - 1_000);
    await w.leases.acquire('mailbox-work', 'someone-else', 10 * MINUTE, T0);
    const report = await w.run();
    expect(report).toMatchObject({ leaseHeld: false, stoppedBy: 'leaseNotHeld', created: 0 });
    expect(w.mailbox(address(1)).state).toBe('pending');
    void TIMER_MS;
  });
});
