import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../dev/cli/main.js';
import { captureIo } from '../cli/capture.js';
import type { LocalHost } from '../../../dev/local/host.js';
import { DEMO_TENANT } from '../../../dev/sim/graph/demo.js';
import { IMPORT_SYNC_MAX_ROWS } from '../../../shared/admin/mailboxes.js';
import { startTestHost } from '../../support/test-host.js';

/**
 * Import jobs over the wire: a large upload answers 202 with a Location, its chunks travel through
 * the AMQP stand-in to the queue trigger, which writes them into Azurite; the progress route
 * reports until done.
 */
let host: LocalHost;
let adminToken: string;
const [adele] = DEMO_TENANT.users;

beforeAll(async () => {
  host = await startTestHost({ seedDemo: false });
  adminToken = await host.entraIssuer!.admin({ objectId: adele.id, upn: adele.mail });
});

afterAll(async () => {
  await host?.stop();
});

function call(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
  return fetch(`${host.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, ...headers },
    ...(body !== undefined ? { body } : {}),
  });
}

interface Progress {
  status: string;
  rows: number;
  invalid: number;
  queuedRows: number;
  writtenRows: number;
  accepted: number;
  unchanged: number;
  chunks: number;
  chunksWritten: number;
  unchangedRows: { row: number; email: string }[];
  durationMs?: number;
}

async function untilDone(location: string): Promise<Progress> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const res = await call('GET', location);
    expect(res.status).toBe(200);
    const progress = (await res.json()) as Progress;
    if (progress.status !== 'writing' && progress.status !== 'receiving') return progress;
    if (Date.now() > deadline)
      throw new Error(`import still ${progress.status}: ${JSON.stringify(progress)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('import jobs', () => {
  it(`an upload above ${IMPORT_SYNC_MAX_ROWS} rows answers 202 at once; the queue trigger writes it; progress reaches done`, async () => {
    const rows = ['email,transport'];
    const count = IMPORT_SYNC_MAX_ROWS + 500;
    for (let i = 1; i <= count; i++) rows.push(`job${String(i).padStart(5, '0')}@contoso.example,ews`);
    rows.push('not-an-address,ews');
    const res = await call('POST', '/api/manage/mailboxes/import', rows.join('\n'), {
      'content-type': 'text/csv',
    });
    expect(res.status).toBe(202);
    const location = res.headers.get('location')!;
    expect(location).toMatch(/^\/api\/manage\/imports\/[0-9a-f]{32}$/);
    const accepted = (await res.json()) as Record<string, unknown>;
    expect(accepted).toMatchObject({
      rows: count + 1,
      invalid: 1,
      queued: count,
      errors: [{ row: count + 2, reason: 'email is not an address like name@domain' }],
      job: { status: 'writing', chunks: 25, location },
    });

    const done = await untilDone(location);
    expect(done).toMatchObject({
      status: 'done',
      rows: count + 1,
      invalid: 1,
      queuedRows: count,
      writtenRows: count,
      accepted: count,
      unchanged: 0,
      chunks: 25,
      chunksWritten: 25,
    });
    expect(done.durationMs).toBeGreaterThanOrEqual(0);
    expect(
      await host.services.mailboxes.getMailbox(`job${String(count).padStart(5, '0')}@contoso.example`),
    ).toMatchObject({
      state: 'ews',
      source: 'import',
    });
    expect(await host.services.work.count('migrate')).toBe(count);
  });

  it('Prefer: respond-async makes a small upload a job too; rows already enrolled come back unchanged', async () => {
    const res = await call(
      'POST',
      '/api/manage/mailboxes/import',
      '{"email":"job00001@contoso.example"}\n{"email":"fresh@contoso.example","transport":"ews"}',
      { 'content-type': 'application/x-ndjson', prefer: 'respond-async' },
    );
    expect(res.status).toBe(202);
    expect(res.headers.get('preference-applied')).toBe('respond-async');
    const done = await untilDone(res.headers.get('location')!);
    expect(done).toMatchObject({ status: 'done', accepted: 1, unchanged: 1 });
    expect(done.unchangedRows).toEqual([{ row: 1, email: 'job00001@contoso.example' }]);
  });

  it('the progress route refuses a malformed id (400), an unknown one (404) and a missing token (401)', async () => {
    expect((await call('GET', '/api/manage/imports/not-an-id')).status).toBe(400);
    const unknown = await call('GET', `/api/manage/imports/${'0'.repeat(32)}`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('import_not_found');
    const anonymous = await fetch(`${host.url}/api/manage/imports/${'0'.repeat(32)}`);
    expect(anonymous.status).toBe(401);
    // A valid token for the API without the MailPush.Admin role (the mobile app's kind).
    const userToken = await host.entraIssuer!.mint({ objectId: adele.id, upn: adele.mail });
    const noRole = await fetch(`${host.url}/api/manage/imports/${'0'.repeat(32)}`, {
      headers: { authorization: `Bearer ${userToken}` },
    });
    expect(noRole.status).toBe(403);
  });

  it('npm run admin -- import follows a chunk the server took as a job until it is written', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'import-job-cli-'));
    try {
      const lines = ['email,transport'];
      for (let i = 1; i <= 2_100; i++) lines.push(`cli${String(i).padStart(5, '0')}@contoso.example,graph`);
      lines.push('job00002@contoso.example,ews');
      const file = join(dir, 'big.csv');
      await writeFile(file, `${lines.join('\n')}\n`);
      const capture = captureIo({ env: {} });
      const code = await run(['--url', host.url, 'import', file, '--poll-interval', '100'], capture.io);
      expect(code, capture.stderr).toBe(0);
      expect(capture.stdout).toMatch(/^rows\s+2,?101\naccepted\s+2,?100\nunchanged\s+1\ninvalid\s+0\n/);
      const progress = capture.stderr.trim().split('\n');
      expect(progress[0]).toBe('import: 0/2,101 rows (0%)');
      expect(progress.at(-1)).toBe('import: 2,101/2,101 rows written (100%)');
      expect(await host.services.mailboxes.getMailbox('cli02100@contoso.example')).toMatchObject({
        state: 'pending',
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
