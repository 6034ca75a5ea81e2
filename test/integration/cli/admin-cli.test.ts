import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../dev/cli/main.js';
import type { LocalHost } from '../../../dev/local/host.js';
import { DEMO_TENANT, generatedUsers } from '../../../dev/sim/graph/demo.js';
import { runMaintenance } from '../../../shared/app/maintenance.js';
import { startTestHost } from '../../support/test-host.js';
import { captureIo } from './capture.js';

/**
 * `npm run admin` in-process against the local runner (Azurite, simulated tenant, local Entra
 * issuer): the CLI signs in through `GET /local/admin-token` as it does against `npm start`.
 */
const USERS = 30;
const users = generatedUsers(USERS);
const [adele] = DEMO_TENANT.users;
let host: LocalHost;
let dir: string;

beforeAll(async () => {
  host = await startTestHost({ startQueueTriggers: false, env: { LOCAL_SIM_USERS: String(USERS) } });
  dir = await mkdtemp(join(tmpdir(), 'admin-cli-'));
});

afterAll(async () => {
  await host?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function admin(...argv: string[]) {
  const capture = captureIo({ env: {} });
  const code = await run(['--url', host.url, ...argv], capture.io);
  // No output ever carries a bearer token (JWTs start with eyJ).
  expect(capture.stdout + capture.stderr).not.toMatch(/eyJ[\w-]{10,}/);
  return { code, stdout: capture.stdout, stderr: capture.stderr };
}

const maintenance = (now: number) => runMaintenance(host.services, () => {}, { now: () => now });

describe('admin CLI against the local runner', () => {
  it('enrols one mailbox, and again says it already was', async () => {
    const first = await admin('enrol', adele.mail.toUpperCase(), '--privacy', 'subject');
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toBe(`enrolled ${adele.mail} (state pending, transport graph, privacy subject)\n`);
    const again = await admin('enrol', adele.mail);
    expect(again.stdout).toMatch(/^already enrolled: adele\.vance@contoso\.example \(state pending/);
    expect(await host.services.mailboxes.getMailbox(adele.mail)).toMatchObject({ privacyMode: 'subject' });
  });

  it('imports a CSV in chunks, header on each, reporting bad rows by the file’s own line numbers', async () => {
    // Line 1 header; users on lines 2..; bad rows placed across chunk boundaries (10 rows a chunk).
    const lines = ['email,transport'];
    const bad = new Map<number, string>();
    users.forEach((u, i) => {
      lines.push(`${u.mail},ews`);
      if (i === 3) {
        lines.push('not-an-address,ews');
        bad.set(lines.length, 'email is not an address like name@domain');
      }
      if (i === 12) lines.push('');
      if (i === 17) {
        lines.push('someone@contoso.example,imap');
        bad.set(lines.length, 'transport');
      }
      if (i === 26) {
        lines.push(`${users[25]!.mail},ews`);
        bad.set(lines.length, 'duplicate of an earlier row');
      }
    });
    const file = join(dir, 'users.csv');
    await writeFile(file, `${lines.join('\r\n')}\r\n`);

    const { code, stdout, stderr } = await admin('import', file, '--chunk-size', '10');
    expect(code).toBe(0);
    // Not a TTY: a plain progress line per chunk, over the file's 33 data rows.
    expect(stderr.trim().split('\n')).toEqual([
      'import: 0/33 rows (0%)',
      'import: 10/33 rows (30%)',
      'import: 20/33 rows (60%)',
      'import: 30/33 rows (90%)',
      'import: 33/33 rows (100%)',
    ]);
    expect(stdout).toMatch(/^rows\s+33\naccepted\s+30\nunchanged\s+0\ninvalid\s+3\n/);
    const table = stdout.split('first invalid rows:\n')[1]!.trim().split('\n');
    expect(table[0]).toMatch(/^LINE\s+REASON$/);
    const reported = table.slice(1).map((row) => Number(row.trim().split(/\s+/)[0]));
    expect(reported).toEqual([...bad.keys()]);
    for (const [line, reason] of bad) {
      expect(table.find((row) => row.trim().startsWith(`${line} `))).toContain(reason);
      // The number is the file's: that line holds the bad row.
      expect(lines[line - 1]).not.toBe(`${users[0]!.mail},ews`);
    }
    expect(lines[[...bad.keys()][0]! - 1]).toBe('not-an-address,ews');
    expect(await host.services.mailboxes.getMailbox(users[29]!.mail)).toMatchObject({ state: 'ews' });
  });

  it('imports JSON lines and reports an unreadable file in words', async () => {
    const file = join(dir, 'more.jsonl');
    await writeFile(file, `${JSON.stringify({ email: users[0]!.mail })}\n{oops\n`);
    const result = await admin('import', file);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/rows\s+2\naccepted\s+0\nunchanged\s+1\ninvalid\s+1\n/);
    expect(result.stdout).toMatch(/\n\s*2\s+not valid JSON\n/);

    const missing = await admin('import', join(dir, 'nope.csv'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: cannot read .*nope\.csv: ENOENT\n$/);
  });

  it('lists as a table, filters, and follows continuation tokens with --all', async () => {
    const ews = await admin('list', '--state', 'ews', '--all', '--page-size', '7');
    expect(ews.code).toBe(0);
    const rows = ews.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^EMAIL\s+STATE\s+TRANSPORT\s+PRIVACY\s+MIGRATED\s+REASON$/);
    expect(rows.at(-1)).toBe('30 mailboxes');
    expect(rows.slice(1, -1).map((r) => r.split(/\s+/)[0])).toEqual(users.map((u) => u.mail));

    // One page of 7 before the state filter (the server filters a page's rows), and a hint.
    const page = await admin('list', '--state', 'ews', '--page-size', '7');
    expect(page.stdout.trim().split('\n').at(-1)).toMatch(/^[67] mailboxes \(more: pass --all\)$/);

    const prefixed = await admin('list', '--prefix', 'adele');
    expect(prefixed.stdout).toMatch(/^EMAIL.*\nadele\.vance@contoso\.example\s+pending\s+graph\s+subject/);
    expect(prefixed.stdout.endsWith('1 mailbox\n')).toBe(true);

    const json = await admin('list', '--prefix', 'user000', '--json');
    expect((JSON.parse(json.stdout) as { mailboxes: unknown[] }).mailboxes).toHaveLength(9);
  });

  it('shows one mailbox; removes it; showing it again is an API error (exit 1)', async () => {
    const shown = await admin('show', users[1]!.mail);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(
      new RegExp(`^email\\s+${users[1]!.mail.replace('.', '\\.')}\\nstate\\s+ews\\n`),
    );
    expect(shown.stdout).toMatch(/\ndevices\s+0\n/);

    const removed = await admin('remove', users[1]!.mail);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toMatch(/^unenrolled user0002@contoso\.example/);
    const gone = await admin('show', users[1]!.mail);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^error: .+ \(404 \w+\)\n$/);
  });

  it('switches the migration on, reports progress and ETA, exports the migrated ones, switches off', async () => {
    const off = await admin('migration');
    expect(off.stdout).toMatch(/^Use Microsoft Graph\s+off\n/);
    expect(off.stdout).toMatch(/\nEWS remaining\s+29\n/);
    expect(off.stdout).toMatch(/\nETA\s+none while the switch is off/);

    const on = await admin('migration', 'on');
    expect(on.code).toBe(0);
    expect(on.stdout).toMatch(
      /^Use Microsoft Graph: on\n\nUse Microsoft Graph\s+on \(since \S+, by adele\.vance@contoso\.example\)\n/,
    );

    let now = Date.now();
    await maintenance(now);
    now += 5 * 60_000;
    await maintenance(now);
    const progress = await admin('migration');
    expect(progress.stdout).toMatch(/\nlast run\s+\S+: \d+ migrated, \d+ failed\n/);
    expect(progress.stdout).toMatch(/\nrate\s+[\d.]+ per run \(batch size 50\)\n/);
    expect(progress.stdout).toMatch(/\nETA\s+(\S+ \(in about|done)/);

    const since = new Date(now - 3600_000).toISOString();
    const out = join(dir, 'migrated.csv');
    const exported = await admin('export-migrated', '--since', since, '--out', out);
    expect(exported.code).toBe(0);
    const csv = (await readFile(out, 'utf8')).trim().split('\n');
    expect(csv[0]).toBe('email,transport,state,migratedAt,userPrincipalName');
    expect(csv.length).toBeGreaterThan(10);
    expect(csv.slice(1).every((row) => /^user\d{4}@contoso\.example,graph,active,/.test(row))).toBe(true);
    expect(exported.stderr).toBe(`wrote ${csv.length - 1} migrated mailboxes to ${out}\n`);
    const later = await admin('export-migrated', '--since', new Date(now + 3600_000).toISOString());
    expect(later.stdout).toBe('email,transport,state,migratedAt,userPrincipalName\n');

    const retry = await admin('migration', 'retry-failed', '--include-on-premises');
    expect(retry.stdout).toMatch(/^requeued \d+ mailbox(es)? \(failed and on-premises\)/);

    const switchedOff = await admin('migration', 'off');
    expect(switchedOff.stdout).toMatch(/^Use Microsoft Graph: off\n/);
  });
});

describe('admin CLI errors in words', () => {
  it('names the missing app role (403) and a refused token (401)', async () => {
    const userToken = await host.entraIssuer!.mint({ objectId: adele.id, upn: adele.mail });
    const noRole = await admin('list', '--token', userToken, '--app', 'api://mailpush');
    expect(noRole.code).toBe(1);
    expect(noRole.stderr).toBe(
      'error: your account lacks the MailPush.Admin app role on api://mailpush: ask an admin to assign it (Entra admin center → Enterprise applications → api://mailpush → Users and groups)\n',
    );
    const expired = await host.entraIssuer!.admin(
      { objectId: adele.id, upn: adele.mail },
      { expiresInSec: -600 },
    );
    const refused = await admin('migration', '--token', expired);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      'error: the token was refused: expired — sign in again (az login) or check --app\n',
    );
  });

  it('says when nothing listens, and when there is no way to get a token', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const capture = captureIo();
    expect(await run(['list', '--url', `http://127.0.0.1:${port}`], capture.io)).toBe(1);
    expect(capture.stderr).toBe(
      `error: nothing answers at http://127.0.0.1:${port}: is \`npm start\` running?\n`,
    );

    const remote = captureIo({ env: { MAILPUSH_URL: 'https://mailpush.example.net' } });
    expect(await run(['list'], remote.io)).toBe(2);
    expect(remote.stderr).toMatch(
      /^error: no token for https:\/\/mailpush\.example\.net: pass --app <client id or App ID URI/,
    );
  });

  it('answers a usage error with exit 2 and the usage text listing every command', async () => {
    for (const argv of [
      [],
      ['frobnicate'],
      ['enrol'],
      ['enrol', 'a@b.example', '--transport', 'imap'],
      ['list', '--bogus'],
      ['list', '--send-mail'],
      ['migration', 'sideways'],
      ['migration', '--include-on-premises'],
      ['export-migrated', '--since', 'yesterday'],
      ['show', 'a@b.example', 'c@d.example'],
    ]) {
      const result = await admin(...argv);
      expect(result.code, argv.join(' ')).toBe(2);
      expect(result.stdout).toBe('');
      for (const command of [
        'enrol',
        'import',
        'list',
        'show',
        'remove',
        'migration',
        'export-migrated',
        'status',
        'test',
      ])
        expect(result.stderr).toContain(`\n  ${command}`);
    }
  });
});
