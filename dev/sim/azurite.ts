/**
 * Starts the Table service of the npm `azurite` package as a child process, in memory, on a free
 * port. Used by the vitest globalSetup and by the local runner (`npm start`), so it must not
 * depend on vitest.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** Azurite's well-known development account (public, documented by Microsoft; not a secret). */
export const AZURITE_ACCOUNT_NAME = 'devstoreaccount1';
export const AZURITE_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteTables {
  /** `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=...;TableEndpoint=http://127.0.0.1:PORT/devstoreaccount1;` */
  tablesConnectionString: string;
  /** `http://127.0.0.1:PORT/devstoreaccount1` */
  tableEndpoint: string;
  /** The Azurite process (a child of this one), e.g. to pause it with SIGSTOP in a crash test. */
  pid: number | undefined;
  /** Kills the child process and waits for it to exit. Safe to call more than once. */
  stop(): Promise<void>;
}

export interface StartAzuriteOptions {
  /** How long to wait for Azurite to answer, per attempt. Default 30 s. */
  startTimeoutMs?: number;
  /** How many times to pick a new port if the chosen one was taken meanwhile. Default 5. */
  maxAttempts?: number;
}

const HOST = '127.0.0.1';
const STARTED_MARKER = 'Azurite Table service successfully started';
const OUTPUT_LIMIT = 64 * 1024;
const STOP_TIMEOUT_MS = 5_000;

export async function startAzurite(options: StartAzuriteOptions = {}): Promise<AzuriteTables> {
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const maxAttempts = options.maxAttempts ?? 5;
  const entry = await resolveAzuriteTableEntry();
  // Azurite uses its working directory as "location" even in memory; keep it out of the repo.
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'azurite-tables-'));

  let lastFailure: StartFailure | undefined;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const port = await findFreePort();
    const result = await tryStart(entry, workDir, port, startTimeoutMs);
    if (result.ok) {
      const tableEndpoint = `http://${HOST}:${port}/${AZURITE_ACCOUNT_NAME}`;
      return {
        tableEndpoint,
        pid: result.pid,
        tablesConnectionString:
          `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT_NAME};` +
          `AccountKey=${AZURITE_ACCOUNT_KEY};TableEndpoint=${tableEndpoint};`,
        stop: once(async () => {
          await result.stop();
          await rm(workDir, { recursive: true, force: true });
        }),
      };
    }
    lastFailure = result;
    if (!result.addressInUse) break;
  }

  await rm(workDir, { recursive: true, force: true });
  const failure = lastFailure ?? { reason: 'no attempt was made', output: '' };
  process.stderr.write(
    `[azurite] failed to start the Table service: ${failure.reason}\n` +
      `[azurite] captured output:\n${failure.output || '(none)'}\n`,
  );
  throw new Error(`Azurite Table service did not start: ${failure.reason}`);
}

interface StartFailure {
  reason: string;
  output: string;
  addressInUse?: boolean;
}

type StartResult =
  { ok: true; pid: number | undefined; stop(): Promise<void> } | ({ ok: false } & StartFailure);

async function tryStart(entry: string, cwd: string, port: number, timeoutMs: number): Promise<StartResult> {
  const env = { ...process.env };
  // Don't pass on --inspect, loaders, etc. meant for the parent.
  delete env.NODE_OPTIONS;

  const child = spawn(
    process.execPath,
    [
      entry,
      '--tableHost',
      HOST,
      '--tablePort',
      String(port),
      '--inMemoryPersistence',
      '--disableTelemetry',
      '--skipApiVersionCheck',
      '--loose',
      '--silent',
    ],
    { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true },
  );

  // Output is kept (bounded) and only shown if start fails. The pipes must be drained for the
  // whole life of the child, or it blocks once a pipe buffer fills up.
  let output = '';
  let stdoutText = '';
  const append = (chunk: Buffer, isStdout: boolean): void => {
    const text = chunk.toString('utf8');
    output = (output + text).slice(-OUTPUT_LIMIT);
    if (isStdout && stdoutText.length < OUTPUT_LIMIT) stdoutText += text;
  };
  child.stdout?.on('data', (chunk: Buffer) => append(chunk, true));
  child.stderr?.on('data', (chunk: Buffer) => append(chunk, false));

  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });

  // If the parent dies without calling stop() (e.g. the local runner crashes), don't leave
  // an orphaned server behind.
  const killOnParentExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnParentExit);

  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnParentExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    try {
      await exited;
    } finally {
      clearTimeout(timer);
    }
  };

  const deadline = Date.now() + timeoutMs;
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });

  // Ready = our child printed that it is listening (so the port is ours, not some other
  // process's) and the port answers HTTP.
  while (Date.now() < deadline) {
    if (spawnError) {
      await stop();
      return { ok: false, reason: `could not spawn ${entry}: ${spawnError.message}`, output };
    }
    if (child.exitCode !== null || child.signalCode !== null) {
      return {
        ok: false,
        reason: `process exited early (code ${child.exitCode}, signal ${child.signalCode}) on port ${port}`,
        output,
        addressInUse: /EADDRINUSE/.test(output),
      };
    }
    if (stdoutText.includes(STARTED_MARKER) && (await answersHttp(port))) {
      return { ok: true, pid: child.pid, stop };
    }
    await Promise.race([delay(50), exited]);
  }

  await stop();
  return { ok: false, reason: `no answer on ${HOST}:${port} within ${timeoutMs} ms`, output };
}

async function resolveAzuriteTableEntry(): Promise<string> {
  const require = createRequire(import.meta.url);
  let packageJsonPath: string;
  try {
    packageJsonPath = require.resolve('azurite/package.json');
  } catch (err) {
    throw new Error('The npm package "azurite" is not installed (it is a devDependency; run npm ci)', {
      cause: err,
    });
  }
  const pkg = JSON.parse(await readFile(packageJsonPath, 'utf8')) as { bin?: Record<string, string> };
  const bin = pkg.bin?.['azurite-table'];
  if (!bin) throw new Error(`${packageJsonPath} has no "azurite-table" bin entry`);
  return path.resolve(path.dirname(packageJsonPath), bin);
}

/** Binds port 0 on HOST and releases it; the caller retries if someone takes it meanwhile. */
function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close((err) =>
        err ? reject(err) : port ? resolve(port) : reject(new Error('no port assigned')),
      );
    });
  });
}

/** True if something answers HTTP on the port (any status code: we only need a response). */
function answersHttp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(
      { host: HOST, port, path: `/${AZURITE_ACCOUNT_NAME}/Tables`, timeout: 1_000, agent: false },
      (res) => {
        res.resume();
        resolve(true);
      },
    );
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', () => resolve(false));
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let pending: Promise<void> | undefined;
  return () => (pending ??= fn());
}
