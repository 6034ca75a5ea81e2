/**
 * Directory states the control plane must handle, over HTTPS: generated users, users in every
 * mailbox state (on premises, outside the access policy, no mailbox), consent (app permissions),
 * user lookup by id / UPN / `$filter`, and the control calls that set all of it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ACCESS_POLICY_MESSAGE,
  DEFAULT_APP_ROLES,
  DEMO_TENANT,
  DIRECTORY_DENIED_MESSAGE,
  MAIL_ACCESS_DENIED_MESSAGE,
  MAILBOX_NOT_ENABLED_MESSAGE,
  generatedUser,
  generatedUsers,
  type GraphSimulator,
} from '../../../dev/sim/graph/index.js';
import {
  demoCredential,
  graph,
  GRAPH_SCOPE,
  inboxResource,
  startWebhook,
  subscriptionBody,
  type Webhook,
} from './helpers.js';
import { startTrustedSimulator } from '../../support/graph-sim.js';

let sim: GraphSimulator;
let token: string;
let webhook: Webhook;

/** The ids of a collection answer. */
const ids = (body: unknown): string[] => (body as { value: { id: string }[] }).value.map((u) => u.id);

/** A control call on the simulator's unauthenticated surface. */
async function control(method: string, path: string, body?: unknown) {
  const res = await fetch(`${sim.url}/_simulator${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

beforeAll(async () => {
  sim = await startTrustedSimulator({ generatedUsers: 200 });
  token = (await demoCredential(sim).getToken(GRAPH_SCOPE)).token;
  webhook = await startWebhook();
});

afterEach(() => {
  sim.setPermissions(DEMO_TENANT.tenantId, DEMO_TENANT.clientId, DEFAULT_APP_ROLES);
  sim.faults.clear();
});

afterAll(async () => {
  await webhook?.close();
  await sim?.stop();
});

const HEALTHY = generatedUser(1);
const ON_PREMISES = generatedUser(10);
const OUTSIDE_POLICY = generatedUser(5);
const NO_MAILBOX = generatedUser(7);
const DISABLED = generatedUser(9);

describe('generated users', () => {
  it('are deterministic: ids, addresses and states depend only on the index', () => {
    expect(generatedUser(1)).toEqual(generatedUser(1));
    expect(HEALTHY).toMatchObject({
      mail: 'user0001@contoso.example',
      mailbox: 'exchangeOnline',
      outsideAccessPolicy: false,
      accountEnabled: true,
    });
    expect(HEALTHY.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(ON_PREMISES.mailbox).toBe('onPremises');
    expect(OUTSIDE_POLICY.outsideAccessPolicy).toBe(true);
    expect(NO_MAILBOX.mailbox).toBe('none');
    expect(DISABLED.accountEnabled).toBe(false);
    const all = generatedUsers(200);
    expect(new Set(all.map((u) => u.id)).size).toBe(200);
    expect(all.filter((u) => u.mailbox === 'onPremises')).toHaveLength(20);
    expect(all.filter((u) => u.outsideAccessPolicy)).toHaveLength(20);
    expect(all.filter((u) => u.mailbox === 'none')).toHaveLength(4);
    expect(all.filter((u) => !u.accountEnabled)).toHaveLength(2);
  });

  it('exist in the demo tenant besides the five demo users', async () => {
    const last = generatedUser(200, 200);
    const got = await graph(sim, token, 'GET', `/users/${last.id}?$select=id,mail,userPrincipalName`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: last.id, mail: last.mail, userPrincipalName: last.mail });
    const demo = await graph(sim, token, 'GET', `/users/${DEMO_TENANT.users[0].mail}`);
    expect(demo.status).toBe(200);
    const all = await graph(sim, token, 'GET', '/users?$top=999&$select=id');
    expect(all.body.value).toHaveLength(205);
  });

  it('needs seed: true', async () => {
    const { startGraphSimulator } = await import('../../../dev/sim/graph/index.js');
    await expect(startGraphSimulator({ generatedUsers: 3 })).rejects.toThrow(/seed/);
  });
});

describe('mailbox states on mail routes', () => {
  it('a healthy mailbox answers 200', async () => {
    const folder = await graph(sim, token, 'GET', `/users/${HEALTHY.id}/mailFolders('Inbox')`);
    expect(folder.status).toBe(200);
  });

  it('on premises (hybrid): 404 MailboxNotEnabledForRESTAPI on folder, messages and delta', async () => {
    for (const path of [
      `/users/${ON_PREMISES.id}/mailFolders('Inbox')`,
      `/users/${ON_PREMISES.mail}/messages`,
      `/users/${ON_PREMISES.id}/mailFolders('Inbox')/messages/delta`,
    ]) {
      const got = await graph(sim, token, 'GET', path);
      expect(got.status, path).toBe(404);
      expect(got.body.error).toMatchObject({
        code: 'MailboxNotEnabledForRESTAPI',
        message: MAILBOX_NOT_ENABLED_MESSAGE,
      });
    }
  });

  it('no mailbox: the same 404 on mail routes; the user object tells it from on premises', async () => {
    const messages = await graph(sim, token, 'GET', `/users/${NO_MAILBOX.id}/messages`);
    expect(messages.status).toBe(404);
    expect(messages.body.error.code).toBe('MailboxNotEnabledForRESTAPI');

    const select = '$select=id,onPremisesSyncEnabled,assignedLicenses';
    const unlicensed = await graph(sim, token, 'GET', `/users/${NO_MAILBOX.id}?${select}`);
    expect(unlicensed.body).toMatchObject({ onPremisesSyncEnabled: null, assignedLicenses: [] });
    const hybrid = await graph(sim, token, 'GET', `/users/${ON_PREMISES.id}?${select}`);
    expect(hybrid.body.onPremisesSyncEnabled).toBe(true);
    const cloud = await graph(sim, token, 'GET', `/users/${HEALTHY.id}?${select}`);
    expect(cloud.body.onPremisesSyncEnabled).toBeNull();
    expect(cloud.body.assignedLicenses).toHaveLength(1);
  });

  it('outside the application access policy: 403 ErrorAccessDenied "Access to OData is disabled"', async () => {
    const got = await graph(sim, token, 'GET', `/users/${OUTSIDE_POLICY.id}/mailFolders/inbox/messages`);
    expect(got.status).toBe(403);
    expect(got.body.error).toMatchObject({ code: 'ErrorAccessDenied', message: ACCESS_POLICY_MESSAGE });
    // The user itself is still readable (the policy only covers mailbox data).
    expect((await graph(sim, token, 'GET', `/users/${OUTSIDE_POLICY.id}`)).status).toBe(200);
  });

  it('a disabled account keeps its mailbox; accountEnabled says false', async () => {
    expect((await graph(sim, token, 'GET', `/users/${DISABLED.id}/messages`)).status).toBe(200);
    const user = await graph(sim, token, 'GET', `/users/${DISABLED.id}?$select=accountEnabled`);
    expect(user.body.accountEnabled).toBe(false);
  });

  it('subscription creation fails as Graph wraps the mailbox error (ExtensionError)', async () => {
    const onPrem = await graph(
      sim,
      token,
      'POST',
      '/subscriptions',
      subscriptionBody(ON_PREMISES.id, webhook.url),
    );
    expect(onPrem.status).toBe(404);
    expect(onPrem.body.error.code).toBe('ExtensionError');
    expect(onPrem.body.error.message).toBe(
      `Operation: Create; Exception: [Status Code: NotFound; Reason: ${MAILBOX_NOT_ENABLED_MESSAGE}]`,
    );
    const noMailbox = await graph(
      sim,
      token,
      'POST',
      '/subscriptions',
      subscriptionBody(NO_MAILBOX.id, webhook.url),
    );
    expect(noMailbox.status).toBe(404);
    const policy = await graph(
      sim,
      token,
      'POST',
      '/subscriptions',
      subscriptionBody(OUTSIDE_POLICY.id, webhook.url),
    );
    expect(policy.status).toBe(403);
    expect(policy.body.error.message).toBe(
      `Operation: Create; Exception: [Status Code: Forbidden; Reason: ${ACCESS_POLICY_MESSAGE}]`,
    );
    // Refused before the handshake: nothing reached the webhook, nothing was created.
    expect(sim.subscriptionCounts().byUser[ON_PREMISES.id]).toBeUndefined();
    expect(webhook.requests).toHaveLength(0);
  });

  it('deliverMail refuses a mailbox Exchange Online does not host', () => {
    expect(() => sim.deliverMail(ON_PREMISES.mail)).toThrow(/no Exchange Online mailbox/);
  });
});

describe('permissions (consent)', () => {
  it('the demo app is granted Mail.Read, User.Read.All, GroupMember.Read.All and Mail.Send', () => {
    expect(DEFAULT_APP_ROLES).toEqual(['Mail.Read', 'User.Read.All', 'GroupMember.Read.All', 'Mail.Send']);
  });

  it('without Mail.Read: 403 ErrorAccessDenied "Access is denied" on reads, ExtensionError on create', async () => {
    sim.setPermissions(DEMO_TENANT.tenantId, DEMO_TENANT.clientId, ['User.Read.All']);
    const read = await graph(sim, token, 'GET', `/users/${HEALTHY.id}/messages`);
    expect(read.status).toBe(403);
    expect(read.body.error).toMatchObject({ code: 'ErrorAccessDenied', message: MAIL_ACCESS_DENIED_MESSAGE });
    // Distinguishable from the access policy by the message, as in Graph.
    expect(read.body.error.message).not.toBe(ACCESS_POLICY_MESSAGE);
    const create = await graph(
      sim,
      token,
      'POST',
      '/subscriptions',
      subscriptionBody(HEALTHY.id, webhook.url),
    );
    expect(create.status).toBe(403);
    expect(create.body.error.code).toBe('ExtensionError');
    expect(create.body.error.message).toContain(MAIL_ACCESS_DENIED_MESSAGE);
    // Consent missing wins over the mailbox state: the app cannot learn about the mailbox at all.
    const policy = await graph(sim, token, 'GET', `/users/${OUTSIDE_POLICY.id}/messages`);
    expect(policy.body.error.message).toBe(MAIL_ACCESS_DENIED_MESSAGE);
  });

  it('without User.Read.All: 403 Authorization_RequestDenied on /users', async () => {
    sim.setPermissions(DEMO_TENANT.tenantId, DEMO_TENANT.clientId, ['Mail.Read']);
    for (const path of [`/users/${HEALTHY.id}`, `/users?$filter=mail eq '${HEALTHY.mail}'`]) {
      const got = await graph(sim, token, 'GET', path);
      expect(got.status, path).toBe(403);
      expect(got.body.error).toMatchObject({
        code: 'Authorization_RequestDenied',
        message: DIRECTORY_DENIED_MESSAGE,
      });
    }
    expect((await graph(sim, token, 'GET', `/users/${HEALTHY.id}/messages`)).status).toBe(200);
  });

  it('a new token carries the granted roles; an app with none gets no roles claim', async () => {
    sim.setPermissions(DEMO_TENANT.tenantId, DEMO_TENANT.clientId, []);
    const bare = (await demoCredential(sim).getToken(GRAPH_SCOPE)).token;
    const claims = JSON.parse(Buffer.from(bare.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >;
    expect(claims.roles).toBeUndefined();
    expect((await graph(sim, bare, 'GET', `/users/${HEALTHY.id}`)).status).toBe(403);
  });

  it("permissionsFrom 'token' reads the token's roles, as Graph does", async () => {
    const strict = await startTrustedSimulator({ permissionsFrom: 'token' });
    try {
      const old = (await demoCredential(strict).getToken(GRAPH_SCOPE)).token;
      strict.setPermissions(DEMO_TENANT.tenantId, DEMO_TENANT.clientId, ['User.Read.All']);
      const user = DEMO_TENANT.users[0].id;
      expect((await graph(strict, old, 'GET', `/users/${user}/messages`)).status).toBe(200);
      const fresh = (await demoCredential(strict).getToken(GRAPH_SCOPE)).token;
      expect((await graph(strict, fresh, 'GET', `/users/${user}/messages`)).status).toBe(403);
    } finally {
      await strict.stop();
    }
  });

  it('PUT /_simulator/permissions sets them over the wire', async () => {
    const put = await control('PUT', '/permissions', { roles: ['Mail.Read'] });
    expect(put.status).toBe(200);
    expect((await graph(sim, token, 'GET', `/users/${HEALTHY.id}`)).status).toBe(403);
    expect((await control('PUT', '/permissions', { roles: 'Mail.Read' })).status).toBe(400);
    expect((await control('PUT', '/permissions', { roles: [], clientId: DEMO_TENANT.tenantId })).status).toBe(
      400,
    );
  });
});

describe('users lookup', () => {
  it('GET /users/{id | UPN} with $select; default properties without it; 404 for unknown', async () => {
    const byUpn = await graph(
      sim,
      token,
      'GET',
      `/users/${encodeURIComponent(HEALTHY.mail.toUpperCase())}?$select=id,mail,userPrincipalName,displayName,accountEnabled`,
    );
    expect(byUpn.status).toBe(200);
    expect(byUpn.body).toMatchObject({
      id: HEALTHY.id,
      mail: HEALTHY.mail,
      userPrincipalName: HEALTHY.mail,
      displayName: HEALTHY.displayName,
      accountEnabled: true,
    });
    const plain = await graph(sim, token, 'GET', `/users/${HEALTHY.id}`);
    expect(plain.body).not.toHaveProperty('accountEnabled');
    expect(plain.body).toHaveProperty('businessPhones');

    const unknown = await graph(sim, token, 'GET', '/users/nobody@contoso.example');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('Request_ResourceNotFound');
    const bad = await graph(sim, token, 'GET', `/users/${HEALTHY.id}?$select=shoeSize`);
    expect(bad.status).toBe(400);
  });

  it("GET /users?$filter=mail eq '...' (case-insensitive), userPrincipalName, proxyAddresses/any", async () => {
    const mail = await graph(
      sim,
      token,
      'GET',
      `/users?$filter=mail eq '${HEALTHY.mail.toUpperCase()}'&$select=id,mail`,
    );
    expect(mail.status).toBe(200);
    expect(mail.body.value).toEqual([{ id: HEALTHY.id, mail: HEALTHY.mail }]);
    const upn = await graph(sim, token, 'GET', `/users?$filter=userPrincipalName eq '${ON_PREMISES.mail}'`);
    expect(ids(upn.body)).toEqual([ON_PREMISES.id]);
    const proxy = await graph(
      sim,
      token,
      'GET',
      `/users?$filter=${encodeURIComponent(`proxyAddresses/any(x:x eq 'smtp:${HEALTHY.mail}')`)}`,
    );
    expect(ids(proxy.body)).toEqual([HEALTHY.id]);
    const both = await graph(
      sim,
      token,
      'GET',
      `/users?$filter=mail eq '${HEALTHY.mail}' or mail eq '${NO_MAILBOX.mail}'`,
    );
    expect(both.body.value).toHaveLength(2);
    const none = await graph(sim, token, 'GET', "/users?$filter=mail eq 'nobody@contoso.example'");
    expect(none.status).toBe(200);
    expect(none.body.value).toEqual([]);
    const unsupported = await graph(sim, token, 'GET', "/users?$filter=startswith(displayName,'A')");
    expect(unsupported.status).toBe(400);
    expect(unsupported.body.error.code).toBe('Request_UnsupportedQuery');
  });

  it('GET /users pages with @odata.nextLink (default 100)', async () => {
    const first = await graph(sim, token, 'GET', '/users?$select=id');
    expect(first.body.value).toHaveLength(100);
    const seen = new Set<string>(ids(first.body));
    let next = first.body['@odata.nextLink'] as string | undefined;
    while (next) {
      const page = await graph(sim, token, 'GET', next);
      expect(page.status).toBe(200);
      for (const u of page.body.value as { id: string }[]) seen.add(u.id);
      next = page.body['@odata.nextLink'] as string | undefined;
    }
    expect(seen.size).toBe(205);
    expect((await graph(sim, token, 'GET', '/users?$top=1000')).status).toBe(400);
  });

  it('answers 429 with Retry-After when a fault is injected on the new routes', async () => {
    sim.faults.injectStatus({ pathIncludes: '/users?' }, 429, { retryAfterSeconds: 3 });
    const throttled = await graph(sim, token, 'GET', `/users?$filter=mail eq '${HEALTHY.mail}'`);
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('3');
    expect((await graph(sim, token, 'GET', `/users?$filter=mail eq '${HEALTHY.mail}'`)).status).toBe(200);
  });
});

describe('user control calls', () => {
  it('POST /_simulator/users adds a user with flags; PATCH changes them; Graph follows', async () => {
    const created = await control('POST', '/users', {
      mail: 'hybrid.person@contoso.example',
      displayName: 'Hybrid Person',
      mailbox: 'onPremises',
    });
    expect(created.status).toBe(201);
    const id = created.body?.id as string;
    expect(created.body).toMatchObject({
      mail: 'hybrid.person@contoso.example',
      userPrincipalName: 'hybrid.person@contoso.example',
      mailbox: 'onPremises',
      outsideAccessPolicy: false,
      accountEnabled: true,
    });
    expect((await graph(sim, token, 'GET', `/users/${id}/messages`)).status).toBe(404);

    // Migrated to Exchange Online, then taken out of the access policy.
    const moved = await control('PATCH', `/users/${encodeURIComponent('hybrid.person@contoso.example')}`, {
      mailbox: 'exchangeOnline',
    });
    expect(moved.status).toBe(200);
    expect((await graph(sim, token, 'GET', `/users/${id}/messages`)).status).toBe(200);
    await control('PATCH', `/users/${id}`, { outsideAccessPolicy: true, accountEnabled: false });
    const blocked = await graph(sim, token, 'GET', `/users/${id}/messages`);
    expect(blocked.status).toBe(403);
    expect(blocked.body.error.message).toBe(ACCESS_POLICY_MESSAGE);
    expect((await control('GET', `/users/${id}`)).body).toMatchObject({
      accountEnabled: false,
      outsideAccessPolicy: true,
    });
  });

  it('rejects bad input and unknown users', async () => {
    expect((await control('POST', '/users', { displayName: 'no mail' })).status).toBe(400);
    expect((await control('POST', '/users', { mail: 'x@contoso.example', mailbox: 'mars' })).status).toBe(
      400,
    );
    expect((await control('POST', '/users', { mail: HEALTHY.mail })).status).toBe(400);
    expect((await control('PATCH', '/users/nobody@contoso.example', { mailbox: 'none' })).status).toBe(404);
    expect((await control('PATCH', `/users/${HEALTHY.id}`, { accountEnabled: 'yes' })).status).toBe(400);
  });
});

it('inboxResource helper matches what subscriptionCounts normalises to', () => {
  expect(inboxResource(HEALTHY.id)).toBe(`users/${HEALTHY.id}/mailFolders('Inbox')/messages`);
});
