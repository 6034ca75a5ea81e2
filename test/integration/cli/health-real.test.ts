import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../../dev/cli/main.js';
import type { LocalHost } from '../../../dev/local/host.js';
import { DEMO_TENANT } from '../../../dev/sim/graph/demo.js';
import { startTestHost } from '../../support/test-host.js';
import { captureIo } from './capture.js';

/** `status` and `test` against the real endpoints of the local runner. */
let host: LocalHost;
const [adele] = DEMO_TENANT.users;

beforeAll(async () => {
  host = await startTestHost({ startQueueTriggers: false, env: { LOCAL_SIM_USERS: '30' } });
});

afterAll(async () => {
  await host?.stop();
});

async function admin(...argv: string[]) {
  const capture = captureIo();
  const code = await run(['--url', host.url, ...argv], capture.io);
  expect(capture.stdout + capture.stderr).not.toMatch(/eyJ[\w-]{10,}/);
  return { code, stdout: capture.stdout, stderr: capture.stderr };
}

describe('status and test against the local runner', () => {
  it('status prints a verdict and the credential card', async () => {
    const { code, stdout, stderr } = await admin('status');
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^verdict {2}(OK|WARNING|CRITICAL)/);
    expect(stdout).toMatch(/\ncredential\n {2}type\s+\S+/);
  });

  it('test runs every step for a healthy user', async () => {
    const { code, stdout } = await admin('test', adele.mail, '--send-mail');
    expect(stdout).toMatch(/^✔ token\s+\d+ ms/m);
    expect(stdout).toMatch(/^✔ subscription\s+\d+ ms.*handshake \d+ ms/m);
    expect(stdout).toMatch(/^[✔✖] testMail/m);
    expect(code).toBe(stdout.endsWith('passed\n') ? 0 : 1);
  });

  it('test stops at the first failed step for a mailbox outside the access policy', async () => {
    const { code, stdout } = await admin('test', 'user0005@contoso.example');
    expect(code).toBe(1);
    expect(stdout).toMatch(/^✖ inbox\s+\d+ ms/m);
    expect(stdout).toMatch(/^– subscription\s+an earlier step failed/m);
  });
});
