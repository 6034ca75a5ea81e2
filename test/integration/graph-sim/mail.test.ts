/** Users, messages with $select, and Inbox delta on the simulator. */
import { ClientSecretCredential } from '@azure/identity';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TENANT, type GraphSimulator } from '../../../dev/sim/graph/index.js';
import { demoToken, graph, GRAPH_SCOPE } from './helpers.js';
import { startTrustedSimulator } from '../../support/graph-sim.js';

const ADELE = DEMO_TENANT.users[0];

let sim: GraphSimulator;
let token: string;

beforeAll(async () => {
  sim = await startTrustedSimulator();
  token = await demoToken(sim);
});

afterAll(async () => {
  await sim?.stop();
});

function addUser(name: string) {
  const user = {
    id: randomUUID(),
    mail: `${name}.${randomUUID().slice(0, 8)}@contoso.example`,
    displayName: name,
  };
  sim.addUser(DEMO_TENANT.tenantId, user);
  return user;
}

describe('users and messages', () => {
  it('finds a user by id and by mail, 404 otherwise', async () => {
    const byMail = await graph(sim, token, 'GET', `/users/${encodeURIComponent(ADELE.mail)}?$select=id,mail`);
    expect(byMail.status).toBe(200);
    expect(byMail.body.id).toBe(ADELE.id);
    expect(byMail.body.displayName).toBeUndefined();
    const unknown = await graph(sim, token, 'GET', '/users/nobody@contoso.example');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('Request_ResourceNotFound');
  });

  it('returns a delivered message, honouring $select', async () => {
    const { messageId } = sim.deliverMail(ADELE.mail, {
      subject: 'Quarterly report',
      from: { name: 'Megan Bowen', address: 'megan.bowen@contoso.example' },
      bodyPreview: 'Numbers attached',
      importance: 'high',
      hasAttachments: true,
    });
    const full = await graph(sim, token, 'GET', `/users/${ADELE.id}/messages/${messageId}`);
    expect(full.status).toBe(200);
    expect(full.body).toMatchObject({
      id: messageId,
      subject: 'Quarterly report',
      from: { emailAddress: { name: 'Megan Bowen', address: 'megan.bowen@contoso.example' } },
      bodyPreview: 'Numbers attached',
      importance: 'high',
      hasAttachments: true,
      isRead: false,
    });
    expect(Date.parse(full.body.receivedDateTime)).not.toBeNaN();
    expect(typeof full.body.parentFolderId).toBe('string');

    const selected = await graph(
      sim,
      token,
      'GET',
      `/users/${ADELE.id}/messages/${messageId}?$select=subject,from,isRead`,
    );
    expect(selected.status).toBe(200);
    expect(Object.keys(selected.body).sort()).toEqual([
      '@odata.context',
      '@odata.etag',
      'from',
      'id',
      'isRead',
      'subject',
    ]);

    const viaInbox = await graph(
      sim,
      token,
      'GET',
      `/users/${ADELE.id}/mailFolders('Inbox')/messages/${messageId}?$select=subject`,
    );
    expect(viaInbox.status).toBe(200);
    expect(viaInbox.body.subject).toBe('Quarterly report');
    expect(viaInbox.body.parentFolderId).toBeUndefined();

    const badSelect = await graph(
      sim,
      token,
      'GET',
      `/users/${ADELE.id}/messages/${messageId}?$select=subject,flavour`,
    );
    expect(badSelect.status).toBe(400);
  });

  it('answers 404 ErrorItemNotFound for an unknown message and hides other tenants', async () => {
    const missing = await graph(sim, token, 'GET', `/users/${ADELE.id}/messages/AAMkAGI2THVSAAAunknown=`);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('ErrorItemNotFound');

    const otherTenant = randomUUID();
    const otherApp = randomUUID();
    const stranger = { id: randomUUID(), mail: `x.${randomUUID().slice(0, 6)}@fabrikam.example` };
    sim.addTenant({ tenantId: otherTenant });
    sim.addApplication(otherTenant, { clientId: otherApp, secret: 'other-secret' });
    sim.addUser(otherTenant, stranger);
    const { messageId } = sim.deliverMail(stranger.id);
    const crossTenant = await graph(sim, token, 'GET', `/users/${stranger.id}/messages/${messageId}`);
    expect(crossTenant.status).toBe(404);
    const otherToken = await new ClientSecretCredential(otherTenant, otherApp, 'other-secret', {
      authorityHost: sim.url,
      disableInstanceDiscovery: true,
    }).getToken(GRAPH_SCOPE);
    expect(
      (await graph(sim, otherToken.token, 'GET', `/users/${stranger.id}/messages/${messageId}`)).status,
    ).toBe(200);
  });

  it('lists Inbox messages newest first with $top and nextLink', async () => {
    const user = addUser('lister');
    for (let i = 1; i <= 3; i++) {
      sim.deliverMail(user.id, {
        subject: `m${i}`,
        receivedDateTime: new Date(Date.UTC(2025, 0, i)).toISOString(),
      });
    }
    const first = await graph(
      sim,
      token,
      'GET',
      `/users/${user.id}/mailFolders/inbox/messages?$top=2&$select=subject`,
    );
    expect((first.body.value as { subject: string }[]).map((m) => m.subject)).toEqual(['m3', 'm2']);
    const second = await graph(sim, token, 'GET', first.body['@odata.nextLink'] as string);
    expect((second.body.value as { subject: string }[]).map((m) => m.subject)).toEqual(['m1']);
    expect(second.body['@odata.nextLink']).toBeUndefined();
  });
});

describe('Inbox delta', () => {
  const deltaPath = (userId: string) => `/users/${userId}/mailFolders('Inbox')/messages/delta`;

  async function follow(start: string, pageSize?: number) {
    const pages: string[][] = [];
    let url: string | undefined = start;
    let deltaLink: string | undefined;
    while (url) {
      const res = await graph(
        sim,
        token,
        'GET',
        url,
        undefined,
        pageSize ? { Prefer: `odata.maxpagesize=${pageSize}` } : {},
      );
      expect(res.status).toBe(200);
      if (pageSize) expect(res.headers.get('preference-applied')).toBe(`odata.maxpagesize=${pageSize}`);
      pages.push((res.body.value as { id: string }[]).map((m) => m.id));
      url = res.body['@odata.nextLink'] as string | undefined;
      deltaLink = res.body['@odata.deltaLink'] as string | undefined;
      if (url) expect(deltaLink).toBeUndefined();
    }
    expect(deltaLink).toMatch(/\$deltatoken=/);
    return { pages, deltaLink: deltaLink as string };
  }

  it('pages by odata.maxpagesize, then returns only new messages from the deltaLink, then 410 after expiry', async () => {
    const user = addUser('delta');
    for (let i = 0; i < 25; i++) sim.deliverMail(user.id, { subject: `initial ${i}` });
    const initial = await follow(deltaPath(user.id), 10);
    expect(initial.pages.map((p) => p.length)).toEqual([10, 10, 5]);
    expect(initial.pages.flat().sort()).toEqual(
      sim
        .messages(user.id)
        .map((m) => m.id)
        .sort(),
    );

    const added = [sim.deliverMail(user.id).messageId, sim.deliverMail(user.id).messageId];
    const round2 = await follow(initial.deltaLink, 10);
    expect(round2.pages.flat().sort()).toEqual([...added].sort());

    const round3 = await follow(round2.deltaLink);
    expect(round3.pages.flat()).toEqual([]);

    sim.expireDeltaTokens(user.id);
    const gone = await graph(sim, token, 'GET', round3.deltaLink);
    expect(gone.status).toBe(410);
    expect(gone.body.error.code).toBe('syncStateNotFound');
    const restart = await follow(deltaPath(user.id), 50);
    expect(restart.pages.flat()).toHaveLength(27);
  });

  it('uses 10 per page by default and accepts mailFolders/inbox', async () => {
    const user = addUser('default-page');
    for (let i = 0; i < 12; i++) sim.deliverMail(user.id);
    const first = await graph(sim, token, 'GET', `/users/${user.id}/mailFolders/inbox/messages/delta`);
    expect(first.status).toBe(200);
    expect(first.body.value).toHaveLength(10);
    expect(first.body['@odata.nextLink']).toContain('$skiptoken=');
  });

  it('keeps $filter=receivedDateTime ge and $select across the delta rounds', async () => {
    const user = addUser('filtered');
    const old = '2024-01-01T08:00:00Z';
    sim.deliverMail(user.id, { subject: 'old', receivedDateTime: old });
    const recent = sim.deliverMail(user.id, { subject: 'recent' }).messageId;
    const since = new Date(Date.now() - 24 * 3600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const initial = await graph(
      sim,
      token,
      'GET',
      `${deltaPath(user.id)}?$select=subject&$filter=receivedDateTime+ge+${since}`,
    );
    expect(initial.status).toBe(200);
    expect((initial.body.value as { id: string }[]).map((m) => m.id)).toEqual([recent]);
    expect(initial.body.value[0]).toMatchObject({
      '@odata.type': '#microsoft.graph.message',
      subject: 'recent',
    });
    expect(initial.body.value[0].from).toBeUndefined();

    sim.deliverMail(user.id, { subject: 'also old', receivedDateTime: old });
    const newer = sim.deliverMail(user.id, { subject: 'newer' }).messageId;
    const next = await graph(sim, token, 'GET', initial.body['@odata.deltaLink'] as string);
    expect((next.body.value as { id: string }[]).map((m) => m.id)).toEqual([newer]);
    expect(Object.keys(next.body.value[0]).sort()).toEqual(['@odata.etag', '@odata.type', 'id', 'subject']);

    const badFilter = await graph(sim, token, 'GET', `${deltaPath(user.id)}?$filter=subject eq 'x'`);
    expect(badFilter.status).toBe(400);
  });
});
