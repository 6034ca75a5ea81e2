import { describe, expect, it } from 'vitest';
import { importMailboxes, type ControlPlaneDeps } from '../../../shared/admin/mailboxes.js';
import { InMemoryMailboxStore, InMemoryWorkQueue } from '../../../shared/domain/enrolment/in-memory.js';
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
    const report = await importMailboxes(d, linesOf(rows.join('\n')), 'csv');
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
    const report = await importMailboxes(
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
