/**
 * Groups for group enrolment: GET /groups/{id}, /groups/{id}/members, and the membership delta
 * Graph really offers to apps: GET /groups/delta?$filter=id eq '{id}'&$select=members
 * (`members@delta`, `@removed`), with its paging and deltaLink; control calls that change groups.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_APP_ROLES,
  DEMO_TENANT,
  DIRECTORY_DENIED_MESSAGE,
  generatedUser,
  type GraphSimulator,
} from '../../../dev/sim/graph/index.js';
import { demoToken, graph } from './helpers.js';
import { startTrustedSimulator } from '../../support/graph-sim.js';

interface MemberDelta {
  '@odata.type': string;
  id: string;
  '@removed'?: { reason: string };
}
interface GroupDelta {
  id: string;
  displayName?: string;
  'members@delta'?: MemberDelta[];
  '@removed'?: { reason: string };
}
interface DeltaRound {
  groups: GroupDelta[];
  deltaLink: string;
  pages: number;
}

let sim: GraphSimulator;
let token: string;

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

/** Follows nextLinks to the deltaLink, collecting every group object of the round. */
async function deltaRound(start: string, headers: Record<string, string> = {}): Promise<DeltaRound> {
  const groups: GroupDelta[] = [];
  let url = start;
  for (let pages = 1; ; pages++) {
    const page = await graph(sim, token, 'GET', url, undefined, headers);
    expect(page.status, JSON.stringify(page.body)).toBe(200);
    groups.push(...(page.body.value as GroupDelta[]));
    const next = page.body['@odata.nextLink'] as string | undefined;
    if (next) {
      expect(page.body['@odata.deltaLink']).toBeUndefined();
      url = next;
      continue;
    }
    return { groups, deltaLink: page.body['@odata.deltaLink'] as string, pages };
  }
}

const members = (round: DeltaRound, groupId: string) =>
  round.groups.filter((g) => g.id === groupId).flatMap((g) => g['members@delta'] ?? []);

const users = [1, 2, 3, 4, 6].map((i) => generatedUser(i));

beforeAll(async () => {
  sim = await startTrustedSimulator({ generatedUsers: 20 });
  token = await demoToken(sim);
});

afterEach(() => {
  sim.setPermissions(DEMO_TENANT.tenantId, DEMO_TENANT.clientId, DEFAULT_APP_ROLES);
  sim.faults.clear();
});

afterAll(async () => {
  await sim?.stop();
});

describe('groups', () => {
  it('GET /groups/{id} and /groups/{id}/members (user objects, $select, paged); 404 for unknown', async () => {
    const id = sim.addGroup(DEMO_TENANT.tenantId, {
      displayName: 'Mobile mail',
      members: users.map((u) => u.mail),
    });
    const group = await graph(sim, token, 'GET', `/groups/${id}?$select=displayName`);
    expect(group.status).toBe(200);
    expect(group.body).toMatchObject({ id, displayName: 'Mobile mail' });

    const first = await graph(sim, token, 'GET', `/groups/${id}/members?$select=id,mail&$top=3`);
    expect(first.status).toBe(200);
    expect(first.body.value).toHaveLength(3);
    expect(first.body.value[0]).toEqual({
      '@odata.type': '#microsoft.graph.user',
      id: users[0]?.id,
      mail: users[0]?.mail,
    });
    const second = await graph(sim, token, 'GET', first.body['@odata.nextLink'] as string);
    expect(second.body.value).toHaveLength(2);
    expect(second.body['@odata.nextLink']).toBeUndefined();

    const unknown = '0f0f0f0f-0000-4000-8000-000000000000';
    for (const path of [`/groups/${unknown}`, `/groups/${unknown}/members`]) {
      const got = await graph(sim, token, 'GET', path);
      expect(got.status, path).toBe(404);
      expect(got.body.error.code).toBe('Request_ResourceNotFound');
    }
  });

  it('needs GroupMember.Read.All: 403 Authorization_RequestDenied', async () => {
    const id = sim.addGroup(DEMO_TENANT.tenantId, { displayName: 'No consent' });
    sim.setPermissions(DEMO_TENANT.tenantId, DEMO_TENANT.clientId, ['Mail.Read', 'User.Read.All']);
    for (const path of [`/groups/${id}/members`, `/groups/delta?$filter=id eq '${id}'&$select=members`]) {
      const got = await graph(sim, token, 'GET', path);
      expect(got.status, path).toBe(403);
      expect(got.body.error).toMatchObject({
        code: 'Authorization_RequestDenied',
        message: DIRECTORY_DENIED_MESSAGE,
      });
    }
  });
});

describe('GET /groups/delta (membership changes)', () => {
  it('first round: every member as added; later rounds: only the changes, removals with @removed', async () => {
    const id = sim.addGroup(DEMO_TENANT.tenantId, {
      displayName: 'Delta',
      members: [users[0]!.id, users[1]!.id],
    });
    const initial = await deltaRound(`/groups/delta?$filter=id eq '${id}'&$select=members`);
    expect(initial.deltaLink).toMatch(/\/groups\/delta\?\$deltatoken=/);
    expect(initial.groups).toHaveLength(1);
    expect(initial.groups[0]).toEqual({
      id,
      'members@delta': [
        { '@odata.type': '#microsoft.graph.user', id: users[0]!.id },
        { '@odata.type': '#microsoft.graph.user', id: users[1]!.id },
      ],
    });

    // No change: an empty page with a new deltaLink.
    const quiet = await deltaRound(initial.deltaLink);
    expect(quiet.groups).toEqual([]);

    sim.addGroupMembers(id, [users[2]!.mail]);
    sim.removeGroupMembers(id, [users[0]!.id]);
    const changes = await deltaRound(quiet.deltaLink);
    expect(members(changes, id)).toEqual([
      { '@odata.type': '#microsoft.graph.user', id: users[0]!.id, '@removed': { reason: 'deleted' } },
      { '@odata.type': '#microsoft.graph.user', id: users[2]!.id },
    ]);

    // The older deltaLink still answers the changes since its own round.
    const fromStart = await deltaRound(initial.deltaLink);
    expect(members(fromStart, id)).toHaveLength(2);
  });

  it('splits a large membership over pages linked by @odata.nextLink, the group repeated', async () => {
    const all = Array.from({ length: 20 }, (_, i) => generatedUser(i + 1).id);
    const id = sim.addGroup(DEMO_TENANT.tenantId, { displayName: 'Large', members: all });
    const round = await deltaRound(`/groups/delta?$filter=id eq '${id}'&$select=displayName,members`, {
      Prefer: 'odata.maxpagesize=6',
    });
    expect(round.pages).toBe(4);
    expect(round.groups.every((g) => g.id === id && g.displayName === 'Large')).toBe(true);
    expect(members(round, id).map((m) => m.id)).toEqual(all);
  });

  it('tracks several groups with an or-filter; without $filter every group of the tenant', async () => {
    const a = sim.addGroup(DEMO_TENANT.tenantId, { displayName: 'A', members: [users[3]!.id] });
    const b = sim.addGroup(DEMO_TENANT.tenantId, { displayName: 'B' });
    const both = await deltaRound(`/groups/delta?$filter=id eq '${a}' or id eq '${b}'&$select=members`);
    expect(both.groups.map((g) => g.id)).toEqual([a, b]);
    // A group without members comes back without members@delta.
    expect(both.groups[1]).toEqual({ id: b });

    const everything = await deltaRound('/groups/delta?$select=members');
    expect(everything.groups.map((g) => g.id)).toEqual(expect.arrayContaining([a, b]));

    sim.deleteGroup(b);
    const after = await deltaRound(both.deltaLink);
    expect(after.groups).toEqual([{ id: b, '@removed': { reason: 'changed' } }]);
  });

  it('an unknown group id in $filter gives an empty round (check GET /groups/{id} for 404)', async () => {
    const round = await deltaRound(
      "/groups/delta?$filter=id eq '0f0f0f0f-0000-4000-8000-000000000001'&$select=members",
    );
    expect(round.groups).toEqual([]);
  });

  it('rejects unsupported filters, unknown properties and bad tokens; /groups/{id}/members/delta is no Graph route', async () => {
    const filter = await graph(sim, token, 'GET', "/groups/delta?$filter=displayName eq 'A'");
    expect(filter.status).toBe(400);
    expect(filter.body.error.code).toBe('Request_UnsupportedQuery');
    const select = await graph(sim, token, 'GET', '/groups/delta?$select=owners2');
    expect(select.status).toBe(400);
    const token400 = await graph(sim, token, 'GET', '/groups/delta?$deltatoken=nope');
    expect(token400.status).toBe(400);
    const id = sim.addGroup(DEMO_TENANT.tenantId, { displayName: 'Wrong route' });
    const wrong = await graph(sim, token, 'GET', `/groups/${id}/members/delta`);
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.message).toContain("segment 'delta'");
  });

  it('expired tokens answer 410 resyncRequired; a new initial round works', async () => {
    const id = sim.addGroup(DEMO_TENANT.tenantId, { displayName: 'Expiring', members: [users[0]!.id] });
    const start = `/groups/delta?$filter=id eq '${id}'&$select=members`;
    const initial = await deltaRound(start);
    sim.expireGroupDeltaTokens();
    const gone = await graph(sim, token, 'GET', initial.deltaLink);
    expect(gone.status).toBe(410);
    expect(gone.body.error.code).toBe('resyncRequired');
    expect(members(await deltaRound(start), id)).toHaveLength(1);
  });

  it('answers 429 with Retry-After when a fault is injected', async () => {
    sim.faults.injectStatus({ pathIncludes: '/groups/delta' }, 429, { retryAfterSeconds: 2 });
    const got = await graph(sim, token, 'GET', '/groups/delta?$select=members');
    expect(got.status).toBe(429);
    expect(got.headers.get('retry-after')).toBe('2');
    expect(sim.stats().byRoute['GET /v1.0/groups/delta']).toBeGreaterThanOrEqual(1);
  });
});

describe('group control calls', () => {
  it('POST /_simulator/groups, POST and DELETE members, DELETE the group', async () => {
    const created = await control('POST', '/groups', {
      displayName: 'Over the wire',
      members: [users[0]!.mail, users[1]!.id],
    });
    expect(created.status).toBe(201);
    const id = created.body?.id as string;
    expect(created.body?.members).toEqual([users[0]!.id, users[1]!.id]);
    const initial = await deltaRound(`/groups/delta?$filter=id eq '${id}'&$select=members`);
    expect(members(initial, id)).toHaveLength(2);

    expect((await control('POST', `/groups/${id}/members`, { members: [users[4]!.mail] })).status).toBe(200);
    expect((await control('DELETE', `/groups/${id}/members/${users[1]!.id}`)).status).toBe(204);
    const changes = await deltaRound(initial.deltaLink);
    expect(members(changes, id)).toEqual([
      { '@odata.type': '#microsoft.graph.user', id: users[1]!.id, '@removed': { reason: 'deleted' } },
      { '@odata.type': '#microsoft.graph.user', id: users[4]!.id },
    ]);

    expect((await control('DELETE', `/groups/${id}`)).status).toBe(204);
    expect((await graph(sim, token, 'GET', `/groups/${id}`)).status).toBe(404);
  });

  it('rejects bad input: unknown members add nothing, unknown group 404', async () => {
    const before = (await graph(sim, token, 'GET', '/groups/delta?$select=displayName')).body.value
      .length as number;
    expect((await control('POST', '/groups', {})).status).toBe(400);
    expect(
      (await control('POST', '/groups', { displayName: 'x', members: ['nobody@contoso.example'] })).status,
    ).toBe(400);
    const after = (await graph(sim, token, 'GET', '/groups/delta?$select=displayName')).body.value
      .length as number;
    expect(after).toBe(before);
    const id = sim.addGroup(DEMO_TENANT.tenantId, { displayName: 'Strict', members: [users[0]!.id] });
    expect(
      (await control('POST', `/groups/${id}/members`, { members: [users[1]!.id, 'nobody@contoso.example'] }))
        .status,
    ).toBe(400);
    const listed = await graph(sim, token, 'GET', `/groups/${id}/members?$select=id`);
    expect(listed.body.value).toHaveLength(1);
    expect(
      (await control('POST', '/groups/0f0f0f0f-0000-4000-8000-000000000002/members', { members: [] })).status,
    ).toBe(404);
  });
});
