/**
 * The naive baseline: every 5 minutes, one PATCH per subscription expiring within the window,
 * all sent at once (no batching, no budget), new expiry = now + maximum lifetime (no jitter).
 * A 429 or 503 leaves the subscription due for the next run (Retry-After is not honoured); a 404
 * recreates it. Simulated directly (not through the engine's ports) with per-tenant queues, so a
 * million subscriptions over 14 days stay fast; the requests it makes are counted one by one.
 */
import { performance } from 'node:perf_hooks';
import type { ContenderResult } from './engine-sim.js';
import { GraphSim } from './graph-sim.js';
import { NaiveMailboxWork, type MailboxWorkload } from './mailbox-sim.js';
import { seededRandom } from './random.js';
import { tenantName, type Population, type Scenario } from './scenario.js';

export function simulateNaive(
  scenario: Scenario,
  population: Population,
  windowMs: number = scenario.windowMs,
  name = 'naive',
  workload?: MailboxWorkload,
): ContenderResult {
  const started = performance.now();
  const sim = new GraphSim({
    tenants: scenario.tenants,
    writesPerWindow: scenario.graphWritesPerWindow,
    windowMs: scenario.graphWindowMs,
    maxLifetimeMs: scenario.maxLifetimeMs,
    failureRate: scenario.failureRate,
    injectedRetryAfterMs: [1_000, 10_000],
    random: seededRandom(scenario.seed + 2),
  });
  const slotOf = (dueAt: number): number =>
    Math.max(0, Math.floor((dueAt - scenario.start) / scenario.timerMs));
  const slots = new Map<number, number[]>();
  const place = (id: number, expiresAt: number): void => {
    const slot = slotOf(expiresAt - windowMs);
    let list = slots.get(slot);
    if (!list) slots.set(slot, (list = []));
    list.push(id);
  };
  for (let i = 0; i < population.tenant.length; i++) {
    const expiresAt = population.createdAt[i]! + scenario.maxLifetimeMs - scenario.expirySafetyMs;
    place(sim.seed(population.tenant[i]!, expiresAt), expiresAt);
  }
  const peakDuePerBucketStart = peakSlot(slots);

  const mailboxWork = workload
    ? new NaiveMailboxWork(
        workload,
        population,
        scenario.tenants,
        (tenant, now) => sim.tryWrite(tenant, now),
        (tenant, now) => {
          const expiresAt = now + scenario.maxLifetimeMs - scenario.expirySafetyMs;
          place(sim.seed(tenant, expiresAt), expiresAt);
        },
      )
    : undefined;

  // Due subscriptions not renewed yet, per tenant, oldest first.
  const pending: number[][] = Array.from({ length: scenario.tenants }, () => []);
  let recreated = 0;
  let maxRequestsPerRun = 0;
  const end = scenario.start + scenario.days * 24 * 3_600_000;
  let nextSlot = 0;
  for (let tick = scenario.start; tick < end; tick += scenario.timerMs) {
    const current = slotOf(tick);
    for (; nextSlot <= current; nextSlot++) {
      const ids = slots.get(nextSlot);
      if (!ids) continue;
      slots.delete(nextSlot);
      for (const id of ids) pending[sim.tenant(id)]!.push(id);
    }
    const requestsBefore = sim.httpRequests;
    for (let tenant = 0; tenant < scenario.tenants; tenant++) {
      const queue = pending[tenant]!;
      const kept: number[] = [];
      for (let k = 0; k < queue.length; k++) {
        const id = queue[k]!;
        sim.httpRequests++;
        const answer = sim.renew(id, tick, tick + scenario.maxLifetimeMs - scenario.expirySafetyMs);
        if (answer.status === 200) {
          place(id, answer.expiresAt);
        } else if (answer.status === 404) {
          const expiresAt = tick + scenario.maxLifetimeMs - scenario.expirySafetyMs;
          place(sim.create(tenant, tick, expiresAt), expiresAt);
          recreated++;
        } else if (answer.status === 429 && !answer.injected) {
          // All requests of this run arrive together: once the tenant's window is full, every
          // further one is refused too. Counted without simulating each (same result, faster).
          const rest = queue.length - k - 1;
          sim.httpRequests += rest;
          sim.throttledByLimit += rest;
          kept.push(id);
          for (let r = k + 1; r < queue.length; r++) kept.push(queue[r]!);
          break;
        } else {
          kept.push(id);
        }
      }
      pending[tenant] = kept;
    }
    mailboxWork?.run(tick);
    maxRequestsPerRun = Math.max(maxRequestsPerRun, sim.httpRequests - requestsBefore);
  }
  sim.countExpiredAt(end);
  const backlogAtEnd = pending.reduce((n, queue) => n + queue.length, 0);
  const peak = sim.peakWrites();
  return {
    name,
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
    peakDuePerBucketEnd: peakSlot(slots),
    extra: { maxRequestsPerRun, backlogAtEnd },
    ...(mailboxWork ? { mailboxWork: mailboxWork.result() } : {}),
  };
}

function peakSlot(slots: Map<number, number[]>): number {
  let peak = 0;
  for (const ids of slots.values()) peak = Math.max(peak, ids.length);
  return peak;
}
