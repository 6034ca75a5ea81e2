/** Fakes of our own renewal ports and a hand-driven clock, for the renewal unit tests. */
import type {
  RenewalOutcome,
  RenewalRequest,
  RenewalScheduleEntry,
  SubscriptionRenewalPort,
} from '../../../../shared/domain/ports.js';
import { InMemoryLeaseStore, InMemoryRenewalSchedule } from '../../../../shared/domain/renewal/in-memory.js';
import type { RenewalOptions } from '../../../../shared/domain/renewal/options.js';
import {
  runRenewalPass,
  type RenewalPassDeps,
  type RenewalReport,
} from '../../../../shared/domain/renewal/pass.js';
import type { StoredRenewalScheduleEntry } from '../../../../shared/domain/ports.js';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
export const WINDOW = DAY;
/** A Monday noon, UTC. */
export const T0 = Date.UTC(2026, 2, 2, 12, 0, 0);

/** Time moves only when someone sleeps (or the test advances it). */
export class ManualClock {
  constructor(public t = T0) {}
  now = (): number => this.t;
  sleep = async (ms: number): Promise<void> => {
    this.t += ms;
  };
  advance(ms: number): void {
    this.t += ms;
  }
}

// Default ids are a sequence, not random: an id decides its renewal jitter (hashJitter).
let entries = 0;

export function entry(
  overrides: Partial<RenewalScheduleEntry> & { expiresAt: number },
): RenewalScheduleEntry {
  return {
    subscriptionId: `sub-${(entries += 1)}`,
    tenantId: 'tenant-a',
    dueAt: overrides.expiresAt - WINDOW,
    attempts: 0,
    ...overrides,
  };
}

export function stored(
  overrides: Partial<StoredRenewalScheduleEntry> & { expiresAt: number },
): StoredRenewalScheduleEntry {
  const e = entry(overrides);
  return { bucket: 'unused', etag: 'W/"1"', ...e, ...overrides };
}

type Answer = Partial<Omit<RenewalOutcome, 'subscriptionId'>>;

export interface GraphCall {
  tenantId: string;
  at: number;
  items: RenewalRequest[];
}

/**
 * Renews everything (200, granting what was asked) unless told otherwise per subscription:
 * `answers.set(id, [first, second, …])`, one answer per attempt; the last one repeats.
 */
export class FakeGraph implements SubscriptionRenewalPort {
  readonly calls: GraphCall[] = [];
  readonly answers = new Map<string, Answer[]>();
  /** Virtual time each request takes (the clock's sleep is used). */
  latencyMs = 0;
  failRequestWith: Error | undefined;
  private readonly attempts = new Map<string, number>();

  constructor(private readonly clock: ManualClock) {}

  async renewBatch(tenantId: string, items: readonly RenewalRequest[]): Promise<RenewalOutcome[]> {
    this.calls.push({ tenantId, at: this.clock.now(), items: [...items] });
    if (this.latencyMs > 0) await this.clock.sleep(this.latencyMs);
    if (this.failRequestWith) throw this.failRequestWith;
    return items.map((item) => {
      const n = this.attempts.get(item.subscriptionId) ?? 0;
      this.attempts.set(item.subscriptionId, n + 1);
      const script = this.answers.get(item.subscriptionId);
      const answer = script?.[Math.min(n, script.length - 1)] ?? {};
      const status = answer.status ?? 200;
      return {
        subscriptionId: item.subscriptionId,
        status,
        ...(status >= 200 && status < 300 ? { expirationDateTime: item.expirationDateTime } : {}),
        ...answer,
      };
    });
  }

  /** Members sent for a subscription, in order. */
  sentFor(subscriptionId: string): GraphCall[] {
    return this.calls.filter((c) => c.items.some((i) => i.subscriptionId === subscriptionId));
  }

  get members(): number {
    return this.calls.reduce((n, c) => n + c.items.length, 0);
  }
}

export interface Harness {
  clock: ManualClock;
  schedule: InMemoryRenewalSchedule;
  lease: InMemoryLeaseStore;
  graph: FakeGraph;
  gone: StoredRenewalScheduleEntry[];
  forbidden: { entry: StoredRenewalScheduleEntry; reason: string }[];
  warnings: string[];
  pass(options?: Partial<RenewalOptions>, extra?: Partial<RenewalPassDeps>): Promise<RenewalReport>;
  add(...entries: RenewalScheduleEntry[]): Promise<void>;
}

export function harness(): Harness {
  const clock = new ManualClock();
  const schedule = new InMemoryRenewalSchedule();
  const lease = new InMemoryLeaseStore();
  const graph = new FakeGraph(clock);
  const h: Harness = {
    clock,
    schedule,
    lease,
    graph,
    gone: [],
    forbidden: [],
    warnings: [],
    async add(...entries) {
      for (const e of entries) await schedule.upsertEntry(e);
    },
    pass(options = {}, extra = {}) {
      return runRenewalPass({
        now: clock.now,
        sleep: clock.sleep,
        schedule,
        graph,
        lease,
        onGone: async (e) => {
          h.gone.push(e);
        },
        onForbidden: async (e, reason) => {
          h.forbidden.push({ entry: e, reason });
        },
        onWarning: (message) => h.warnings.push(message),
        options: { maxBatchWaitMs: 0, ...options },
        ...extra,
      });
    },
  };
  return h;
}
