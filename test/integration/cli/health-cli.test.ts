import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../dev/cli/main.js';
import { captureIo } from './capture.js';

/**
 * `status` and `test` against a small fake of their endpoints (the contracts of
 * GET /api/manage/status and POST /api/manage/connectivity-test), over real HTTP.
 */
const TOKEN = 'fake-admin-token-not-a-jwt';
const STATUS = {
  verdict: 'warning',
  reasons: ['The client certificate expires in 12 days: upload a new one.'],
  version: '0.1.0',
  credential: {
    type: 'certificate',
    status: 'expiring',
    daysLeft: 12,
    expiresOn: '2026-07-01T00:00:00.000Z',
    subject: 'CN=mailpush',
    thumbprintSha1: 'AB12',
  },
  mailboxes: { byState: { active: 90, ews: 10, failed: 0 }, total: 100 },
  subscriptions: { expired: 0, within24h: 3, within72h: 9 },
  maintenance: {
    lastRun: {
      at: '2026-06-19T10:00:00.000Z',
      durationMs: 1200,
      renewed: 40,
      created: 2,
      migrated: 50,
      failures: { access_policy: 1 },
    },
    nextRunAt: '2026-06-19T10:05:00.000Z',
    stale: false,
  },
  migration: { enabled: true, remaining: 10, perRun: 50, batchSize: 50, recentRuns: [] },
  queue: { deadLetters: 2 },
};

let server: Server;
let url: string;
const calls: { path: string; body: Record<string, unknown> }[] = [];
let failStep: string | undefined;
/** Plays an instance deployed before the status endpoint. */
let older = false;

async function bodyOf(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

beforeAll(async () => {
  server = createServer((req, res) => {
    void (async () => {
      const body = await bodyOf(req);
      calls.push({ path: req.url ?? '', body });
      res.setHeader('content-type', 'application/json');
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        res.writeHead(401).end(JSON.stringify({ error: { code: 'invalid_token', message: 'no' } }));
      } else if (req.method === 'GET' && req.url === '/api/manage/status' && !older) {
        res.end(JSON.stringify(STATUS));
      } else if (req.method === 'POST' && req.url === '/api/manage/connectivity-test') {
        const name = (body.steps as string[])[0]!;
        const failed = name === failStep;
        res.end(
          JSON.stringify({
            email: body.email,
            passed: !failed,
            steps: [
              {
                name,
                status: failed ? 'failed' : 'passed',
                durationMs: 42,
                detail: failed ? 'Access to OData is disabled' : `${name} fine`,
                ...(failed ? { action: 'Check Test-ApplicationAccessPolicy' } : {}),
                ...(name === 'subscription' ? { handshakeMs: 180 } : {}),
                ...(name === 'testMail' ? { latencyMs: 2400 } : {}),
              },
            ],
          }),
        );
      } else {
        res.writeHead(404).end(JSON.stringify({ error: { code: 'not_found', message: 'Not found.' } }));
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function admin(argv: string[], options: { tty?: boolean; env?: Record<string, string> } = {}) {
  const capture = captureIo({ env: { MAILPUSH_TOKEN: TOKEN, ...options.env }, tty: options.tty === true });
  const code = await run(['--url', url, ...argv], capture.io);
  expect(capture.stdout + capture.stderr).not.toContain(TOKEN);
  return { code, stdout: capture.stdout, stderr: capture.stderr };
}

describe('status', () => {
  it('prints the verdict, reasons, credential card and counts, plain when not a terminal', async () => {
    const { code, stdout } = await admin(['status']);
    expect(code).toBe(0);
    expect(stdout).not.toContain('\u001b[');
    expect(stdout).toContain('40 renewed, 2 created, 50 migrated; failures: access_policy 1');
    expect(stdout).toMatch(
      /^verdict {2}WARNING {3}\(version 0\.1\.0\)\n {2}- The client certificate expires in 12 days/,
    );
    expect(stdout).toMatch(
      /\ncredential\n {2}type\s+certificate\n {2}status\s+expiring \(12 days left\)\n {2}expires on\s+2026-07-01/,
    );
    expect(stdout).toMatch(/\n {2}SHA-1\s+AB12\n/);
    expect(stdout).toMatch(/\nmailboxes\s+100 \(active 90, ews 10\)\n/);
    expect(stdout).toMatch(/\nsubscriptions\s+0 expired, 3 expire within 24 h, 9 within 72 h\n/);
    expect(stdout).toMatch(/\ndead letters\s+2\n/);
    expect(stdout).toMatch(/\nmigration\n {2}Use Microsoft Graph\s+on\n {2}EWS remaining\s+10\n/);
  });

  it('colours the verdict on a terminal unless NO_COLOR is set', async () => {
    const tty = await admin(['status'], { tty: true });
    expect(tty.stdout).toContain('\u001b[33mWARNING\u001b[0m');
    const noColour = await admin(['status'], { tty: true, env: { NO_COLOR: '1' } });
    expect(noColour.stdout).not.toContain('\u001b[');
  });

  it('says so when the instance predates the endpoint', async () => {
    older = true;
    const { code, stderr } = await admin(['status']);
    older = false;
    expect(code).toBe(1);
    expect(stderr).toBe(`error: ${url} has no /api/manage/status yet: deploy a newer MailPush there\n`);
  });

  it('--json prints the API’s answer', async () => {
    const { stdout } = await admin(['status', '--json']);
    expect(JSON.parse(stdout)).toEqual(STATUS);
  });
});

describe('test <email>', () => {
  it('calls one step at a time and prints each with its mark, duration and detail', async () => {
    calls.length = 0;
    failStep = undefined;
    const { code, stdout } = await admin(['test', 'alex@contoso.example', '--send-mail']);
    expect(code).toBe(0);
    expect(calls.map((c) => c.body)).toEqual(
      ['token', 'user', 'inbox', 'subscription', 'testMail'].map((step) => ({
        email: 'alex@contoso.example',
        sendTestMail: true,
        steps: [step],
      })),
    );
    expect(stdout.split('\n')).toEqual([
      'connectivity test for alex@contoso.example',
      '✔ token           42 ms  token fine',
      '✔ user            42 ms  user fine',
      '✔ inbox           42 ms  inbox fine',
      '✔ subscription    42 ms  subscription fine; handshake 180 ms',
      '✔ testMail        42 ms  testMail fine; end to end 2400 ms',
      'passed',
      '',
    ]);
  });

  it('stops at a failed step, shows its action, skips the rest and exits 1', async () => {
    calls.length = 0;
    failStep = 'inbox';
    const { code, stdout } = await admin(['test', 'alex@contoso.example']);
    expect(code).toBe(1);
    expect(calls).toHaveLength(3);
    expect(stdout).toContain(
      '✖ inbox           42 ms  Access to OData is disabled\n  → Check Test-ApplicationAccessPolicy\n',
    );
    expect(stdout).toContain('– subscription           an earlier step failed\n');
    expect(stdout.endsWith('failed\n')).toBe(true);
  });

  it('skips the test mail without --send-mail', async () => {
    calls.length = 0;
    failStep = undefined;
    const { code, stdout } = await admin(['test', 'alex@contoso.example']);
    expect(code).toBe(0);
    expect(calls).toHaveLength(4);
    expect(stdout).toContain('– testMail               pass --send-mail to send a test mail\n');
  });

  it('says a refused token in words', async () => {
    const { code, stderr } = await admin(['status', '--token', 'wrong']);
    expect(code).toBe(1);
    expect(stderr).toBe(
      'error: the token was refused: invalid_token — sign in again (az login) or check --app\n',
    );
  });
});
