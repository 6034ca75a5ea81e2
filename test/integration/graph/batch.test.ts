/**
 * shared/graph's `$batch` against the Graph simulator: member retries after Retry-After, member
 * retries off, giving up, a failed envelope among answered ones, every envelope failed, chunking.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GraphRequestError, type BatchMember } from '../../../shared/graph/index.js';
import { DEMO_TENANT, type GraphSimulator } from '../../../dev/sim/graph/index.js';
import { demoClient, routeCount } from './helpers.js';
import { startTrustedSimulator } from '../../support/graph-sim.js';

const ADELE = DEMO_TENANT.users[0];

let sim: GraphSimulator;
let messageIds: string[];

beforeAll(async () => {
  sim = await startTrustedSimulator();
  messageIds = Array.from(
    { length: 5 },
    (_, i) => sim.deliverMail(ADELE.mail, { subject: `Mail ${i + 1}` }).messageId,
  );
});

afterEach(() => {
  sim.faults.clear();
});

afterAll(async () => {
  await sim?.stop();
});

async function rejection(promise: Promise<unknown>): Promise<GraphRequestError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(GraphRequestError);
    return error as GraphRequestError;
  }
  throw new Error('expected a GraphRequestError');
}

describe('$batch', () => {
  const members = (): BatchMember[] =>
    messageIds.map((id, i) => ({
      id: `m${i}`,
      method: 'GET' as const,
      url: `/users/${ADELE.id}/messages/${encodeURIComponent(id)}?$select=subject`,
    }));

  it('retries members that answered 429 after the largest Retry-After, only those', async () => {
    sim.faults.injectStatus({ method: 'GET', pathIncludes: '/messages/' }, 429, {
      inBatchMembers: true,
      times: 3,
      retryAfterSeconds: 2,
    });
    const waits: number[] = [];
    const client = demoClient(sim, {
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    const batchesBefore = routeCount(sim, 'POST /v1.0/$batch');
    const results = await client.batch(members());
    expect(waits).toEqual([2000]);
    expect(routeCount(sim, 'POST /v1.0/$batch') - batchesBefore).toBe(2);
    expect([...results.keys()].sort()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    for (const [id, result] of results) {
      expect(result.status).toBe(200);
      expect(result.attempts).toBe(['m0', 'm1', 'm2'].includes(id) ? 2 : 1);
    }
    expect(results.get('m4')?.body).toMatchObject({ subject: 'Mail 5' });
  });

  it('returns member 429s with retryAfterMs when member retries are off', async () => {
    sim.faults.injectStatus({ method: 'GET', pathIncludes: '/messages/' }, 429, {
      inBatchMembers: true,
      times: 1,
      retryAfterSeconds: 4,
    });
    const results = await demoClient(sim).batch(members(), { retryMembers: false });
    expect(results.get('m0')).toMatchObject({ status: 429, retryAfterMs: 4000, attempts: 1 });
    expect(results.get('m0')?.error).toBeInstanceOf(GraphRequestError);
    expect(results.get('m1')?.status).toBe(200);
  });

  it('gives up on a member after maxMemberAttempts', async () => {
    sim.faults.injectStatus({ method: 'GET', pathIncludes: '/messages/' }, 503, {
      inBatchMembers: true,
      times: 10,
    });
    const waits: number[] = [];
    const client = demoClient(sim, {
      retry: { delaySeconds: 0.5 },
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    const results = await client.batch(members().slice(0, 1), { maxMemberAttempts: 3 });
    expect(results.get('m0')).toMatchObject({ status: 503, attempts: 3 });
    expect(waits).toEqual([500, 1000]); // exponential backoff without Retry-After
  });

  it('keeps the answers of other requests when one $batch request fails as a whole', async () => {
    sim.faults.injectStatus({ method: 'POST', pathIncludes: '/$batch' }, 503, {
      times: 1,
      retryAfterSeconds: 3,
    });
    const many: BatchMember[] = Array.from({ length: 25 }, (_, i) => ({
      id: String(i),
      method: 'GET' as const,
      url: `/users/${ADELE.id}/messages/${encodeURIComponent(messageIds[i % 5] ?? '')}?$select=id`,
    }));
    const before = routeCount(sim, 'POST /v1.0/$batch');
    const results = await demoClient(sim, { retry: { maxRetries: 0 } }).batch(many, { concurrency: 1 });
    expect(routeCount(sim, 'POST /v1.0/$batch') - before).toBe(2); // the failed one is not resubmitted
    expect(results.get('0')).toMatchObject({ status: 503, retryAfterMs: 3000, attempts: 1 });
    expect(results.get('19')?.error).toMatchObject({ status: 503, operation: 'POST /$batch' });
    expect(results.get('20')?.status).toBe(200);
    expect(results.get('24')?.status).toBe(200);
  });

  it('throws when every $batch request failed', async () => {
    sim.faults.injectStatus({ method: 'POST', pathIncludes: '/$batch' }, 500, { times: 2 });
    const error = await rejection(demoClient(sim).batch(members()));
    expect(error).toMatchObject({ status: 500, graphCode: 'InternalServerError' });
  });

  it('splits 45 members into 3 requests of at most 20', async () => {
    const many: BatchMember[] = Array.from({ length: 45 }, (_, i) => ({
      id: String(i),
      method: 'GET' as const,
      url: `/users/${ADELE.id}/messages/${encodeURIComponent(messageIds[i % 5] ?? '')}?$select=id`,
    }));
    const before = routeCount(sim, 'POST /v1.0/$batch');
    const results = await demoClient(sim).batch(many, { concurrency: 2 });
    expect(routeCount(sim, 'POST /v1.0/$batch') - before).toBe(3);
    expect(results.size).toBe(45);
    expect([...results.values()].every((r) => r.status === 200)).toBe(true);
  });
});
