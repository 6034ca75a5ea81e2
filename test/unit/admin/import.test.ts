import { describe, expect, it } from 'vitest';
import {
  IMPORT_JOB_CHUNK,
  IMPORT_SYNC_MAX_ROWS,
  ImportStoppedError,
  importMailboxes,
  importProgress,
  processImportChunk,
  type ControlPlaneDeps,
} from '../../../shared/admin/mailboxes.js';
import {
  InMemoryImportChunkQueue,
  InMemoryImportJobs,
  InMemoryMailboxStore,
  InMemoryWorkQueue,
} from '../../../shared/domain/enrolment/in-memory.js';
import { DependencyError, NotFoundError, ValidationError } from '../../../shared/errors.js';
import { importBackoffMs, processImportChunkMessage } from '../../../shared/app/import-processor.js';
import { ROWS_PER_CHUNK as CONSOLE_ROWS_PER_CHUNK } from '../../../shared/admin/console/browser/csv.js';
import { workKeyFor } from '../../../shared/store/work-queue-store.js';

/**
 * The import use case on in-memory ports: what it writes and reports for 100,000 rows, duplicates
 * and bad rows. (Over the wire and into Azurite: test/integration/functions/manage.test.ts and
 * `npm run bench:import`.)
 */
const NOW = Date.parse('2026-12-01T09:00:00Z');

function deps(): { deps: ControlPlaneDeps; mailboxes: InMemoryMailboxStore; work: InMemoryWorkQueue } {
  const mailboxes = new InMemoryMailboxStore();
  const work = new InMemoryWorkQueue();
  const notUsed = () => {
    throw new Error('import must not call this');
  };
  return {
    mailboxes,
    work,
    deps: {
      tenantId: '9188040d-6c67-4c5b-b112-36a304b66dad',
      now: () => NOW,
      mailboxes: Object.assign(mailboxes, { listMailboxes: notUsed }),
      work,
      control: { get: notUsed, put: notUsed },
      directory: new Proxy({}, { get: () => notUsed }),
      subscriptions: { getSubscription: notUsed, deleteSubscription: notUsed },
      devices: new Proxy({}, { get: () => notUsed }),
      push: new Proxy({}, { get: () => notUsed }),
      workKeyFor,
    } as unknown as ControlPlaneDeps,
  };
}

async function* linesOf(text: string): AsyncGenerator<string> {
  for (const line of text.split('\n')) yield line;
}

describe('importMailboxes', () => {
  it('takes 100,000 rows: one mailbox and one queue row each, no Graph call, counts only in the answer', async () => {
    const { deps: d, mailboxes, work } = deps();
    const rows = ['email,transport'];
    for (let i = 1; i <= 100_000; i++)
      rows.push(`bulk${String(i).padStart(6, '0')}@contoso.example,${i % 2 ? 'ews' : 'graph'}`);
    const { report } = await importMailboxes(d, linesOf(rows.join('\n')), 'csv');
    expect(report).toMatchObject({
      rows: 100_000,
      accepted: 100_000,
      unchanged: 0,
      invalid: 0,
      truncated: true,
    });
    expect(report.outcomes).toBeUndefined();
    expect(await work.count('migrate')).toBe(50_000);
    expect(await work.count('create')).toBe(50_000);
    const last = await mailboxes.getMailbox('bulk100000@contoso.example');
    expect(last).toMatchObject({ state: 'pending', transport: 'graph', source: 'import' });
    expect(last?.workKey).toBe(workKeyFor(NOW, 'bulk100000@contoso.example'));
  });

  it('reports duplicates in the file and addresses already enrolled, and drops their queue rows', async () => {
    const { deps: d, mailboxes, work } = deps();
    await importMailboxes(d, linesOf('email\nalex@contoso.example'), 'csv');
    const { report } = await importMailboxes(
      d,
      linesOf(
        '{"email":"alex@contoso.example"}\n{"email":"megan@contoso.example","privacy":"minimal"}\n{"email":"megan@contoso.example"}\n{"mail":"x"}',
      ),
      'jsonl',
    );
    expect(report).toMatchObject({ rows: 4, accepted: 1, unchanged: 1, invalid: 2 });
    expect(report.errors).toEqual([
      { row: 3, reason: 'duplicate of an earlier row' },
      { row: 4, reason: 'unknown field "mail"' },
    ]);
    expect(report.outcomes).toEqual([
      { row: 1, email: 'alex@contoso.example', outcome: 'unchanged' },
      { row: 2, email: 'megan@contoso.example', outcome: 'accepted' },
    ]);
    expect(await work.count('create')).toBe(2);
    expect((await mailboxes.getMailbox('megan@contoso.example'))?.privacyMode).toBe('minimal');
  });
});

describe('import jobs (large uploads go to the queue in chunks)', () => {
  function withJobs(failAfter?: number) {
    const base = deps();
    const jobs = new InMemoryImportJobs();
    const queue = new InMemoryImportChunkQueue(failAfter);
    let n = 0;
    const d: ControlPlaneDeps = {
      ...base.deps,
      imports: { jobs, queue, newJobId: () => (++n).toString(16).padStart(32, '0') },
    };
    return { ...base, deps: d, jobs, queue };
  }
  const csvOf = (count: number, from = 1) => {
    const rows = ['email,transport'];
    for (let i = from; i < from + count; i++)
      rows.push(`bulk${String(i).padStart(6, '0')}@contoso.example,ews`);
    return rows.join('\n');
  };

  it('writes an upload of up to IMPORT_SYNC_MAX_ROWS valid rows at once, without a job', async () => {
    const t = withJobs();
    const result = await importMailboxes(t.deps, linesOf(csvOf(IMPORT_SYNC_MAX_ROWS)), 'csv');
    expect(result.mode).toBe('sync');
    expect(result.report.accepted).toBe(IMPORT_SYNC_MAX_ROWS);
    expect(t.queue.chunks).toHaveLength(0);
    expect(t.jobs.jobs.size).toBe(0);
  });

  it('queues 100,000 rows as 1,000 chunks without writing a mailbox, then the chunks write them all', async () => {
    const t = withJobs();
    const upload = csvOf(100_000) + '\nnot-an-address,ews\nbulk000001@contoso.example,ews';
    const result = await importMailboxes(t.deps, linesOf(upload), 'csv', { by: 'adele@contoso.example' });
    expect(result.mode).toBe('job');
    if (result.mode !== 'job') return;
    expect(result.report).toMatchObject({ rows: 100_002, invalid: 2, accepted: 0 });
    expect(result.report.errors.map((e) => e.row)).toEqual([100_002, 100_003]);
    expect(result.job).toMatchObject({ status: 'queued', chunks: 1_000, queuedRows: 100_000 });
    expect(t.queue.chunks).toHaveLength(1_000);
    expect(t.queue.chunks.every((c) => c.rows.length === IMPORT_JOB_CHUNK && c.acceptedAt === NOW)).toBe(
      true,
    );
    expect(await t.work.count('migrate')).toBe(0);

    let progress = await importProgress(t.deps, result.job.id);
    expect(progress).toMatchObject({ status: 'writing', chunks: 1_000, chunksWritten: 0, writtenRows: 0 });
    expect(progress.warning).toBeUndefined();
    // Nothing written for over 30 minutes: still writing, with a warning saying what to check.
    const quiet = await importProgress({ ...t.deps, now: () => NOW + 31 * 60_000 }, result.job.id);
    expect(quiet.status).toBe('writing');
    expect(quiet.warning).toMatch(
      /^1000 of 1000 chunks have not been written and none was for 30 minutes: other imports may be ahead/,
    );

    for (const chunk of t.queue.chunks) await processImportChunk(t.deps, chunk);
    progress = await importProgress(t.deps, result.job.id);
    expect(progress).toMatchObject({
      status: 'done',
      rows: 100_002,
      invalid: 2,
      queuedRows: 100_000,
      writtenRows: 100_000,
      accepted: 100_000,
      unchanged: 0,
      chunksWritten: 1_000,
      by: 'adele@contoso.example',
    });
    expect(await t.work.count('migrate')).toBe(100_000);
    expect((await t.mailboxes.getMailbox('bulk100000@contoso.example'))?.workKey).toBe(
      workKeyFor(NOW, 'bulk100000@contoso.example'),
    );
  });

  it('a redelivered chunk writes nothing new and reports the same outcomes; enrolled rows stay unchanged', async () => {
    const t = withJobs();
    const earlier = { ...t.deps, now: () => NOW - 60_000 };
    await importMailboxes(earlier, linesOf('email\nbulk000003@contoso.example'), 'csv');
    const result = await importMailboxes(t.deps, linesOf(csvOf(5)), 'csv', { async: true });
    expect(result.mode).toBe('job');
    if (result.mode !== 'job') return;
    const [chunk] = t.queue.chunks;
    const first = await processImportChunk(t.deps, chunk!);
    const again = await processImportChunk(t.deps, chunk!);
    expect(again).toMatchObject({ accepted: first.accepted, unchanged: first.unchanged });
    expect(first).toMatchObject({
      accepted: 4,
      unchanged: 1,
      unchangedRows: [{ row: 4, email: 'bulk000003@contoso.example' }],
    });
    expect(await t.work.count('migrate')).toBe(4);
    expect(await t.work.count('create')).toBe(1);
    // Redelivered after the timer served a mailbox (work key gone, state moved on): still ours.
    const served = await t.mailboxes.getMailbox('bulk000001@contoso.example');
    const rest = { ...served! };
    delete rest.workKey;
    await t.mailboxes.updateMailbox({ ...rest, state: 'active', subscriptionId: 'sub-1' });
    expect(await processImportChunk(t.deps, chunk!)).toMatchObject({ accepted: 4, unchanged: 1 });
    expect(await importProgress(t.deps, result.job.id)).toMatchObject({
      status: 'done',
      accepted: 4,
      unchanged: 1,
    });
  });

  it('a queue failure mid-upload marks the job failed in words and is thrown (the caller answers 503)', async () => {
    const t = withJobs(40);
    const stopped = await importMailboxes(t.deps, linesOf(csvOf(10_000)), 'csv').catch((e: unknown) => e);
    // The rows already queued will be written: the error names the job, the cause decides the status.
    expect(stopped).toBeInstanceOf(ImportStoppedError);
    expect((stopped as ImportStoppedError).cause).toBeInstanceOf(DependencyError);
    expect(stopped).toMatchObject({ queuedRows: 4_000 });
    const [job] = [...t.jobs.jobs.values()];
    expect(job).toMatchObject({ status: 'failed', queuedRows: 4_000 });
    const progress = await importProgress(t.deps, job!.id);
    expect(progress.status).toBe('failed');
    expect(progress.failure).toMatch(
      /after 4000 of its rows were queued \(service-bus unavailable\)\. Import the whole file again/,
    );
  });

  it('an upload cut off while streaming shows as interrupted after 15 minutes', async () => {
    const t = withJobs();
    async function* cutOff(): AsyncGenerator<string> {
      yield* linesOf(csvOf(3_000));
      throw new Error('socket hang up');
    }
    // Nothing was sent yet (chunks go out 40 at a time): the error is the cause itself.
    await expect(importMailboxes(t.deps, cutOff(), 'csv')).rejects.toThrow('socket hang up');
    const [job] = [...t.jobs.jobs.values()];
    expect(job?.status).toBe('failed');
    await t.jobs.putJob({ ...job!, status: 'receiving' }); // as a killed process would leave it
    const later = { ...t.deps, now: () => NOW + 16 * 60_000 };
    expect(await importProgress(later, job!.id)).toMatchObject({ status: 'interrupted' });
    expect(await importProgress(t.deps, job!.id)).toMatchObject({ status: 'receiving' });
  });

  it('an unknown job id is a 404-kind error', async () => {
    const t = withJobs();
    await expect(importProgress(t.deps, 'f'.repeat(32))).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('the console and the sync limit', () => {
  it("the console's upload chunk is never large enough to become a job it would not follow", () => {
    expect(CONSOLE_ROWS_PER_CHUNK).toBeLessThanOrEqual(IMPORT_SYNC_MAX_ROWS);
  });
});

describe('the mailbox-imports queue trigger', () => {
  const chunk = {
    type: 'import-chunk',
    jobId: 'a'.repeat(32),
    chunk: 0,
    acceptedAt: NOW,
    rows: [{ row: 2, email: 'megan.bowen@contoso.example', transport: 'ews' }],
  };

  it('refuses a malformed chunk before writing anything', async () => {
    const base = deps();
    const d = {
      ...base.deps,
      imports: { jobs: new InMemoryImportJobs(), queue: new InMemoryImportChunkQueue(), newJobId: () => '' },
    };
    for (const bad of [
      undefined,
      { ...chunk, type: 'change' },
      { ...chunk, jobId: '../x' },
      { ...chunk, chunk: -1 },
      { ...chunk, rows: [{ row: 2, email: 'x@contoso.example', transport: 'imap' }] },
      {
        ...chunk,
        rows: Array.from({ length: IMPORT_JOB_CHUNK + 1 }, (_, i) => ({
          row: i,
          email: `u${i}@contoso.example`,
          transport: 'ews',
        })),
      },
    ]) {
      await expect(processImportChunkMessage({ controlPlane: d }, bad)).rejects.toBeInstanceOf(
        ValidationError,
      );
    }
    expect(await base.work.count('migrate')).toBe(0);
  });

  it('holds a chunk that met storage trouble before handing it back (growing pause), not on the last delivery', async () => {
    const base = deps();
    const failing = {
      ...base.deps,
      work: { ...base.work, put: () => Promise.reject(new DependencyError('table-storage', 'busy')) },
      imports: { jobs: new InMemoryImportJobs(), queue: new InMemoryImportChunkQueue(), newJobId: () => '' },
    } as unknown as ControlPlaneDeps;
    const waits: number[] = [];
    for (const deliveryCount of [1, 3, 10]) {
      await expect(
        processImportChunkMessage({ controlPlane: failing }, chunk, {
          deliveryCount,
          maxDeliveryCount: 10,
          backoffMs: (n) => (waits.push(importBackoffMs(n)), 0),
        }),
      ).rejects.toBeInstanceOf(DependencyError);
    }
    expect(waits).toEqual([2_000, 8_000]);
    expect(importBackoffMs(9)).toBe(30_000);
  });
});
