/**
 * Suite-wide secret scan, the recording half (a vitest `setupFiles` module). In every worker it
 * records, one JSON line each in a per-worker file under $SECRET_SCAN_DIR:
 * - every console.* line;
 * - every InvocationContext log call (log/trace/debug/info/warn/error) at any level, before the
 *   handler drops it (the local runner is quiet in tests and test-host.ts passes `log: () => {}`);
 * - every response body an in-process HTTP server writes for an `/api/...` path (the function
 *   host the integration tests call over the wire);
 * and registers as secrets: bearer tokens and function keys that requests carry, the keys in
 * connection strings of the environment and of the suite's Azurite, and the clientState and
 * access tokens the Graph and Entra simulators hand out.
 *
 * Off (nothing wrapped) unless $SECRET_SCAN_DIR is set, which test/support/secret-scan-global.ts does.
 */
import { ServerResponse } from 'node:http';
import { format } from 'node:util';
import azureFunctions from '@azure/functions';
import { inject } from 'vitest';
import {
  SECRET_SCAN_DIR_ENV,
  appendRecord,
  registerSecret,
  secretsInConnectionString,
  type ScanRecord,
} from './secret-scan.js';

const CONSOLE_METHODS = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const;
const CONTEXT_METHODS = ['log', 'trace', 'debug', 'info', 'warn', 'error'] as const;

type Restore = () => void;

/** Wraps console, InvocationContext and ServerResponse; returns a function that undoes it. */
export function installSecretRecorder(dir: string): Restore {
  const restores: Restore[] = [];
  const record = (r: ScanRecord) => appendRecord(r, dir);

  for (const method of CONSOLE_METHODS) {
    // Kept unbound on purpose: it is put back as it was, and called with console as `this`.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const original = console[method];
    console[method] = (...args: unknown[]) => {
      record({ kind: 'log', source: `console.${method}`, text: format(...args) });
      original.apply(console, args);
    };
    restores.push(() => {
      console[method] = original;
    });
  }

  const proto = azureFunctions.InvocationContext.prototype as unknown as Record<
    string,
    (...args: unknown[]) => void
  >;
  for (const method of CONTEXT_METHODS) {
    const original = proto[method]!;
    proto[method] = function (this: { functionName?: string }, ...args: unknown[]) {
      record({
        kind: 'log',
        source: `context.${method} [${this.functionName ?? '?'}]`,
        text: args.map(String).join(' '),
      });
      original.apply(this, args);
    };
    restores.push(() => {
      proto[method] = original;
    });
  }

  restores.push(recordResponses(record, dir));

  for (const value of Object.values(process.env))
    if (value) for (const secret of secretsInConnectionString(value)) registerSecretIn(dir, secret, 'env');
  try {
    for (const secret of secretsInConnectionString(inject('tablesConnectionString')))
      registerSecretIn(dir, secret, 'azurite');
  } catch {
    // Not provided (a config without the Azurite global setup).
  }

  return () => {
    for (const restore of restores.reverse()) restore();
  };
}

/** Registered already by this worker (a bearer token is sent with every request). */
const registered = new Set<string>();

function registerSecretIn(dir: string, value: string, source: string): void {
  const key = `${dir}\n${value}`;
  if (registered.has(key)) return;
  registered.add(key);
  const previous = process.env[SECRET_SCAN_DIR_ENV];
  process.env[SECRET_SCAN_DIR_ENV] = dir;
  try {
    registerSecret(value, source);
  } finally {
    if (previous === undefined) delete process.env[SECRET_SCAN_DIR_ENV];
    else process.env[SECRET_SCAN_DIR_ENV] = previous;
  }
}

interface Recorded {
  __secretScanChunks?: Buffer[];
}

function toBuffer(chunk: unknown, encoding: unknown): Buffer | undefined {
  if (typeof chunk === 'string')
    return Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return Buffer.from(chunk);
  return undefined;
}

/** Wraps ServerResponse.write/end of every in-process server (function host and simulators). */
function recordResponses(record: (r: ScanRecord) => void, dir: string): Restore {
  const proto = ServerResponse.prototype as unknown as {
    write: (...args: unknown[]) => boolean;
    end: (...args: unknown[]) => ServerResponse;
  };
  const { write, end } = proto;
  proto.write = function (this: ServerResponse & Recorded, chunk: unknown, ...rest: unknown[]) {
    const buffer = toBuffer(chunk, rest[0]);
    if (buffer) (this.__secretScanChunks ??= []).push(buffer);
    return write.call(this, chunk, ...rest);
  };
  proto.end = function (this: ServerResponse & Recorded, ...args: unknown[]) {
    const [chunk, encoding] = args;
    if (typeof chunk !== 'function') {
      const buffer = toBuffer(chunk, encoding);
      if (buffer) (this.__secretScanChunks ??= []).push(buffer);
    }
    try {
      onResponse(this, Buffer.concat(this.__secretScanChunks ?? []).toString('utf8'), record, dir);
    } catch {
      // Recording must never break a response.
    }
    this.__secretScanChunks = undefined;
    return end.apply(this, args);
  };
  return () => {
    proto.write = write;
    proto.end = end;
  };
}

function onResponse(res: ServerResponse, body: string, record: (r: ScanRecord) => void, dir: string): void {
  const req = res.req as (typeof res.req & { __secretScanSeen?: boolean }) | undefined;
  if (!req || req.__secretScanSeen) return;
  req.__secretScanSeen = true;
  const url = new URL(req.url ?? '/', 'http://local');
  // What the request carried is a secret wherever it goes next.
  const authorization = req.headers.authorization;
  if (typeof authorization === 'string') {
    const token = authorization.replace(/^\s*\S+\s+/, '').trim();
    registerSecretIn(dir, token, 'request authorization');
  }
  const functionKey = req.headers['x-functions-key'];
  if (typeof functionKey === 'string') registerSecretIn(dir, functionKey, 'request x-functions-key');
  const code = url.searchParams.get('code');
  if (code) registerSecretIn(dir, code, 'request ?code=');

  if (url.pathname.startsWith('/api/')) {
    record({
      kind: 'response',
      source: `${req.method ?? '?'} ${url.pathname} ${res.statusCode}`,
      text: body,
    });
    return;
  }
  // A simulator's answer (Graph creating a subscription, Entra minting a token): remember its secrets.
  for (const match of body.matchAll(
    /"(clientState|access_token|refresh_token|client_secret)"\s*:\s*"([^"]+)"/g,
  ))
    registerSecretIn(dir, match[2]!, `simulator ${match[1]}`);
}

// As a setupFiles module: switch on when the global setup provided a directory.
const suiteDir = process.env[SECRET_SCAN_DIR_ENV];
let suiteRestore: Restore | undefined = suiteDir ? installSecretRecorder(suiteDir) : undefined;

/**
 * Stops the suite-wide recording until the returned function is called: for the recorder's own
 * tests, which log known secrets on purpose.
 */
export function suspendSuiteRecorder(): () => void {
  const active = suiteRestore !== undefined;
  suiteRestore?.();
  suiteRestore = undefined;
  return () => {
    if (active && suiteDir) suiteRestore = installSecretRecorder(suiteDir);
  };
}
