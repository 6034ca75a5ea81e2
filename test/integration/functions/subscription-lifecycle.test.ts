import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../../dev/local/host.js';
import { startTestHost } from '../../support/test-host.js';
import { runMaintenance } from '../../../shared/app/maintenance.js';
import type { MailboxRecord } from '../../../shared/domain/model.js';
import { DEMO_TENANT } from '../../../dev/sim/graph/demo.js';
import type { GraphSimulator } from '../../../dev/sim/graph/index.js';

/**
 * The subscription lifecycle through the real stack: the local runner's functions, Azurite, the
 * AMQP stand-in, and the simulated Graph tenant (which performs the validation handshake against
 * our webhook and posts lifecycle events to it). No timer: maintenance runs are started here.
 */
let host: LocalHost;
let sim: GraphSimulator;
const [adele, alex, megan, lee] = DEMO_TENANT.users;
const HOUR = 3_600_000;

beforeAll(async () => {
  host = await startTestHost();
  sim = host.graphSimulator!;
});

afterAll(async () => {
  await host?.stop();
});

async function enrol(user: { id: string; mail: string }): Promise<MailboxRecord> {
  const now = new Date().toISOString();
  const mailbox = await host.services.mailboxes.insertMailbox({
    email: user.mail,
    userId: user.id,
    tenantId: DEMO_TENANT.tenantId,
    transport: 'ews',
    createdAt: now,
    updatedAt: now,
  });
  await host.services.lifecycle.createForMailbox(mailbox);
  return (await host.services.mailboxes.getMailbox(user.mail))!;
}

async function eventually<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Makes the subscription's renewal urgent: due now and (as far as the schedule knows) expiring
 * in 2 h, so the pass sends it at once instead of holding it to fill a batch. (Due times are
 * never in the past: the pass's cursor has moved beyond old buckets.)
 */
async function makeDue(subscriptionId: string): Promise<void> {
  await host.services.renewalSchedule.upsertEntry({
    subscriptionId,
    tenantId: DEMO_TENANT.tenantId,
    dueAt: Date.now(),
    expiresAt: Date.now() + 2 * HOUR,
    attempts: 0,
  });
}

describe('enrolment', () => {
  it('creates a Graph subscription through the real handshake and stores its secret', async () => {
    const mailbox = await enrol(adele);
    expect(mailbox.transport).toBe('graph');
    const inGraph = sim.subscriptions().find((s) => s.id === mailbox.subscriptionId);
    expect(inGraph?.notificationUrl).toBe(`${host.url}/api/notifications`);
    expect(inGraph?.lifecycleNotificationUrl).toBe(`${host.url}/api/lifecycle`);
    const stored = await host.services.subscriptions.getSubscription(mailbox.subscriptionId!);
    expect(stored?.clientState).toBe(inGraph?.clientState);
    expect(stored?.clientState.length).toBeGreaterThanOrEqual(32);
  });
});

describe('lifecycle events from Graph', () => {
  it('missed: resyncs the Inbox by delta and stores the delta link', async () => {
    const mailbox = await enrol(alex);
    sim.deliverMail(alex.mail, { subject: 'while notifications were missed' });
    await sim.emitLifecycle(mailbox.subscriptionId!, 'missed');
    const synced = await eventually(async () => {
      const m = await host.services.mailboxes.getMailbox(alex.mail);
      return m?.deltaLink ? m : undefined;
    }, 'the delta link');
    expect(synced.deltaLink).toMatch(/deltatoken/i);
    expect(synced.subscriptionId).toBe(mailbox.subscriptionId);
  });

  it('subscriptionRemoved: recreates the subscription and retires the old secret', async () => {
    const mailbox = await enrol(megan);
    await sim.emitLifecycle(mailbox.subscriptionId!, 'subscriptionRemoved');
    const moved = await eventually(async () => {
      const m = await host.services.mailboxes.getMailbox(megan.mail);
      return m?.subscriptionId && m.subscriptionId !== mailbox.subscriptionId ? m : undefined;
    }, 'a new subscription');
    expect(sim.subscriptions().some((s) => s.id === moved.subscriptionId)).toBe(true);
    expect(await host.services.subscriptions.getSubscription(mailbox.subscriptionId!)).toBeUndefined();
  });
});

describe('subscription-maintenance renewal', () => {
  it('renews a due subscription in Graph', async () => {
    const mailbox = (await host.services.mailboxes.getMailbox(adele.mail))!;
    const id = mailbox.subscriptionId!;
    sim.faults.clear();
    await makeDue(id);
    const before = sim.subscriptions().find((s) => s.id === id)!.expirationDateTime;
    const report = await runMaintenance(host.services);
    expect(report.leaseHeld).toBe(true);
    expect(report.renewed).toBeGreaterThanOrEqual(1);
    expect(report.graphRequests).toBeGreaterThanOrEqual(1);
    const after = sim.subscriptions().find((s) => s.id === id)!.expirationDateTime;
    expect(Date.parse(after)).toBeGreaterThan(Date.now() + 6 * 24 * HOUR);
    expect(after).not.toBe(before);
  });

  it('recreates a subscription Graph no longer has (404 on renewal)', async () => {
    const mailbox = await enrol(lee);
    sim.expireSubscription(mailbox.subscriptionId!);
    await makeDue(mailbox.subscriptionId!);
    const report = await runMaintenance(host.services);
    expect(report.gone).toBe(1);
    const after = await host.services.mailboxes.getMailbox(lee.mail);
    expect(after?.subscriptionId).not.toBe(mailbox.subscriptionId);
    expect(sim.subscriptions().some((s) => s.id === after?.subscriptionId)).toBe(true);
  });

  it('records an actionable reason when Graph answers 403, and keeps the entry for later', async () => {
    const mailbox = (await host.services.mailboxes.getMailbox(alex.mail))!;
    await makeDue(mailbox.subscriptionId!);
    sim.faults.injectStatus({ method: 'PATCH', pathIncludes: '/subscriptions/' }, 403, {
      inBatchMembers: true,
    });
    const report = await runMaintenance(host.services);
    sim.faults.clear();
    expect(report.forbidden).toBe(1);
    const after = await host.services.mailboxes.getMailbox(alex.mail);
    expect(after?.subscriptionError).toMatch(/Mail\.Read|application access policy/);
  });

  it('honours a member 429 with Retry-After and renews on retry', async () => {
    const mailbox = (await host.services.mailboxes.getMailbox(megan.mail))!;
    await makeDue(mailbox.subscriptionId!);
    const before = sim.subscriptions().find((s) => s.id === mailbox.subscriptionId)!.expirationDateTime;
    sim.faults.injectStatus({ method: 'PATCH', pathIncludes: '/subscriptions/' }, 429, {
      inBatchMembers: true,
      retryAfterSeconds: 1,
    });
    const report = await runMaintenance(host.services);
    sim.faults.clear();
    expect(report.throttled).toBe(1);
    expect(report.retried).toBe(1);
    // The entry was put back for after Retry-After (a later run, or later in this one).
    let renewed = report.renewed;
    for (let run = 0; renewed === 0 && run < 5; run++) {
      await new Promise((r) => setTimeout(r, 1100));
      renewed = (await runMaintenance(host.services)).renewed;
    }
    expect(renewed).toBe(1);
    const after = sim.subscriptions().find((s) => s.id === mailbox.subscriptionId)!.expirationDateTime;
    expect(after).not.toBe(before);
  });

  it('does nothing while another run holds the lease', async () => {
    const lease = await host.services.leases.acquire('subscription-renewal', 'other-run', 60_000, Date.now());
    expect(lease).toBeDefined();
    const report = await runMaintenance(host.services);
    expect(report.leaseHeld).toBe(false);
    expect(report.renewed).toBe(0);
    await host.services.leases.release(lease!);
  });
});
