import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../../dev/local/host.js';
import { DEMO_TENANT, generatedUser } from '../../../dev/sim/graph/demo.js';
import { DEFAULT_APP_ROLES } from '../../../dev/sim/graph/model.js';
import { FAILURE_TEXT } from '../../../shared/domain/enrolment/states.js';
import { runMaintenance } from '../../../shared/app/maintenance.js';
import { startTestHost } from '../../support/test-host.js';

/**
 * `POST /api/manage/connectivity-test` over the wire: the local runner with the simulated tenant
 * (its token endpoint, users in every state, the real validation handshake against our webhook),
 * the AMQP stand-in with the queue trigger running, and the local push sink. Each failure is
 * injected in the simulator.
 */
let host: LocalHost;
let adminToken: string;
const [adele, alex] = DEMO_TENANT.users;
const onPremises = generatedUser(10, 20);
const outsidePolicy = generatedUser(5, 20);
const noMailbox = generatedUser(7, 20);
const healthy = generatedUser(1, 20);

interface Step {
  name: string;
  status: 'passed' | 'failed' | 'skipped';
  durationMs: number;
  detail?: string;
  action?: string;
  handshakeMs?: number;
  latencyMs?: number;
}
interface Report {
  email: string;
  passed: boolean;
  steps: Step[];
}

beforeAll(async () => {
  host = await startTestHost({ seedDemo: true, localPushSink: true, env: { LOCAL_SIM_USERS: '20' } });
  adminToken = await host.entraIssuer!.admin({ objectId: adele.id, upn: adele.mail });
}, 60_000);

afterAll(async () => {
  await host?.stop();
});

function post(body: unknown, token: string | null = adminToken): Promise<Response> {
  return fetch(`${host.url}/api/manage/connectivity-test`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function test(body: Record<string, unknown>): Promise<Report> {
  const res = await post(body);
  const text = await res.text();
  expect(res.status, text).toBe(200);
  expectNoSecret(text);
  return JSON.parse(text) as Report;
}

function expectNoSecret(text: string): void {
  expect(text).not.toContain(DEMO_TENANT.clientSecret);
  expect(text).not.toMatch(/clientState|eyJ[A-Za-z0-9_-]{10,}\./);
  for (const sub of host.graphSimulator!.subscriptions())
    if (sub.clientState) expect(text).not.toContain(sub.clientState);
}

function step(report: Report, name: string): Step {
  const found = report.steps.find((s) => s.name === name);
  expect(found, `step ${name} in ${JSON.stringify(report)}`).toBeDefined();
  return found!;
}

describe('connectivity test: authorisation and input', () => {
  it('refuses without a token (401) and without the MailPush.Admin role (403)', async () => {
    const none = await post({ email: adele.mail }, null);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    const userToken = await host.entraIssuer!.mint({ objectId: adele.id, upn: adele.mail });
    const noRole = await post({ email: adele.mail }, userToken);
    expect(noRole.status).toBe(403);
    expect(((await noRole.json()) as { error: { code: string } }).error.code).toBe('missing_role');
  });

  it('answers 400 to bad bodies', async () => {
    const bad: unknown[] = [
      {},
      { email: 'not-an-address' },
      { email: adele.mail, sendTestMail: 'yes' },
      { email: adele.mail, steps: [] },
      { email: adele.mail, steps: ['token', 'bogus'] },
      { email: adele.mail, steps: ['token', 'token'] },
      { email: adele.mail, extra: 1 },
      '[1,2]',
      'not json',
    ];
    for (const body of bad) {
      const res = await post(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBeTruthy();
    }
    const wrongType = await fetch(`${host.url}/api/manage/connectivity-test`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'text/plain' },
      body: JSON.stringify({ email: adele.mail }),
    });
    expect(wrongType.status).toBe(400);
  });
});

describe('connectivity test: a healthy mailbox', () => {
  it('passes token, user, inbox and subscription; the test mail is skipped unless asked for', async () => {
    const before = host.graphSimulator!.subscriptions();
    const real = before.find((s) => s.userId === adele.id)!;
    expect(real).toBeDefined();
    const report = await test({ email: adele.mail.toUpperCase() });
    expect(report.email).toBe(adele.mail);
    expect(report.passed).toBe(true);
    expect(report.steps.map((s) => [s.name, s.status])).toEqual([
      ['token', 'passed'],
      ['user', 'passed'],
      ['inbox', 'passed'],
      ['subscription', 'passed'],
      ['testMail', 'skipped'],
    ]);
    expect(step(report, 'user').detail).toContain(adele.id);
    const subscription = step(report, 'subscription');
    expect(subscription.handshakeMs).toBeGreaterThanOrEqual(0);
    expect(subscription.detail).toContain('/api/notifications');
    // The handshake really reached our webhook, and the test subscription is gone again.
    expect(host.graphSimulator!.stats().validationRequests).toBeGreaterThan(0);
    const after = host.graphSimulator!.subscriptions();
    expect(after.map((s) => s.id).sort()).toEqual(before.map((s) => s.id).sort());
    // The mailbox's real subscription and its stored secret are untouched.
    const stored = await host.services.subscriptions.getSubscription(real.id);
    expect(stored?.clientState).toBe(real.clientState);
  });

  it('runs one step on its own (each step resolves what it needs)', async () => {
    for (const name of ['token', 'user', 'inbox', 'subscription']) {
      const report = await test({ email: alex.mail, steps: [name] });
      expect(report.steps.map((s) => [s.name, s.status])).toEqual([[name, 'passed']]);
      expect(report.passed).toBe(true);
    }
  });

  it('follows a test mail to the push: latency reported, the local sink recorded it', async () => {
    const report = await test({ email: adele.mail, sendTestMail: true, steps: ['testMail'] });
    const mail = step(report, 'testMail');
    expect(mail.status, JSON.stringify(mail)).toBe('passed');
    expect(mail.latencyMs).toBeGreaterThanOrEqual(0);
    expect(mail.detail).toContain('your phone should buzz now');
    const pushes = (await (await fetch(`${host.url}/local/pushes`)).json()) as {
      pushes: { mailbox: string; outcome: string }[];
    };
    expect(pushes.pushes.some((p) => p.mailbox === adele.mail && p.outcome === 'sent')).toBe(true);
    const subjects = host.graphSimulator!.messages(adele.mail).map((m) => m.subject);
    expect(subjects.some((s) => /^\[MailPush test [0-9a-f]{8}\]/.test(s ?? ''))).toBe(true);
  }, 70_000);

  it('sends the test mail to an active mailbox without devices: nothing to buzz', async () => {
    const enrol = await fetch(`${host.url}/api/manage/mailboxes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ email: healthy.mail }),
    });
    expect(enrol.status).toBe(201);
    await runMaintenance(host.services);
    const report = await test({ email: healthy.mail, sendTestMail: true });
    expect(report.passed).toBe(true);
    expect(step(report, 'testMail').detail).toContain('no device registered: nothing to buzz');
  }, 30_000);

  it('refuses the test mail for a mailbox that is not enrolled, naming what to do', async () => {
    const report = await test({ email: generatedUser(2, 20).mail, sendTestMail: true, steps: ['testMail'] });
    const mail = step(report, 'testMail');
    expect(mail.status).toBe('failed');
    expect(mail.action).toContain('Enrol the mailbox');
    expect(report.passed).toBe(false);
  });
});

describe('connectivity test: injected failures', () => {
  it('an unknown user fails at user with FAILURE_TEXT.user_not_found; the rest are skipped', async () => {
    const report = await test({ email: 'nobody@contoso.example' });
    expect(report.passed).toBe(false);
    expect(report.steps.map((s) => [s.name, s.status])).toEqual([
      ['token', 'passed'],
      ['user', 'failed'],
      ['inbox', 'skipped'],
      ['subscription', 'skipped'],
      ['testMail', 'skipped'],
    ]);
    expect(step(report, 'user').action).toBe(FAILURE_TEXT.user_not_found);
  });

  it('a mailbox outside the application access policy fails at inbox naming Test-ApplicationAccessPolicy', async () => {
    const report = await test({ email: outsidePolicy.mail });
    const inbox = step(report, 'inbox');
    expect(inbox.status).toBe('failed');
    expect(inbox.action).toContain('Test-ApplicationAccessPolicy');
    expect(inbox.action).toContain(DEMO_TENANT.clientId);
    expect(inbox.detail).toMatch(/403/);
  });

  it('an on-premises mailbox and a user without a mailbox are told apart', async () => {
    const hybrid = step(await test({ email: onPremises.mail }), 'inbox');
    expect(hybrid.status).toBe('failed');
    expect(hybrid.action).toBe(FAILURE_TEXT.on_premises);
    expect(hybrid.detail).toContain('MailboxNotEnabledForRESTAPI');
    const unlicensed = step(await test({ email: noMailbox.mail }), 'inbox');
    expect(unlicensed.action).toBe(FAILURE_TEXT.no_mailbox);
  });

  it('missing consent (no Mail.Read) fails at inbox with the consent action', async () => {
    const sim = host.graphSimulator!;
    sim.setPermissions(DEMO_TENANT.tenantId, DEMO_TENANT.clientId, ['User.Read.All', 'Mail.Send']);
    try {
      const report = await test({ email: alex.mail });
      const inbox = step(report, 'inbox');
      expect(inbox.status).toBe('failed');
      expect(inbox.action).toBe(FAILURE_TEXT.consent_missing);
      expect(step(report, 'subscription').status).toBe('skipped');
    } finally {
      sim.setPermissions(DEMO_TENANT.tenantId, DEMO_TENANT.clientId, [...DEFAULT_APP_ROLES]);
    }
  });

  it('without Mail.Send the test mail fails saying to grant Mail.Send', async () => {
    const sim = host.graphSimulator!;
    sim.setPermissions(DEMO_TENANT.tenantId, DEMO_TENANT.clientId, ['Mail.Read', 'User.Read.All']);
    try {
      const report = await test({ email: adele.mail, sendTestMail: true, steps: ['testMail'] });
      const mail = step(report, 'testMail');
      expect(mail.status).toBe('failed');
      expect(mail.action).toContain('Mail.Send');
    } finally {
      sim.setPermissions(DEMO_TENANT.tenantId, DEMO_TENANT.clientId, [...DEFAULT_APP_ROLES]);
    }
  });

  // Last: the app's secrets are deleted in the simulated tenant for the rest of this file.
  it('a wrong client secret fails at token with AADSTS7000215 and the secret action', async () => {
    host.graphSimulator!.removeApplicationSecrets(DEMO_TENANT.tenantId, DEMO_TENANT.clientId);
    const report = await test({ email: adele.mail });
    const token = step(report, 'token');
    expect(token.status).toBe('failed');
    expect(token.detail).toContain('AADSTS7000215');
    expect(token.action).toContain('GRAPH_CLIENT_SECRET');
    expect(report.steps.slice(1).every((s) => s.status === 'skipped')).toBe(true);
  });
});
