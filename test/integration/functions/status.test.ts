import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../../dev/local/host.js';
import { DEMO_TENANT, generatedUser } from '../../../dev/sim/graph/demo.js';
import { runMaintenance } from '../../../shared/app/maintenance.js';
import type { StatusReporter } from '../../../shared/admin/status.js';
import { nextRenewalBucket, renewalBucketOf } from '../../../shared/domain/renewal/buckets.js';
import { startTestHost } from '../../support/test-host.js';

/**
 * `GET /api/manage/status` over the wire: the local runner with the simulated tenant, Azurite and
 * the AMQP stand-in (which has no management API: the dead-letter count is null with a detail).
 */
let host: LocalHost;
let adminToken: string;
const [adele] = DEMO_TENANT.users;

interface Status {
  verdict: string;
  reasons: string[];
  version: string;
  settings: Record<string, string>;
  credential: Record<string, unknown>;
  mailboxes: { byState: Record<string, number>; total: number; countedAt: string };
  subscriptions: { expired: number; within24h: number; within72h: number; countedAt: string };
  maintenance: { lastRun?: Record<string, unknown>; nextRunAt?: string; stale: boolean };
  migration: { enabled: boolean; remaining: number };
  queue: { deadLetters: number | null; detail?: string };
}

beforeAll(async () => {
  host = await startTestHost({ seedDemo: true, env: { LOCAL_SIM_USERS: '20' } });
  adminToken = await host.entraIssuer!.admin({ objectId: adele.id, upn: adele.mail });
}, 60_000);

afterAll(async () => {
  await host?.stop();
});

async function getStatus(token: string | null = adminToken): Promise<Response> {
  return fetch(`${host.url}/api/manage/status`, {
    headers: token !== null ? { authorization: `Bearer ${token}` } : {},
  });
}

async function status(): Promise<Status> {
  const res = await getStatus();
  const text = await res.text();
  expect(res.status, text).toBe(200);
  expect(text).not.toContain(DEMO_TENANT.clientSecret);
  expect(text).not.toMatch(/clientState|eyJ[A-Za-z0-9_-]{10,}\./);
  for (const sub of host.graphSimulator!.subscriptions())
    if (sub.clientState) expect(text).not.toContain(sub.clientState);
  return JSON.parse(text) as Status;
}

describe('status: authorisation', () => {
  it('refuses without a token (401) and without the MailPush.Admin role (403)', async () => {
    const none = await getStatus(null);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    const noRole = await getStatus(await host.entraIssuer!.mint({ objectId: adele.id, upn: adele.mail }));
    expect(noRole.status).toBe(403);
    expect(((await noRole.json()) as { error: { code: string } }).error.code).toBe('missing_role');
  });
});

describe('status: the document', () => {
  it('is critical while the maintenance timer has never run', async () => {
    const doc = await status();
    expect(doc.maintenance.stale).toBe(true);
    expect(doc.verdict).toBe('critical');
    expect(doc.reasons.join(' ')).toContain('maintenance timer has never run');
  });

  it('after a run: counts by state, subscriptions, credential card, settings hidden, dead letters null', async () => {
    // A failed mailbox (outside the access policy, out of attempts) makes a warning.
    const failing = generatedUser(5, 20).mail;
    const enrol = await fetch(`${host.url}/api/manage/mailboxes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ email: failing }),
    });
    expect([201, 400, 403, 409, 422]).toContain(enrol.status);
    await runMaintenance(host.services);
    // Counts are kept for a minute: this host's reporter counted before the run.
    const doc = await freshStatus();
    expect(doc.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(doc.maintenance.stale).toBe(false);
    expect(doc.maintenance.lastRun).toMatchObject({
      renewed: expect.any(Number),
      created: expect.any(Number),
    });
    expect(typeof doc.maintenance.nextRunAt).toBe('string');
    expect(doc.mailboxes.byState.active).toBe(DEMO_TENANT.users.length);
    expect(doc.mailboxes.total).toBeGreaterThanOrEqual(DEMO_TENANT.users.length);
    expect(Date.parse(doc.mailboxes.countedAt)).not.toBeNaN();
    expect(doc.subscriptions).toMatchObject({ expired: 0 });
    expect(doc.credential).toEqual({ type: 'secret', status: 'unknown' });
    expect(doc.settings.GRAPH_CLIENT_SECRET ?? '(set, hidden)').toBe('(set, hidden)');
    expect(doc.queue.deadLetters).toBeNull();
    expect(doc.queue.detail).toMatch(/dead-letter count unavailable/);
    expect(doc.migration).toMatchObject({ enabled: false });
    expect(['ok', 'warning']).toContain(doc.verdict);
  }, 30_000);

  it('is critical when a subscription expired without renewal', async () => {
    const sub = host.graphSimulator!.subscriptions()[0]!;
    const stored = await host.services.subscriptions.getSubscription(sub.id);
    expect(stored).toBeDefined();
    // Move its schedule entry's expiry into the past, as if the timer had stopped for a week.
    const entry = await findEntry(sub.id);
    const expiresAt = Date.now() - 60_000;
    // Due now (at or after the schedule's cursor) but already past its expiry: the timer stalled.
    await host.services.renewalSchedule.upsertEntry({ ...entry, expiresAt, dueAt: Date.now() });
    const doc = await freshStatus();
    expect(doc.subscriptions.expired).toBeGreaterThanOrEqual(1);
    expect(doc.verdict).toBe('critical');
    expect(doc.reasons.join(' ')).toMatch(/expired without being renewed/);
  });

  // Last: the app's secrets are deleted in the simulated tenant.
  it('is critical when the credential cannot get a token (AADSTS7000215)', async () => {
    host.graphSimulator!.removeApplicationSecrets(DEMO_TENANT.tenantId, DEMO_TENANT.clientId);
    const doc = await freshStatus();
    expect(doc.verdict).toBe('critical');
    expect(doc.reasons.join(' ')).toContain('AADSTS7000215');
    expect(doc.reasons.join(' ')).toContain('GRAPH_CLIENT_SECRET');
  });
});

/** The reporter keeps counts and the token check for a minute: let this test see fresh ones. */
async function freshStatus(): Promise<Status> {
  (host.services.adminApi.status as StatusReporter).invalidate();
  return status();
}

async function findEntry(subscriptionId: string) {
  const cursor = await host.services.renewalSchedule.getCursor();
  let bucket = cursor?.bucket ?? renewalBucketOf(Date.now() - 3_600_000);
  for (let i = 0; i < 3000; i++) {
    const entries = await host.services.renewalSchedule.listBucket(bucket);
    const found = entries.find((e) => e.subscriptionId === subscriptionId);
    if (found) {
      return {
        subscriptionId: found.subscriptionId,
        tenantId: found.tenantId,
        dueAt: found.dueAt,
        expiresAt: found.expiresAt,
        attempts: found.attempts,
      };
    }
    bucket = nextRenewalBucket(bucket);
  }
  throw new Error(`no schedule entry for ${subscriptionId}`);
}
