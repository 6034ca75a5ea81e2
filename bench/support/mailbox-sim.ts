/**
 * The control plane's share of the timer in the renewal benchmark: a bulk import of pending
 * mailboxes and an EWS migration landing on a tenant population that is renewing. The engine
 * side runs the production mailbox work (shared/domain/enrolment/work-pass.ts) on the in-memory
 * doubles, after each renewal pass, on the same budgets and the same simulated Graph limit; the
 * naive side creates every pending subscription and migrates every EWS mailbox at once.
 */
import {
  InMemoryMailboxStore,
  InMemoryWorkQueue,
  SimulatedDirectory,
  SimulatedSubscriptions,
} from '../../shared/domain/enrolment/in-memory.js';
import {
  MAILBOX_WORK_CONCURRENCY,
  runMailboxWork,
  type MailboxWorkReport,
} from '../../shared/domain/enrolment/work-pass.js';
import type { LeasePort } from '../../shared/domain/ports.js';
import type { TenantBudgets } from '../../shared/domain/renewal/token-bucket.js';
import { workKeyFor } from '../../shared/store/work-queue-store.js';
import { tenantIndex, tenantName, type Population } from './scenario.js';
import type { VirtualClock } from './virtual-clock.js';

export interface MailboxWorkload {
  /** Mailboxes imported at once at `at` (pending: each needs a subscription). */
  imported: number;
  /** EWS mailboxes enrolled before `at`; the migration switch goes on at `at`. */
  migrating: number;
  /** Epoch ms. */
  at: number;
  migrationBatchSize: number;
  creationsPerRun: number;
  maxAttempts: number;
  /** No mailbox work starts later than this into a run (the timer's MAILBOX_WORK_DEADLINE_MS). */
  deadlineMs: number;
}

export interface MailboxWorkResult {
  imported: number;
  migrating: number;
  /** Timer runs from the switch until the last EWS mailbox moved. */
  runsToMigrate: number;
  /** Most EWS mailboxes moved in one run. */
  maxMigratedPerRun: number;
  /** Timer runs, and time, from the import until the last pending mailbox had its subscription. */
  runsToCreate: number;
  creationDrainSeconds: number;
  /** Imported mailboxes per second of drain, overall and for the largest tenant. */
  creationsPerSecond: number;
  largestTenantCreationsPerSecond: number;
  /** Mailboxes left without a subscription at the end, and with more than one. */
  lost: number;
  duplicates: number;
  /** 429s the mailbox work met (creations refused by Graph's limit). */
  throttled: number;
  maxRunSeconds: number;
}

/** Mailbox `i` of the workload: its address and tenant (tenants in proportion to their size). */
export function workloadMailbox(i: number, population: Population): { email: string; tenant: number } {
  const tenant = population.tenant[i % population.tenant.length] ?? 0;
  return { email: `m${String(i).padStart(7, '0')}@${tenantName(tenant)}.example`, tenant };
}

export interface EngineMailboxWorkDeps {
  clock: VirtualClock;
  budgets: TenantBudgets;
  lease: LeasePort;
  graphLatencyMs: number;
  /** The simulated Graph's per-tenant write limit: Retry-After when refused. */
  tryWrite: (tenant: number, now: number) => number | undefined;
  /** A subscription was created and recorded: the renewal engine must now keep it alive. */
  onCreated: (tenant: number, now: number) => Promise<void>;
}

/** The engine's mailbox work, one call per timer run after the renewal pass. */
export class EngineMailboxWork {
  private readonly mailboxes = new InMemoryMailboxStore();
  private readonly work = new InMemoryWorkQueue();
  private readonly directory: SimulatedDirectory;
  private readonly subscriptions: SimulatedSubscriptions;
  private loaded = false;
  private runs = 0;
  private migrationDoneAt: number | undefined;
  private creationDoneAt: number | undefined;
  private creationRuns = 0;
  private maxMigratedPerRun = 0;
  private maxRunSeconds = 0;
  private throttled = 0;
  private readonly largestTenant: number;
  private largestTenantImported = 0;
  private largestTenantDoneAt: number | undefined;
  private largestTenantLeft = 0;

  constructor(
    private readonly workload: MailboxWorkload,
    private readonly population: Population,
    private readonly deps: EngineMailboxWorkDeps,
  ) {
    this.largestTenant = 0;
    this.directory = new SimulatedDirectory({
      admitWrite: (tenantId) => deps.tryWrite(tenantIndex(tenantId), deps.clock.now()),
      latency: { ms: deps.graphLatencyMs, sleep: deps.clock.sleep },
    });
    this.directory.keepLog = false;
    this.subscriptions = new SimulatedSubscriptions({
      directory: this.directory,
      mailboxes: this.mailboxes,
      notificationUrl: 'https://bench.example/api/notifications',
      onRecorded: async (mailbox) => {
        const tenant = tenantIndex(mailbox.tenantId);
        if (tenant === this.largestTenant && mailbox.transport === 'graph') {
          if (--this.largestTenantLeft === 0) this.largestTenantDoneAt = deps.clock.now();
        }
        await deps.onCreated(tenant, deps.clock.now());
      },
    });
  }

  /** One timer run at `tick` (call inside clock.run). */
  async run(tick: number): Promise<MailboxWorkReport | undefined> {
    if (tick < this.workload.at) return undefined;
    if (!this.loaded) await this.load();
    const started = this.deps.clock.now();
    const report = await runMailboxWork(
      {
        now: this.deps.clock.now,
        sleep: this.deps.clock.sleep,
        mailboxes: this.mailboxes,
        work: this.work,
        directory: this.directory,
        createSubscription: this.subscriptions.create,
        budgets: this.deps.budgets,
        lease: this.deps.lease,
        notificationUrl: 'https://bench.example/api/notifications',
        workKeyFor,
      },
      {
        migrationEnabled: true,
        migrationBatchSize: this.workload.migrationBatchSize,
        maxAttempts: this.workload.maxAttempts,
        maxCreationsPerRun: this.workload.creationsPerRun,
        deadline: tick + this.workload.deadlineMs,
        // As the timer runs it (shared/app/maintenance.ts).
        concurrency: MAILBOX_WORK_CONCURRENCY,
        owner: `bench-${this.runs}`,
      },
    );
    if (!report.leaseHeld) throw new Error('bench: a mailbox-work run did not get the lease');
    this.runs++;
    this.throttled += report.throttled;
    this.maxMigratedPerRun = Math.max(this.maxMigratedPerRun, report.migrated);
    this.maxRunSeconds = Math.max(this.maxRunSeconds, (this.deps.clock.now() - started) / 1000);
    if (this.creationDoneAt === undefined) {
      this.creationRuns++;
      if ((await this.work.count('create')) === 0) this.creationDoneAt = this.deps.clock.now();
    }
    if (this.migrationDoneAt === undefined && (await this.work.count('migrate')) === 0)
      this.migrationDoneAt = this.runs;
    return report;
  }

  result(): MailboxWorkResult {
    const { imported, migrating, at } = this.workload;
    const drain = this.creationDoneAt === undefined ? Number.NaN : (this.creationDoneAt - at) / 1000;
    const largestDrain =
      this.largestTenantDoneAt === undefined ? Number.NaN : (this.largestTenantDoneAt - at) / 1000;
    let lost = 0;
    for (const m of this.mailboxes.records.values()) if (m.state !== 'active' || !m.subscriptionId) lost++;
    return {
      imported,
      migrating,
      runsToMigrate: this.migrationDoneAt ?? Number.NaN,
      maxMigratedPerRun: this.maxMigratedPerRun,
      runsToCreate: this.creationDoneAt === undefined ? Number.NaN : this.creationRuns,
      creationDrainSeconds: drain,
      creationsPerSecond: imported / drain,
      largestTenantCreationsPerSecond: this.largestTenantImported / largestDrain,
      lost,
      duplicates: this.directory.duplicates().length,
      throttled: this.throttled,
      maxRunSeconds: this.maxRunSeconds,
    };
  }

  /** The import and the EWS population, written as the admin use cases write them. */
  private async load(): Promise<void> {
    this.loaded = true;
    const at = new Date(this.workload.at).toISOString();
    const { imported, migrating } = this.workload;
    for (let i = 0; i < imported + migrating; i++) {
      const { email, tenant } = workloadMailbox(i, this.population);
      const ews = i >= imported;
      // EWS mailboxes were enrolled long ago, one second apart (oldest first = lowest index).
      const createdAt = ews ? this.workload.at - (migrating - (i - imported)) * 1_000 : this.workload.at;
      const key = workKeyFor(createdAt, email);
      await this.work.put([{ kind: ews ? 'migrate' : 'create', key, email, dueAt: createdAt }]);
      await this.mailboxes.insertMailbox({
        email,
        tenantId: tenantName(tenant),
        transport: ews ? 'ews' : 'graph',
        state: ews ? 'ews' : 'pending',
        workKey: key,
        createdAt: new Date(createdAt).toISOString(),
        updatedAt: at,
      });
      if (!ews && tenant === this.largestTenant) this.largestTenantImported++;
    }
    this.largestTenantLeft = this.largestTenantImported;
  }
}

/**
 * The naive control plane: every timer run from the import on, one POST /subscriptions for every
 * mailbox still waiting (pending and EWS alike: no batch, no budget), all at once per tenant; a
 * 429 leaves the mailbox for the next run (Retry-After not honoured).
 */
export class NaiveMailboxWork {
  private readonly waiting: number[][];
  private loaded = false;
  private runs = 0;
  private migrationDoneRun: number | undefined;
  private creationDoneAt: number | undefined;
  private creationRuns = 0;
  private maxMigratedPerRun = 0;
  private throttled = 0;
  private largestTenantDoneAt: number | undefined;
  private largestTenantImported = 0;
  private ewsLeft: number;
  private pendingLeft: number;

  constructor(
    private readonly workload: MailboxWorkload,
    private readonly population: Population,
    tenants: number,
    private readonly tryWrite: (tenant: number, now: number) => number | undefined,
    private readonly onCreated: (tenant: number, now: number) => void,
  ) {
    this.waiting = Array.from({ length: tenants }, () => []);
    this.ewsLeft = workload.migrating;
    this.pendingLeft = workload.imported;
  }

  run(tick: number): void {
    if (tick < this.workload.at) return;
    if (!this.loaded) {
      this.loaded = true;
      for (let i = 0; i < this.workload.imported + this.workload.migrating; i++) {
        const { tenant } = workloadMailbox(i, this.population);
        this.waiting[tenant]!.push(i);
        if (i < this.workload.imported && tenant === 0) this.largestTenantImported++;
      }
    }
    this.runs++;
    let migrated = 0;
    this.waiting.forEach((queue, tenant) => {
      const kept: number[] = [];
      for (let k = 0; k < queue.length; k++) {
        const i = queue[k]!;
        if (this.tryWrite(tenant, tick) !== undefined) {
          // The window is full: every further request of this burst is refused too.
          this.throttled += queue.length - k;
          for (let r = k; r < queue.length; r++) kept.push(queue[r]!);
          break;
        }
        this.onCreated(tenant, tick);
        if (i >= this.workload.imported) {
          migrated++;
          this.ewsLeft--;
        } else this.pendingLeft--;
      }
      this.waiting[tenant] = kept;
      if (
        tenant === 0 &&
        this.largestTenantDoneAt === undefined &&
        !kept.some((i) => i < this.workload.imported)
      )
        this.largestTenantDoneAt = tick;
    });
    this.maxMigratedPerRun = Math.max(this.maxMigratedPerRun, migrated);
    if (this.creationDoneAt === undefined) {
      this.creationRuns++;
      if (this.pendingLeft === 0) this.creationDoneAt = tick;
    }
    if (this.migrationDoneRun === undefined && this.ewsLeft === 0) this.migrationDoneRun = this.runs;
  }

  result(): MailboxWorkResult {
    const { imported, migrating, at } = this.workload;
    // A burst at one instant: count the drain to the end of the run that finished it (≥ 1 s).
    const drain =
      this.creationDoneAt === undefined ? Number.NaN : Math.max(1, (this.creationDoneAt - at) / 1000);
    const largest =
      this.largestTenantDoneAt === undefined
        ? Number.NaN
        : Math.max(1, (this.largestTenantDoneAt - at) / 1000);
    return {
      imported,
      migrating,
      runsToMigrate: this.migrationDoneRun ?? Number.NaN,
      maxMigratedPerRun: this.maxMigratedPerRun,
      runsToCreate: this.creationDoneAt === undefined ? Number.NaN : this.creationRuns,
      creationDrainSeconds: drain,
      creationsPerSecond: imported / drain,
      largestTenantCreationsPerSecond: this.largestTenantImported / largest,
      lost: this.pendingLeft + this.ewsLeft,
      duplicates: 0,
      throttled: this.throttled,
      maxRunSeconds: 0,
    };
  }
}
