/**
 * Delta cases the simulator cannot produce (`@removed` entries, a 400 `resyncRequired`), over an
 * in-memory GraphClient that answers from a script.
 */
import { describe, expect, it } from 'vitest';
import {
  GraphRequestError,
  syncInboxDelta,
  type GraphCall,
  type GraphClient,
} from '../../../shared/graph/index.js';

/** Answers in order: a body to resolve with, or a GraphRequestError to reject with. */
function scriptedClient(answers: unknown[]): GraphClient & { calls: GraphCall[] } {
  const calls: GraphCall[] = [];
  return {
    graphEndpoint: 'https://graph.example',
    calls,
    send: () => Promise.reject(new Error('not used')),
    batch: () => Promise.reject(new Error('not used')),
    request: <T>(call: GraphCall): Promise<T> => {
      calls.push(call);
      const next = answers.shift();
      if (next instanceof GraphRequestError) return Promise.reject(next);
      if (next === undefined) return Promise.reject(new Error('script exhausted'));
      return Promise.resolve(next as T);
    },
  };
}

const since = new Date('2025-03-01T09:00:00.500Z');
const BASE = "https://graph.example/v1.0/users/u1/mailFolders('Inbox')/messages/delta";

describe('syncInboxDelta (scripted)', () => {
  it('asks for a filtered, selected first sync and skips @removed entries and old mail', async () => {
    const client = scriptedClient([
      {
        value: [
          { id: 'm1', receivedDateTime: '2025-03-01T09:30:00Z', isRead: false },
          { id: 'gone', '@removed': { reason: 'deleted' } },
        ],
        '@odata.nextLink': `${BASE}?$skiptoken=s1`,
      },
      {
        value: [
          { id: 'old', receivedDateTime: '2025-02-01T00:00:00Z' },
          { id: 'm1', receivedDateTime: '2025-03-01T09:30:00Z', isRead: true },
          { id: 'm2', receivedDateTime: '2025-03-01T09:45:00Z' },
          'junk',
        ],
        '@odata.deltaLink': `${BASE}?$deltatoken=d1`,
      },
    ]);
    const result = await syncInboxDelta(client, { userId: 'u1', since, pageSize: 50 });
    expect(result).toEqual({
      messages: [
        { id: 'm1', receivedDateTime: '2025-03-01T09:30:00Z', isRead: true },
        { id: 'm2', receivedDateTime: '2025-03-01T09:45:00Z' },
      ],
      deltaLink: `${BASE}?$deltatoken=d1`,
      fullResync: true,
    });
    expect(client.calls[0]).toEqual({
      method: 'GET',
      path: "/users/u1/mailFolders('Inbox')/messages/delta",
      headers: { Prefer: 'odata.maxpagesize=50' },
      query: { $select: 'id,receivedDateTime,isRead', $filter: 'receivedDateTime ge 2025-03-01T09:00:00Z' },
    });
    expect(client.calls[1]).toEqual({
      method: 'GET',
      path: `${BASE}?$skiptoken=s1`,
      headers: { Prefer: 'odata.maxpagesize=50' },
    });
  });

  it.each([
    [410, 'syncStateNotFound'],
    [400, 'resyncRequired'],
    [400, 'SyncStateNotFound'],
  ])('restarts as a full sync after %i %s on the stored deltaLink', async (status, graphCode) => {
    const client = scriptedClient([
      new GraphRequestError({ operation: 'GET delta', status, graphCode }),
      {
        value: [{ id: 'm1', receivedDateTime: '2025-03-01T10:00:00Z' }],
        '@odata.deltaLink': `${BASE}?$deltatoken=d2`,
      },
    ]);
    const result = await syncInboxDelta(client, {
      userId: 'u1',
      since,
      deltaLink: `${BASE}?$deltatoken=old`,
    });
    expect(result).toMatchObject({ fullResync: true, deltaLink: `${BASE}?$deltatoken=d2` });
    expect(client.calls.map((c) => c.path)).toEqual([
      `${BASE}?$deltatoken=old`,
      "/users/u1/mailFolders('Inbox')/messages/delta",
    ]);
    expect(client.calls[1]?.query?.$filter).toBe('receivedDateTime ge 2025-03-01T09:00:00Z');
  });

  it('does not loop forever when even a full sync keeps failing with 410', async () => {
    const gone = () =>
      new GraphRequestError({ operation: 'GET delta', status: 410, graphCode: 'syncStateNotFound' });
    const client = scriptedClient([gone(), gone(), gone(), gone()]);
    await expect(
      syncInboxDelta(client, { userId: 'u1', since, deltaLink: `${BASE}?$deltatoken=x` }),
    ).rejects.toMatchObject({
      status: 410,
    });
    expect(client.calls).toHaveLength(3);
  });

  it('stops a paging loop that never reaches a deltaLink', async () => {
    const page = { value: [], '@odata.nextLink': `${BASE}?$skiptoken=again` };
    const client = scriptedClient([page, page, page]);
    await expect(syncInboxDelta(client, { userId: 'u1', since, maxPages: 2 })).rejects.toMatchObject({
      graphCode: 'TooManyPages',
    });
  });

  it('rejects bad input before calling Graph', async () => {
    const client = scriptedClient([]);
    await expect(syncInboxDelta(client, { userId: 'a/b', since })).rejects.toThrow(/userId/);
    await expect(syncInboxDelta(client, { userId: 'u1', since: new Date('nope') })).rejects.toThrow(/since/);
    await expect(syncInboxDelta(client, { userId: 'u1', since, pageSize: 0 })).rejects.toThrow(/pageSize/);
    expect(client.calls).toHaveLength(0);
  });
});
