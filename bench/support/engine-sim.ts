/**
 * The production renewal engine (planning, batching, budgets, lease, schedule with buckets and
 * cursor) on in-memory ports, against the simulated Graph, in virtual time.
 */
import { performance } from 'node:perf_hooks';
import type { RenewalOutcome, RenewalRequest, SubscriptionRenewalPort } from '../../shared/domain/ports.js';
import { InMemoryLeaseStore, InMemoryRenewalSchedule } from '../../shared/domain/renewal/in-memory.js';
import { resolveRenewalOptions, type RenewalOptions } from '../../shared/domain/renewal/options.js';
import { runRenewalPass, scheduleEntryFor } from '../../shared/domain/renewal/pass.js';
import { TenantBudgets } from '../../shared/domain/renewal/token-bucket.js';
import { GraphSim } from './graph-sim.js';
import { EngineMailboxWork, type MailboxWorkload, type MailboxWorkResult } from './mailbox-sim.js';
import { seededRandom } from './random.js';
import {
  subscriptionIndex,
  subscriptionName,
  tenantIndex,
  tenantName,
  type Population,
  type Scenario,
} from './scenario.js';
import { VirtualClock } from './virtual-clock.js';

export interface ContenderResult {
  name: string;
  expired: number;
  peakWritesPerWindow: number;
  peakTenant: string;
  httpRequests: number;
  renewals: number;
  requestsPerRenewal: number;
  throttledByLimit: number;
  injected429: number;
  injected503: number;
  recreated: number;
  wallSeconds: number;
  /** Most subscriptions due in one 5-minute bucket: at the start, and at the end of the run. */
  peakDuePerBucketStart: number;
  peakDuePerBucketEnd: number;
  extra: Record<string, number | string>;
  /** The import and migration riding on the same timer and budget, when the scenario has them. */
  mailboxWork?: MailboxWorkResult;
}

export async function simulateEngine(
  scenario: Scenario,
  population: Population,
  overrides: Partial<RenewalOptions> = {},
  workload?: MailboxWorkload,
): Promise<ContenderResult> {
  const started = performance.now();
  const options = resolveRenewalOptions({
    maxLifetimeMs: scenario.maxLifetimeMs,
    expirySafetyMs: scenario.expirySafetyMs,
    windowMs: scenario.windowMs,
    owner: 'bench',
    ...overrides,
  });
  const clock = new VirtualClock(scenario.start);
  const random = seededRandom(scenario.seed + 1);
  const sim = new GraphSim({
    tenants: scenario.tenants,
    writesPerWindow: scenario.graphWritesPerWindow,
    windowMs: scenario.graphWindowMs,
    maxLifetimeMs: scenario.maxLifetimeMs,
    failureRate: scenario.failureRate,
    injectedRetryAfterMs: [1_000, 10_000],
    random,
  });
  const schedule = new InMemoryRenewalSchedule();
  const lease = new InMemoryLeaseStore();
  // One per process, shared by consecutive runs, as the timer function is told to do.
  const budgets = new TenantBudgets(options.budget);

  for (let i = 0; i < population.tenant.length; i++) {
    const tenant = population.tenant[i]!;
    const createdAt = population.createdAt[i]!;
    const expiresAt = createdAt + scenario.maxLifetimeMs - scenario.expirySafetyMs;
    const id = sim.seed(tenant, expiresAt);
    await schedule.upsertEntry(
      scheduleEntryFor(
        { subscriptionId: subscriptionName(id), tenantId: tenantName(tenant), expiresAt },
        createdAt,
        options.windowMs,
      ),
    );
  }
  const peakDuePerBucketStart = peakPerBucket(schedule);

  const graph: SubscriptionRenewalPort = {
    async renewBatch(_tenantId: string, items: readonly RenewalRequest[]): Promise<RenewalOutcome[]> {
      sim.httpRequests++;
      const now = clock.now();
      const outcomes = items.map((item): RenewalOutcome => {
        const answer = sim.renew(
          subscriptionIndex(item.subscriptionId),
          now,
          Date.parse(item.expirationDateTime),
        );
        switch (answer.status) {
          case 200:
            return {
              subscriptionId: item.subscriptionId,
              status: 200,
              expirationDateTime: new Date(answer.expiresAt).toISOString(),
            };
          case 429:
            return { subscriptionId: item.subscriptionId, status: 429, retryAfterMs: answer.retryAfterMs };
          default:
            return { subscriptionId: item.subscriptionId, status: answer.status };
        }
      });
      await clock.sleep(scenario.graphLatencyMs);
      return outcomes;
    },
  };

  // After each renewal pass: pending creations and the EWS migration, same budgets and Graph limit.
  const mailboxWork = workload
    ? new EngineMailboxWork(workload, population, {
        clock,
        budgets,
        lease,
        graphLatencyMs: scenario.graphLatencyMs,
        tryWrite: (tenant, now) => sim.tryWrite(tenant, now),
        onCreated: async (tenant, now) => {
          const expiresAt = now + scenario.maxLifetimeMs - scenario.expirySafetyMs;
          const id = sim.seed(tenant, expiresAt);
          await schedule.upsertEntry(
            scheduleEntryFor(
              { subscriptionId: subscriptionName(id), tenantId: tenantName(tenant), expiresAt },
              now,
              options.windowMs,
            ),
          );
        },
      })
    : undefined;

  let recreated = 0;
  const totals = {
    runs: 0,
    runsOutOfTime: 0,
    maxRunSeconds: 0,
    maxRenewalsPerRun: 0,
    maxBucketsRead: 0,
    maxEntriesRead: 0,
    storeErrors: 0,
    deferredAtEnd: 0,
    warnings: 0,
  };
  const end = scenario.start + scenario.days * 24 * 3_600_000;
  for (let tick = scenario.start; tick < end; tick += scenario.timerMs) {
    clock.advanceTo(tick);
    const report = await clock.run(() =>
      runRenewalPass({
        now: clock.now,
        sleep: clock.sleep,
        schedule,
        graph,
        lease,
        budgets,
        options,
        // Stands in for the subscription lifecycle code: recreate, then schedule the new one.
        onGone: async (entry) => {
          const now = clock.now();
          const tenant = tenantIndex(entry.tenantId);
          const expiresAt = now + scenario.maxLifetimeMs - scenario.expirySafetyMs;
          const id = sim.create(tenant, now, expiresAt);
          recreated++;
          await schedule.upsertEntry(
            scheduleEntryFor(
              { subscriptionId: subscriptionName(id), tenantId: entry.tenantId, expiresAt },
              now,
              options.windowMs,
            ),
          );
        },
        onForbidden: async () => {},
        onWarning: () => {
          totals.warnings++;
        },
      }),
    );
    if (!report.leaseHeld) throw new Error('bench: a run did not get the lease');
    totals.runs++;
    if (report.stoppedBy === 'timeBudget') totals.runsOutOfTime++;
    totals.maxRunSeconds = Math.max(totals.maxRunSeconds, report.durationMs / 1000);
    totals.maxRenewalsPerRun = Math.max(totals.maxRenewalsPerRun, report.renewed);
    totals.maxBucketsRead = Math.max(totals.maxBucketsRead, report.bucketsRead);
    totals.maxEntriesRead = Math.max(totals.maxEntriesRead, report.entriesRead);
    totals.storeErrors += report.storeErrors;
    totals.deferredAtEnd = report.deferred;
    if (mailboxWork) await clock.run(() => mailboxWork.run(tick));
  }
  clock.advanceTo(end);
  sim.countExpiredAt(end);

  // Every live subscription must have exactly one schedule row; none may be lost.
  const rows = new Map<number, number>();
  for (const row of schedule.all()) {
    const id = subscriptionIndex(row.subscriptionId);
    rows.set(id, (rows.get(id) ?? 0) + 1);
  }
  let lost = 0;
  let duplicated = 0;
  for (let id = 0; id < sim.subscriptionCount; id++) {
    const n = rows.get(id) ?? 0;
    if (sim.isAlive(id) && n === 0) lost++;
    if (n > 1) duplicated++;
  }

  const peak = sim.peakWrites();
  return {
    name: 'engine',
    expired: sim.expired,
    peakWritesPerWindow: peak.peak,
    peakTenant: tenantName(peak.tenant),
    httpRequests: sim.httpRequests,
    renewals: sim.renewed,
    requestsPerRenewal: sim.httpRequests / Math.max(1, sim.renewed),
    throttledByLimit: sim.throttledByLimit,
    injected429: sim.injected429,
    injected503: sim.injected503,
    recreated,
    wallSeconds: (performance.now() - started) / 1000,
    peakDuePerBucketStart,
    peakDuePerBucketEnd: peakPerBucket(schedule),
    extra: {
      ...totals,
      lostScheduleEntries: lost,
      duplicatedScheduleEntries: duplicated,
      virtualTimers: clock.fired,
    },
    ...(mailboxWork ? { mailboxWork: mailboxWork.result() } : {}),
  };
}

function peakPerBucket(schedule: InMemoryRenewalSchedule): number {
  const counts = new Map<string, number>();
  for (const row of schedule.all()) counts.set(row.bucket, (counts.get(row.bucket) ?? 0) + 1);
  let peak = 0;
  for (const n of counts.values()) peak = Math.max(peak, n);
  return peak;
}
