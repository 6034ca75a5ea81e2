/**
 * Suite-wide secret scan, the checking half: what the recorder (test/support/secret-recorder.ts)
 * wrote while the tests ran — every log line and every `/api/...` response body, one JSON line
 * each in a per-worker file — is searched for every secret the tests use. A hit fails the run.
 * Reports never contain the secret itself, only its length and where it was found.
 */
import { appendFileSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Directory the per-worker record files go to; set by the global setup (secret-scan-global.ts). */
export const SECRET_SCAN_DIR_ENV = 'SECRET_SCAN_DIR';

/** Shorter values are too likely to occur by chance (and are not real secrets). */
export const MIN_SECRET_LENGTH = 8;

/**
 * Secrets the tests and simulators use by name: the simulated tenant's client secret
 * (dev/sim/graph/demo.ts), PFX passwords, push webhook and gateway secrets, storage and Service Bus
 * keys, the local function key. Values registered at run time (bearer tokens, clientState,
 * access tokens, keys in connection strings) are added by the recorder.
 */
export const KNOWN_SECRETS: readonly string[] = [
  'local-simulator-secret',
  'local-dev-function-key',
  'Tr0ub4dor&3-pfx-password',
  'pfx-password-for-the-test',
  'pfxpassword',
  'Pässwörd-日本',
  'Passwörd-日本',
  'Zk8Q~abcDEF123ghiJKL456mnoPQR789stuVWX0yz',
  'Zk8Q~graph-secret-value-1234567890',
  'Zk8Q~resolved-key-vault-reference-1234567890',
  'gateway-secret-0123456789abcdef0123456789abcdef',
  'wh-secret-value-0123456789abcdef0123456789',
  'whsec-0123456789abcdef0123456789abcdef',
  'another-secret-that-is-long-enough-0123456789',
  'no-consent-app-secret',
  'a-wrong-secret-that-must-not-leak',
  'cs-3f9a1c2b7d8e4f60a1b2c3d4e5f60718',
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
  'SUPERSECRETKEY==',
  'c2VjcmV0LWtleQ==',
  'topsecretkey',
];

export type RecordKind = 'log' | 'response' | 'secret';

export interface ScanRecord {
  kind: RecordKind;
  /** Where it came from: `console.warn`, `context.error [notifications-post]`, `GET /api/...`, … */
  source: string;
  /** The log line or response body; for `secret`, the secret value. */
  text: string;
}

export interface Finding {
  source: string;
  kind: RecordKind;
  /** The secret, masked: first two characters and its length. */
  secret: string;
  /** The text around the hit, with every known secret masked. */
  excerpt: string;
}

function fileOf(dir: string): string {
  return join(dir, `worker-${process.pid}.jsonl`);
}

/** Appends one record to this worker's file; does nothing when the scan is not switched on. */
export function appendRecord(record: ScanRecord, dir = process.env[SECRET_SCAN_DIR_ENV]): void {
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  appendFileSync(fileOf(dir), `${JSON.stringify(record)}\n`);
}

/**
 * For test/support/test-host.ts (`log: recordLogLine` instead of `log: () => {}`): records the local
 * runner's own lines (`[local] settings: …`, `[local] request failed: …`). A no-op when the scan is off.
 */
export function recordLogLine(line: string): void {
  appendRecord({ kind: 'log', source: 'local-host', text: line });
}

/** Adds a secret the scan must look for (a token minted, a clientState issued, a key). */
export function registerSecret(value: string | undefined | null, source = 'registered'): void {
  if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) return;
  appendRecord({ kind: 'secret', source, text: value });
}

/** The keys and signatures in a storage, Service Bus or Notification Hubs connection string or SAS URL. */
export function secretsInConnectionString(value: string): string[] {
  const out: string[] = [];
  for (const match of value.matchAll(
    /(?:AccountKey|SharedAccessKey|SharedAccessSignature|sig|Password)=([^;&\s]+)/gi,
  )) {
    const secret = match[1]!;
    out.push(secret);
    try {
      const decoded = decodeURIComponent(secret);
      if (decoded !== secret) out.push(decoded);
    } catch {
      // Not URL-encoded.
    }
  }
  return out.filter((s) => s.length >= MIN_SECRET_LENGTH);
}

/** The forms a secret may take in a log line or a JSON body. */
function formsOf(secret: string): string[] {
  const forms = new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)]);
  return [...forms].filter((f) => f.length >= MIN_SECRET_LENGTH);
}

export function maskSecret(secret: string): string {
  return `${secret.slice(0, 2)}…(${secret.length} chars)`;
}

/** Searches log and response records for the secrets; the findings never contain a secret. */
export function scanRecords(records: readonly ScanRecord[], secrets: Iterable<string>): Finding[] {
  const all = [...new Set([...secrets].filter((s) => s.length >= MIN_SECRET_LENGTH))].sort(
    (a, b) => b.length - a.length,
  );
  const mask = (text: string) =>
    all.reduce((t, s) => formsOf(s).reduce((u, f) => u.split(f).join('[SECRET]'), t), text);
  const findings: Finding[] = [];
  for (const record of records) {
    if (record.kind === 'secret') continue;
    for (const secret of all) {
      const form = formsOf(secret).find((f) => record.text.includes(f));
      if (form === undefined) continue;
      const at = record.text.indexOf(form);
      const excerpt = mask(record.text.slice(Math.max(0, at - 80), at + form.length + 80));
      findings.push({ source: record.source, kind: record.kind, secret: maskSecret(secret), excerpt });
    }
  }
  return findings;
}

/** Reads every worker's records in `dir`. */
export function readRecords(dir: string): ScanRecord[] {
  const records: ScanRecord[] = [];
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
  } catch {
    return records;
  }
  for (const file of files) {
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
      if (line === '') continue;
      try {
        records.push(JSON.parse(line) as ScanRecord);
      } catch {
        // A worker killed mid-write leaves a partial last line.
      }
    }
  }
  return records;
}

/** Scans everything the workers recorded in `dir` for the known and the registered secrets. */
export function scanDirectory(dir: string, extraSecrets: readonly string[] = []): Finding[] {
  const records = readRecords(dir);
  const secrets = [
    ...KNOWN_SECRETS,
    ...extraSecrets,
    ...records.filter((r) => r.kind === 'secret').map((r) => r.text),
  ];
  return scanRecords(records, secrets);
}

export function formatFindings(findings: readonly Finding[]): string {
  const lines = findings
    .slice(0, 50)
    .map((f) => `- ${f.secret} in ${f.kind} from ${f.source}: ${JSON.stringify(f.excerpt)}`);
  if (findings.length > 50) lines.push(`- … and ${findings.length - 50} more`);
  return `Secret scan: ${findings.length} secret(s) found in logs or HTTP responses:\n${lines.join('\n')}`;
}
