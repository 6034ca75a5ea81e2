/**
 * Trusting the simulator's CA in test workers.
 *
 * Node reads NODE_EXTRA_CA_CERTS only when a process starts, so the CA must exist before the
 * vitest workers are forked. `prepareGraphSimulatorCa()` (call it from a vitest globalSetup, which
 * runs in the parent process before any worker starts):
 * - makes (once) or reuses a local CA in a per-user directory, by default
 *   `<os.tmpdir()>/graph-sim-ca-<uid>` (`ca.pem`, `ca-key.pem` mode 0600, directory 0700);
 * - points NODE_EXTRA_CA_CERTS at `ca.pem`, or, when NODE_EXTRA_CA_CERTS already named a file, at
 *   a bundle of that file plus the CA (workers inherit process.env);
 * - sets GRAPH_SIMULATOR_CA_DIR so every `startGraphSimulator()` in a worker signs its server
 *   certificate with that CA instead of making its own.
 * The teardown only restores the two variables: the files stay for the next run, because vitest
 * may still start a worker (with the inherited variables) after globalSetup teardown, and Node
 * warns at start-up when NODE_EXTRA_CA_CERTS names a missing file.
 *
 * No vitest import here: the local runner can use it too (it must then start the process that
 * talks to the simulator, e.g. the function host, with the same environment).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { CA_DIR_ENV, ensureGraphSimCa } from './certs.js';

export interface PreparedGraphSimulatorCa {
  dir: string;
  caCertificatePath: string;
  /** What NODE_EXTRA_CA_CERTS now names. */
  trustBundlePath: string;
  teardown(): Promise<void>;
}

function defaultDir(): string {
  let user = 'user';
  try {
    user = String(userInfo().uid >= 0 ? userInfo().uid : userInfo().username);
  } catch {
    // no user database entry
  }
  return join(tmpdir(), `graph-sim-ca-${user}`);
}

export function prepareGraphSimulatorCa(options: { dir?: string } = {}): PreparedGraphSimulatorCa {
  const previousExtra = process.env.NODE_EXTRA_CA_CERTS;
  const previousDir = process.env[CA_DIR_ENV];
  const dir = options.dir ?? defaultDir();
  const ca = ensureGraphSimCa(dir);
  let trustBundlePath = ca.certPath;
  if (previousExtra && existsSync(previousExtra)) {
    const content = `${readFileSync(previousExtra, 'utf8').trim()}\n${ca.certPem.trim()}\n`;
    // Content-addressed, so parallel runs with the same inputs agree on the file.
    trustBundlePath = join(
      dir,
      `trust-bundle-${createHash('sha256').update(content).digest('hex').slice(0, 16)}.pem`,
    );
    if (!existsSync(trustBundlePath)) {
      const tmp = `${trustBundlePath}.${process.pid}.tmp`;
      writeFileSync(tmp, content);
      renameSync(tmp, trustBundlePath);
    }
  }
  process.env.NODE_EXTRA_CA_CERTS = trustBundlePath;
  process.env[CA_DIR_ENV] = dir;
  return {
    dir,
    caCertificatePath: ca.certPath,
    trustBundlePath,
    teardown: async () => {
      if (previousExtra === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
      else process.env.NODE_EXTRA_CA_CERTS = previousExtra;
      if (previousDir === undefined) delete process.env[CA_DIR_ENV];
      else process.env[CA_DIR_ENV] = previousDir;
    },
  };
}
