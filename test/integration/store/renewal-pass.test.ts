/**
 * runRenewalPass on the real Table stores (Azurite) with an in-memory Graph: overlapping runs
 * must renew every subscription exactly once and leave exactly one schedule row for each.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import type {
  RenewalOutcome,
  RenewalRequest,
  StoredRenewalScheduleEntry,
  SubscriptionRenewalPort,
} from '../../../shared/domain/ports.js';
import { runRenewalPass, type RenewalReport } from '../../../shared/domain/renewal/pass.js';
import type { RenewalOptions } from '../../../shared/domain/renewal/options.js';
import type { TableStores } from '../../../shared/store/index.js';
import { freshStores, rawClient } from './fixtures.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const WINDOW = 24 * HOUR;

/** Renews everything after a short real delay; counts members per subscription. */
class CountingGraph implements SubscriptionRenewalPort {
  readonly renewals = new Map<string, number>();
  requests = 0;
  constructor(private readonly latencyMs: number) {}

  async renewBatch(_tenantId: string, items: readonly RenewalRequest[]): Promise<RenewalOutcome[]> {
    this.requests++;
    await delay(this.latencyMs);
    return items.map((item) => {
      this.renewals.set(item.subscriptionId, (this.renewals.get(item.subscriptionId) ?? 0) + 1);
      return {
        subscriptionId: item.subscriptionId,
        status: 200,
        expirationDateTime: item.expirationDateTime,
      };
    });
  }
}

let stores: TableStores;
let ids: string[];

beforeEach(async () => {
  stores = await freshStores();
  const now = Date.now();
  ids = [];
  const writes: Promise<unknown>[] = [];
  for (let t = 0; t < 3; t++) {
    for (let i = 0; i < 40; i++) {
      const subscriptionId = `sub-${t}-${String(i).padStart(3, '0')}`;
      ids.push(subscriptionId);
      const expiresAt = now + WINDOW - (i + 1) * MINUTE; // due 1 to 40 minutes ago
      writes.push(
        stores.renewalSchedule.upsertEntry({
          subscriptionId,
          tenantId: `tenant-${t}`,
          expiresAt,
          dueAt: expiresAt - WINDOW,
          attempts: 0,
        }),
      );
    }
  }
  await Promise.all(writes);
});

function pass(graph: SubscriptionRenewalPort, owner: string, options: Partial<RenewalOptions> = {}) {
  return runRenewalPass({
    now: () => Date.now(),
    sleep: (ms) => delay(ms),
    schedule: stores.renewalSchedule,
    graph,
    lease: stores.leases,
    onGone: async () => {},
    onForbidden: async () => {},
    options: { owner, maxBatchWaitMs: 0, initialLookbackMs: 2 * HOUR, concurrency: 2, ...options },
  });
}

async function allRows(): Promise<StoredRenewalScheduleEntry[]> {
  const rows: StoredRenewalScheduleEntry[] = [];
  for await (const e of rawClient(stores.renewalSchedule.tableName).listEntities<Record<string, unknown>>()) {
    if (e.partitionKey === 'cursor') continue;
    rows.push({
      subscriptionId: String(e.rowKey),
      tenantId: String(e['tenantId']),
      dueAt: Date.parse(String(e['dueAt'])),
      expiresAt: Date.parse(String(e['expiresAt'])),
      attempts: Number(e['attempts']),
      bucket: String(e.partitionKey),
      etag: String(e.etag),
    });
  }
  return rows;
}

function expectRenewedOnceEach(graph: CountingGraph): void {
  expect(graph.renewals.size).toBe(ids.length);
  expect([...graph.renewals.values()].every((n) => n === 1)).toBe(true);
}

async function expectOneFutureRowEach(): Promise<void> {
  const rows = await allRows();
  expect(rows).toHaveLength(ids.length);
  expect(new Set(rows.map((r) => r.subscriptionId))).toEqual(new Set(ids));
  const now = Date.now();
  for (const row of rows) {
    expect(row.dueAt).toBeGreaterThan(now + 4 * 24 * HOUR);
    expect(row.expiresAt - row.dueAt).toBe(WINDOW);
  }
}

describe('runRenewalPass on Table Storage', () => {
  it('two overlapping runs renew each subscription exactly once', async () => {
    const graph = new CountingGraph(30);
    const reports: RenewalReport[] = await Promise.all([pass(graph, 'run-a'), pass(graph, 'run-b')]);

    expect(reports.filter((r) => r.leaseHeld)).toHaveLength(1);
    const worker = reports.find((r) => r.leaseHeld)!;
    expect(worker).toMatchObject({ renewed: 120, graphRequests: 6, storeErrors: 0, stoppedBy: 'done' });
    expectRenewedOnceEach(graph);
    await expectOneFutureRowEach();
    expect(await stores.renewalSchedule.getCursor()).toBeDefined();
    expect(await stores.leases.read('subscription-renewal')).toBeUndefined();
  });

  it('a run starting while another is mid-way does nothing, and a run after it finds nothing due', async () => {
    const graph = new CountingGraph(150);
    const first = pass(graph, 'run-a', { concurrency: 1 });
    await delay(200);
    const second = await pass(graph, 'run-b');
    expect(second).toMatchObject({ leaseHeld: false, renewed: 0, graphRequests: 0 });
    expect((await first).renewed).toBe(120);

    const third = await pass(graph, 'run-c');
    expect(third).toMatchObject({ leaseHeld: true, renewed: 0, graphRequests: 0 });
    expectRenewedOnceEach(graph);
    await expectOneFutureRowEach();
  });

  it('takes over the lease of a crashed run once it has expired, and renews each subscription once', async () => {
    const crashedAt = Date.now() - 6 * MINUTE;
    await stores.leases.acquire('subscription-renewal', 'crashed-run', 5 * MINUTE, crashedAt);
    const graph = new CountingGraph(10);
    const [a, b] = await Promise.all([pass(graph, 'run-a'), pass(graph, 'run-b')]);
    expect([a.leaseHeld, b.leaseHeld].filter(Boolean)).toHaveLength(1);
    expectRenewedOnceEach(graph);
    await expectOneFutureRowEach();
  });
});
