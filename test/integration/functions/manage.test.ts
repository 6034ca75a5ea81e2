import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalHost } from '../../../dev/local/host.js';
import { DEMO_TENANT, generatedUsers } from '../../../dev/sim/graph/demo.js';
import { runMaintenance } from '../../../shared/app/maintenance.js';
import { startTestHost } from '../../support/test-host.js';

/**
 * The admin API (`/api/manage/...`) over the wire through the local runner: tokens from the local
 * Entra issuer, mailboxes in Azurite, Graph work against the simulated tenant (which performs the
 * real validation handshake against the runner's webhook). The timer is run by hand.
 */
let host: LocalHost;
let adminToken: string;
const [adele, alex, megan] = DEMO_TENANT.users;
const USERS = 120;
const generated = generatedUsers(USERS);
const operator = { objectId: adele.id, upn: adele.mail };

beforeAll(async () => {
  host = await startTestHost({ startQueueTriggers: false, env: { LOCAL_SIM_USERS: String(USERS) } });
  adminToken = await host.entraIssuer!.admin(operator);
});

afterAll(async () => {
  await host?.stop();
});

function call(
  method: string,
  path: string,
  options: { token?: string | null; body?: unknown; contentType?: string } = {},
) {
  const token = options.token === undefined ? adminToken : options.token;
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['content-type'] = options.contentType ?? 'application/json';
  }
  return fetch(`${host.url}/api/manage/${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
  });
}

async function errorCode(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

const maintenance = (now = Date.now()) => runMaintenance(host.services, () => {}, { now: () => now });

describe('admin API authorisation', () => {
  const routes: [string, string][] = [
    ['GET', 'mailboxes'],
    ['POST', 'mailboxes'],
    ['POST', 'mailboxes/import'],
    ['GET', 'mailboxes/adele.vance%40contoso.example'],
    ['PATCH', 'mailboxes/adele.vance%40contoso.example'],
    ['DELETE', 'mailboxes/adele.vance%40contoso.example'],
    ['GET', 'migration'],
    ['PUT', 'migration'],
    ['POST', 'migration/retry-failed'],
  ];

  it('refuses every route without a token (401 + WWW-Authenticate) and changes nothing', async () => {
    for (const [method, path] of routes) {
      const res = await call(method, path, {
        token: null,
        ...(method === 'GET' || method === 'DELETE' ? {} : { body: {} }),
      });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    }
    expect(await host.services.mailboxes.getMailbox(adele.mail)).toBeUndefined();
  });

  it('refuses expired, wrong-audience and wrong-tenant tokens with 401', async () => {
    const issuer = host.entraIssuer!;
    const bad = {
      expired: await issuer.admin(operator, { expiresInSec: -600 }),
      wrong_audience: await issuer.admin(operator, { claims: { aud: 'api://another-api' } }),
      wrong_issuer: await issuer.admin(operator, {
        claims: {
          iss: `${issuer.authorityHost}/11111111-2222-4333-8444-555555555555/v2.0`,
          tid: '11111111-2222-4333-8444-555555555555',
        },
      }),
    };
    for (const [method, path] of routes) {
      for (const [code, token] of Object.entries(bad)) {
        const res = await call(method, path, {
          token,
          ...(method === 'GET' || method === 'DELETE' ? {} : { body: {} }),
        });
        expect(res.status, `${method} ${path} ${code}`).toBe(401);
        expect(await errorCode(res)).toBe(code);
        expect(res.headers.get('www-authenticate')).toContain('invalid_token');
      }
    }
  });

  it('refuses a valid token without the MailPush.Admin role with 403 naming the role', async () => {
    const userToken = await host.entraIssuer!.mint(operator);
    for (const [method, path] of routes) {
      const res = await call(method, path, {
        token: userToken,
        ...(method === 'GET' || method === 'DELETE' ? {} : { body: {} }),
      });
      expect(res.status, `${method} ${path}`).toBe(403);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('missing_role');
      expect(body.error.message).toContain('MailPush.Admin');
    }
  });

  it('accepts an app-only token carrying the role (automation)', async () => {
    const appToken = await host.entraIssuer!.app('5e3ce6c0-2b1f-4285-8d4b-75ee78787346');
    const res = await call('GET', 'migration', { token: appToken });
    expect(res.status).toBe(200);
  });
});

describe('enrolment', () => {
  it('enrols one mailbox (201), again is 200 with its state; the timer creates its subscription', async () => {
    const first = await call('POST', 'mailboxes', {
      body: { email: adele.mail.toUpperCase(), privacy: 'subject' },
    });
    expect(first.status).toBe(201);
    const view = (await first.json()) as { email: string; state: string; userId: string; privacy: string };
    expect(view).toMatchObject({ email: adele.mail, state: 'pending', userId: adele.id, privacy: 'subject' });
    const again = await call('POST', 'mailboxes', { body: { email: adele.mail } });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { state: string }).state).toBe('pending');

    const report = await maintenance();
    expect(report.mailboxes).toMatchObject({ leaseHeld: true, created: 1 });
    const detail = (await (
      await call('GET', `mailboxes/${encodeURIComponent(adele.mail)}`)
    ).json()) as Record<string, unknown>;
    expect(detail).toMatchObject({ state: 'active', devices: 0 });
    expect(typeof detail.subscriptionExpiresAt).toBe('string');
    expect(JSON.stringify(detail)).not.toMatch(/clientState|deltaLink/);
    expect(host.graphSimulator!.subscriptionCounts().duplicates).toBe(0);
  });

  it('answers 404 user_not_found for an address the tenant does not know, storing nothing', async () => {
    const res = await call('POST', 'mailboxes', { body: { email: 'nobody@contoso.example' } });
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe('user_not_found');
    expect(await host.services.mailboxes.getMailbox('nobody@contoso.example')).toBeUndefined();
  });

  it('rejects bad bodies with 400 and changes nothing', async () => {
    for (const body of [
      {},
      { email: 'not-an-address' },
      { email: alex.mail, transport: 'imap' },
      { email: alex.mail, extra: 1 },
      '[]',
      '{',
    ]) {
      const res = await call('POST', 'mailboxes', { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    const wrongType = await call('POST', 'mailboxes', {
      body: { email: alex.mail },
      contentType: 'text/plain',
    });
    expect(wrongType.status).toBe(400);
    expect(await host.services.mailboxes.getMailbox(alex.mail)).toBeUndefined();
  });

  it('imports CSV: per-row outcomes (accepted, unchanged, invalid with row numbers), no Graph call per row', async () => {
    const before = host.graphSimulator!.stats().requests;
    const csv = [
      'Email,Privacy',
      alex.mail,
      adele.mail,
      'broken',
      megan.mail.toUpperCase() + ',minimal',
      alex.mail,
      '',
    ].join('\r\n');
    const res = await call('POST', 'mailboxes/import', { body: csv, contentType: 'text/csv' });
    expect(res.status).toBe(200);
    const report = (await res.json()) as Record<string, unknown>;
    expect(report).toMatchObject({ format: 'csv', rows: 5, accepted: 2, unchanged: 1, invalid: 2 });
    expect(report.errors).toEqual([
      { row: 4, reason: 'email is not an address like name@domain' },
      { row: 6, reason: 'duplicate of an earlier row' },
    ]);
    expect(report.outcomes).toEqual([
      { row: 2, email: alex.mail, outcome: 'accepted' },
      { row: 3, email: adele.mail, outcome: 'unchanged' },
      { row: 5, email: megan.mail, outcome: 'accepted' },
    ]);
    expect(host.graphSimulator!.stats().requests).toBe(before);
    expect((await host.services.mailboxes.getMailbox(megan.mail))?.privacyMode).toBe('minimal');
  });

  it('refuses a CSV without a header row with 400, writing nothing', async () => {
    const res = await call('POST', 'mailboxes/import', {
      body: 'lee.gu@contoso.example\n',
      contentType: 'text/csv',
    });
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('invalid_import');
    expect(await host.services.mailboxes.getMailbox('lee.gu@contoso.example')).toBeUndefined();
  });

  it('lists with filters and pages; PATCH changes privacy; DELETE unenrols and deletes the Graph subscription', async () => {
    const page = (await (await call('GET', 'mailboxes?state=pending&pageSize=1')).json()) as {
      mailboxes: { email: string; state: string }[];
      continuationToken?: string;
    };
    expect(page.mailboxes.every((m) => m.state === 'pending')).toBe(true);
    const prefix = (await (await call('GET', 'mailboxes?prefix=adele')).json()) as {
      mailboxes: { email: string }[];
    };
    expect(prefix.mailboxes.map((m) => m.email)).toEqual([adele.mail]);
    expect((await call('GET', 'mailboxes?state=bogus')).status).toBe(400);

    const patched = await call('PATCH', `mailboxes/${encodeURIComponent(adele.mail)}`, {
      body: { privacy: 'minimal' },
    });
    expect(patched.status).toBe(200);
    expect(((await patched.json()) as { privacy: string }).privacy).toBe('minimal');

    const subscriptionId = (await host.services.mailboxes.getMailbox(adele.mail))!.subscriptionId!;
    expect(host.graphSimulator!.subscriptionCounts().byUser[adele.id] ?? 0).toBe(1);
    const removed = await call('DELETE', `mailboxes/${encodeURIComponent(adele.mail)}`);
    expect(removed.status).toBe(204);
    expect(await host.services.mailboxes.getMailbox(adele.mail)).toBeUndefined();
    expect(await host.services.subscriptions.getSubscription(subscriptionId)).toBeUndefined();
    expect(host.graphSimulator!.subscriptionCounts().byUser[adele.id] ?? 0).toBe(0);
    expect((await call('DELETE', `mailboxes/${encodeURIComponent(adele.mail)}`)).status).toBe(204);
    expect((await call('GET', `mailboxes/${encodeURIComponent(adele.mail)}`)).status).toBe(404);
  });
});

describe('EWS → Graph migration', () => {
  it('moves at most MIGRATION_BATCH_SIZE (50) per run once switched on; failures end in the right state', async () => {
    const jsonl = generated.map((u) => JSON.stringify({ email: u.mail, transport: 'ews' })).join('\n');
    const imported = await call('POST', 'mailboxes/import', {
      body: jsonl,
      contentType: 'application/x-ndjson',
    });
    expect(((await imported.json()) as { accepted: number }).accepted).toBe(USERS);

    // Switch off: nothing moves.
    let report = await maintenance();
    expect(report.mailboxes).toMatchObject({ migrated: 0 });

    const on = await call('PUT', 'migration', { body: { enabled: true } });
    expect(on.status).toBe(200);
    expect(await on.json()).toMatchObject({ enabled: true, updatedBy: adele.mail });

    // 120 mailboxes, 50 a run: every mailbox is reached once in the first three runs; failed ones
    // come back after their backoff, within the same 50.
    let now = Date.now();
    const perRun: number[] = [];
    for (let run = 0; run < 3; run++) {
      report = await maintenance(now);
      const work = report.mailboxes as {
        migrated: number;
        finalFailures: number;
        failures: Record<string, number>;
      };
      perRun.push(work.migrated + Object.values(work.failures).reduce((a, b) => a + b, 0));
      now += 5 * 60_000;
    }
    expect(perRun.slice(0, 2)).toEqual([50, 50]);
    expect(perRun[2]).toBeLessThanOrEqual(50);

    const states = new Map<string, string>();
    for (const user of generated)
      states.set(user.mail, (await host.services.mailboxes.getMailbox(user.mail))!.state!);
    for (const user of generated) {
      const expected =
        user.mailbox === 'onPremises'
          ? 'on_premises'
          : user.outsideAccessPolicy || user.mailbox === 'none'
            ? 'ews'
            : 'active';
      expect(
        states.get(user.mail),
        `${user.mail} (${user.mailbox}, policy ${!user.outsideAccessPolicy})`,
      ).toBe(expected);
    }
    const policy = generated.find((u) => u.outsideAccessPolicy)!;
    const blocked = await host.services.mailboxes.getMailbox(policy.mail);
    expect(blocked?.failure).toBe('access_policy');
    expect(blocked?.attempts).toBeGreaterThanOrEqual(1);
    const noMailbox = generated.find((u) => u.mailbox === 'none')!;
    const unlicensed = await host.services.mailboxes.getMailbox(noMailbox.mail);
    expect(unlicensed?.failure).toBe('no_mailbox');
    expect(unlicensed?.attempts).toBeGreaterThanOrEqual(1);
    expect(host.graphSimulator!.subscriptionCounts().duplicates).toBe(0);

    const progress = (await (await call('GET', 'migration')).json()) as Record<string, unknown>;
    expect(progress).toMatchObject({ enabled: true, batchSize: 50 });
    expect(progress.remaining).toBe(
      generated.filter((u) => u.outsideAccessPolicy || u.mailbox === 'none').length,
    );

    const exported = await call(
      'GET',
      `mailboxes?transport=graph&migratedSince=${encodeURIComponent(new Date(0).toISOString())}&format=csv`,
    );
    expect(exported.headers.get('content-type')).toContain('text/csv');
    const rows = (await exported.text()).trim().split('\n');
    expect(rows[0]).toBe('email,transport,state,migratedAt,userPrincipalName');
    expect(rows.length - 1).toBe([...states.values()].filter((s) => s === 'active').length);
  });

  it('retry-failed puts on-premises mailboxes back only when asked', async () => {
    const plain = await call('POST', 'migration/retry-failed', { body: {} });
    expect(await plain.json()).toEqual({ requeued: 0 });
    const withOnPremises = await call('POST', 'migration/retry-failed', {
      body: { includeOnPremises: true },
    });
    expect(await withOnPremises.json()).toEqual({
      requeued: generated.filter((u) => u.mailbox === 'onPremises').length,
    });
    const onPremises = generated.find((u) => u.mailbox === 'onPremises')!;
    expect(await host.services.mailboxes.getMailbox(onPremises.mail)).toMatchObject({ state: 'ews' });
  });
});

describe('local sign-in (runner only)', () => {
  it('GET /local/admin-token hands out a working admin token of the simulated tenant', async () => {
    const res = await fetch(`${host.url}/local/admin-token`);
    expect(res.status).toBe(200);
    const { accessToken, user } = (await res.json()) as { accessToken: string; user: string };
    expect(user).toBe(adele.mail);
    expect((await call('GET', 'migration', { token: accessToken })).status).toBe(200);
  });
});
