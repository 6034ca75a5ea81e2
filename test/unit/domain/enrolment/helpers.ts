/** A control plane on the in-memory doubles, driven in virtual time, for the mailbox-work tests. */
import {
  InMemoryMailboxStore,
  InMemoryWorkQueue,
  SimulatedDirectory,
  SimulatedProcess,
  SimulatedSubscriptions,
  leaseIn,
} from '../../../../shared/domain/enrolment/in-memory.js';
import { mailboxStateOf, workKindOf } from '../../../../shared/domain/enrolment/states.js';
import {
  runMailboxWork,
  type MailboxWorkOptions,
  type MailboxWorkReport,
} from '../../../../shared/domain/enrolment/work-pass.js';
import type { MailboxRecord, MailboxTransport } from '../../../../shared/domain/model.js';
import type { LeasePort } from '../../../../shared/domain/ports.js';
import { InMemoryLeaseStore } from '../../../../shared/domain/renewal/in-memory.js';
import { TenantBudgets, type WriteBudget } from '../../../../shared/domain/renewal/token-bucket.js';
import { workKeyFor } from '../../../../shared/store/work-queue-store.js';
import { MINUTE, ManualClock, T0 } from '../renewal/helpers.js';

export { MINUTE, T0 };
export const TIMER_MS = 5 * MINUTE;
export const TENANT = 'tenant-a';
export const NOTIFICATION_URL = 'https://push.contoso.example/api/notifications';

/** `mbx-0001@contoso.example`, …: sorted as numbered. */
export const address = (i: number): string => `mbx-${String(i).padStart(4, '0')}@contoso.example`;

export interface World {
  clock: ManualClock;
  process: SimulatedProcess;
  mailboxes: InMemoryMailboxStore;
  work: InMemoryWorkQueue;
  directory: SimulatedDirectory;
  subscriptions: SimulatedSubscriptions;
  leases: InMemoryLeaseStore;
  lease: LeasePort;
  budgets: TenantBudgets;
  /** Enrols like the admin use case: the work row first, then the mailbox pointing at it. */
  enrol(email: string, transport: MailboxTransport, createdAt?: number, tenantId?: string): Promise<void>;
  /** One timer run of the mailbox work, with a deadline 4 minutes on. */
  run(options?: Partial<MailboxWorkOptions>): Promise<MailboxWorkReport>;
  /** Moves to the next timer tick. */
  nextTick(): void;
  mailbox(email: string): MailboxRecord;
}

export const DEFAULT_OPTIONS: Omit<MailboxWorkOptions, 'deadline'> = {
  migrationEnabled: true,
  migrationBatchSize: 50,
  maxAttempts: 5,
  maxCreationsPerRun: 5_000,
  owner: 'run',
};

export function world(
  budget?: WriteBudget,
  graphLatency?: (clock: ManualClock) => { ms: number; sleep: (ms: number) => Promise<void> },
): World {
  const clock = new ManualClock();
  const process = new SimulatedProcess();
  const mailboxes = new InMemoryMailboxStore(process);
  const work = new InMemoryWorkQueue(process);
  const directory = new SimulatedDirectory({
    process,
    ...(graphLatency ? { latency: graphLatency(clock) } : {}),
  });
  const subscriptions = new SimulatedSubscriptions({
    directory,
    mailboxes,
    notificationUrl: NOTIFICATION_URL,
    process,
  });
  const leases = new InMemoryLeaseStore();
  const lease = leaseIn(process, leases);
  const budgets = new TenantBudgets(budget);
  let runs = 0;
  const w: World = {
    clock,
    process,
    mailboxes,
    work,
    directory,
    subscriptions,
    leases,
    lease,
    budgets,
    async enrol(email, transport, createdAt = clock.now(), tenantId = TENANT) {
      const state = transport === 'ews' ? 'ews' : 'pending';
      const kind = workKindOf(state)!;
      const key = workKeyFor(createdAt, email);
      await work.put([{ kind, key, email, dueAt: createdAt }]);
      const at = new Date(createdAt).toISOString();
      await mailboxes.insertMailbox({
        email,
        tenantId,
        transport,
        state,
        workKey: key,
        createdAt: at,
        updatedAt: at,
      });
    },
    run(options = {}) {
      runs++;
      return runMailboxWork(
        {
          now: clock.now,
          sleep: clock.sleep,
          mailboxes,
          work,
          directory,
          createSubscription: subscriptions.create,
          budgets,
          lease,
          notificationUrl: NOTIFICATION_URL,
          workKeyFor,
        },
        { ...DEFAULT_OPTIONS, owner: `run-${runs}`, deadline: clock.now() + 4 * MINUTE, ...options },
      );
    },
    nextTick() {
      clock.t = (Math.floor(clock.t / TIMER_MS) + 1) * TIMER_MS;
    },
    mailbox(email) {
      const record = mailboxes.records.get(email);
      if (!record) throw new Error(`no mailbox ${email}`);
      return record;
    },
  };
  return w;
}

/** Mailboxes by state. */
export function countByState(w: World): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const m of w.mailboxes.all()) {
    const state = mailboxStateOf(m);
    counts[state] = (counts[state] ?? 0) + 1;
  }
  return counts;
}
