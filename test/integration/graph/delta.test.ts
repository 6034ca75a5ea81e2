/** Inbox delta sync against the Graph simulator: paging, deltaLink reuse, 410 → full resync. */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syncInboxDelta, type GraphClient } from '../../../shared/graph/index.js';
import { DEMO_TENANT, type GraphSimulator } from '../../../dev/sim/graph/index.js';
import { demoClient, routeCount } from './helpers.js';
import { startTrustedSimulator } from '../../support/graph-sim.js';

const DELTA_ROUTE = 'GET /v1.0/users/{id}/mailFolders/{id}/messages/delta';
const USER = { id: randomUUID(), mail: 'delta.user@contoso.example', displayName: 'Delta User' };

let sim: GraphSimulator;
let client: GraphClient;
const since = new Date(Date.now() - 60 * 60_000);

beforeAll(async () => {
  sim = await startTrustedSimulator();
  sim.addUser(DEMO_TENANT.tenantId, USER);
  client = demoClient(sim);
});

afterAll(async () => {
  await sim?.stop();
});

const deliver = (subject: string, receivedDateTime?: string): string =>
  sim.deliverMail(USER.id, { subject, ...(receivedDateTime ? { receivedDateTime } : {}) }).messageId;

describe('syncInboxDelta', () => {
  let firstIds: string[];
  let deltaLink: string;
  let oldIds: string[];

  it('pages through a first sync (pageSize 2, 5 messages) and never returns mail older than since', async () => {
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000).toISOString();
    oldIds = [deliver('old 1', twoDaysAgo), deliver('old 2', twoDaysAgo)];
    firstIds = Array.from({ length: 5 }, (_, i) => deliver(`new ${i + 1}`));
    const pagesBefore = routeCount(sim, DELTA_ROUTE);

    const result = await syncInboxDelta(client, { userId: USER.id, since, pageSize: 2 });

    expect(routeCount(sim, DELTA_ROUTE) - pagesBefore).toBe(3);
    expect(result.fullResync).toBe(true);
    expect(result.messages.map((m) => m.id)).toEqual(firstIds);
    expect(
      result.messages.every(
        (m) => m.isRead === false && Date.parse(m.receivedDateTime) >= since.getTime() - 1000,
      ),
    ).toBe(true);
    expect(result.deltaLink).toMatch(
      /^https:\/\/127\.0\.0\.1:\d+\/v1\.0\/users\/.+\/messages\/delta\?\$deltatoken=/,
    );
    deltaLink = result.deltaLink;
  });

  it('reusing the deltaLink returns only the new mail', async () => {
    const newer = [deliver('newer 1'), deliver('newer 2'), deliver('newer 3')];
    const result = await syncInboxDelta(client, { userId: USER.id, since, deltaLink, pageSize: 2 });
    expect(result.fullResync).toBe(false);
    expect(result.messages.map((m) => m.id)).toEqual(newer);
    expect(result.deltaLink).not.toBe(deltaLink);

    const nothing = await syncInboxDelta(client, { userId: USER.id, since, deltaLink: result.deltaLink });
    expect(nothing).toMatchObject({ messages: [], fullResync: false });
    firstIds.push(...newer);
    deltaLink = nothing.deltaLink;
  });

  it('restarts as a full resync limited to since when the deltaLink answers 410', async () => {
    sim.expireDeltaTokens(USER.id);
    const latest = deliver('after expiry');
    const result = await syncInboxDelta(client, { userId: USER.id, since, deltaLink, pageSize: 3 });
    expect(result.fullResync).toBe(true);
    expect(result.messages.map((m) => m.id)).toEqual([...firstIds, latest]);
    expect(result.messages.some((m) => oldIds.includes(m.id))).toBe(false);

    const next = await syncInboxDelta(client, { userId: USER.id, since, deltaLink: result.deltaLink });
    expect(next).toMatchObject({ messages: [], fullResync: false });
  });

  it('surfaces other errors (a 403) instead of resyncing', async () => {
    sim.faults.injectStatus({ method: 'GET', pathIncludes: '/messages/delta' }, 403, { times: 1 });
    await expect(syncInboxDelta(client, { userId: USER.id, since, deltaLink })).rejects.toMatchObject({
      status: 403,
    });
    sim.faults.clear();
  });
});
