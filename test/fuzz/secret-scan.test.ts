/**
 * The suite-wide secret scan's own tests: fed a known secret through each recorded channel
 * (console, InvocationContext logs, an `/api/...` response over the wire, a secret registered at
 * run time), the scan finds it, reports where, and never prints the secret.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import azureFunctions from '@azure/functions';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkSecretScan } from '../support/secret-scan-global.js';
import { installSecretRecorder, suspendSuiteRecorder } from '../support/secret-recorder.js';
import {
  KNOWN_SECRETS,
  SECRET_SCAN_DIR_ENV,
  formatFindings,
  recordLogLine,
  scanDirectory,
  scanRecords,
  secretsInConnectionString,
} from '../support/secret-scan.js';
import { fuzz } from '../support/fuzz.js';

const { InvocationContext } = azureFunctions;
const SIM_SECRET = 'local-simulator-secret';

describe('scanRecords', () => {
  it('finds a secret in a log line and in a response, and masks it in the report', () => {
    const findings = scanRecords(
      [
        { kind: 'log', source: 'console.log', text: `token request with client_secret=${SIM_SECRET}` },
        {
          kind: 'response',
          source: 'GET /api/manage/status 200',
          text: JSON.stringify({ secret: SIM_SECRET }),
        },
        { kind: 'log', source: 'console.log', text: 'nothing to see' },
      ],
      KNOWN_SECRETS,
    );
    expect(findings.map((f) => f.source)).toEqual(['console.log', 'GET /api/manage/status 200']);
    const report = formatFindings(findings);
    expect(report).not.toContain(SIM_SECRET);
    expect(report).toContain('lo…(22 chars)');
    expect(report).toContain('[SECRET]');
  });

  it('finds the JSON-escaped and URL-encoded forms', () => {
    const secret = 'Tr0ub4dor&3-pfx-password';
    const findings = scanRecords(
      [
        { kind: 'log', source: 'a', text: `?password=${encodeURIComponent(secret)}` },
        { kind: 'response', source: 'b', text: JSON.stringify({ p: 'Pässwörd-日本"x' }) },
      ],
      [secret, 'Pässwörd-日本"x'],
    );
    expect(findings.map((f) => f.source)).toEqual(['a', 'b']);
  });

  it('never reports text without a secret, never prints a secret it found (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 200 }),
        fc.string({ minLength: 8, maxLength: 40 }),
        (text, secret) => {
          const findings = scanRecords([{ kind: 'log', source: 's', text }], [secret]);
          expect(findings.length > 0).toBe(
            text.includes(secret) ||
              text.includes(encodeURIComponent(secret)) ||
              text.includes(JSON.stringify(secret).slice(1, -1)),
          );
          expect(formatFindings(findings).includes(secret)).toBe(false);
        },
      ),
      fuzz(300),
    );
  });

  it('takes the keys out of connection strings and SAS URLs', () => {
    expect(
      secretsInConnectionString(
        'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=Root;SharedAccessKey=topsecretkey;UseDevelopmentEmulator=true',
      ),
    ).toEqual(['topsecretkey']);
    expect(
      secretsInConnectionString('https://st.blob.core.windows.net/c?sv=2024&sig=abc%2Bdef%3D%3Dxyz'),
    ).toEqual(['abc%2Bdef%3D%3Dxyz', 'abc+def==xyz']);
    expect(secretsInConnectionString('AccountName=devstoreaccount1;AccountKey=a2V5')).toEqual([]);
  });
});

describe('the recorder, installed in this worker', () => {
  let dir: string;
  let restore: () => void;
  let server: Server | undefined;
  let resumeSuite: () => void;

  beforeEach(() => {
    // These tests log known secrets on purpose: keep them out of the suite-wide scan.
    resumeSuite = suspendSuiteRecorder();
    dir = mkdtempSync(join(tmpdir(), 'secret-scan-test-'));
    restore = installSecretRecorder(dir);
  });
  afterEach(async () => {
    restore();
    resumeSuite();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function serve(handler: (path: string) => string): Promise<string> {
    server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(handler(req.url ?? '/').slice(0, 5));
      res.end(handler(req.url ?? '/').slice(5));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('a clean run passes', () => {
    console.info('webhook change: accepted 1 of 1');
    new InvocationContext({ functionName: 'f', logHandler: () => {} }).warn('nothing secret');
    expect(checkSecretScan(dir)).toMatch(/no secret in \d+ log lines/);
  });

  it('catches a known secret logged through console', () => {
    console.debug(`credential: ${SIM_SECRET}`);
    expect(() => checkSecretScan(dir)).toThrow(/console\.debug/);
    expect(() => checkSecretScan(dir)).not.toThrow(new RegExp(SIM_SECRET));
  });

  it('catches a secret logged through an InvocationContext, even when its handler drops the line', () => {
    new InvocationContext({ functionName: 'notifications-post', logHandler: () => {} }).info(
      `could not read pfx with password Tr0ub4dor&3-pfx-password`,
    );
    const findings = scanDirectory(dir);
    expect(findings.map((f) => f.source)).toEqual(['context.info [notifications-post]']);
  });

  it('catches a secret in an /api/ response body, and registers the bearer token the request carried', async () => {
    const bearer = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    const url = await serve((path) =>
      path.startsWith('/api/echo') ? JSON.stringify({ youSent: bearer }) : JSON.stringify({ ok: true }),
    );
    await (await fetch(`${url}/api/echo`, { headers: { authorization: `Bearer ${bearer}` } })).text();
    const findings = scanDirectory(dir);
    expect(findings).toEqual([
      expect.objectContaining({
        kind: 'response',
        source: 'GET /api/echo 200',
        secret: `ey…(${bearer.length} chars)`,
      }),
    ]);
  });

  it('registers the clientState a simulator hands out, then catches it in a log line', async () => {
    const clientState = 'cs-9d1f0e2a7b3c4d5e6f708192a3b4c5d6';
    const url = await serve(() => JSON.stringify({ id: 'sub-1', clientState }));
    await (await fetch(`${url}/v1.0/subscriptions`, { method: 'POST' })).text();
    expect(scanDirectory(dir)).toEqual([]);
    console.warn(`subscription sub-1 created with ${clientState}`);
    expect(scanDirectory(dir).map((f) => f.source)).toEqual(['console.warn']);
  });

  it('records the local runner’s own lines (test-host.ts `log: recordLogLine`)', () => {
    const previous = process.env[SECRET_SCAN_DIR_ENV];
    process.env[SECRET_SCAN_DIR_ENV] = dir;
    try {
      recordLogLine('[local] settings: {"GRAPH_CLIENT_SECRET":"local-simulator-secret"}');
    } finally {
      if (previous === undefined) delete process.env[SECRET_SCAN_DIR_ENV];
      else process.env[SECRET_SCAN_DIR_ENV] = previous;
    }
    expect(scanDirectory(dir).map((f) => f.source)).toEqual(['local-host']);
  });

  it('a secret registered by another worker counts too', () => {
    writeFileSync(
      join(dir, 'worker-other.jsonl'),
      `${JSON.stringify({ kind: 'secret', source: 'other worker', text: 'per-run-webhook-key-123' })}\n`,
    );
    console.log('the key is per-run-webhook-key-123');
    expect(scanDirectory(dir)).toHaveLength(1);
  });
});
