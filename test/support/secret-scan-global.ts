/**
 * vitest globalSetup of the suite-wide secret scan: a fresh directory for the workers' records
 * (the forks inherit $SECRET_SCAN_DIR, set here before they start), and at the end of the run a
 * scan of everything recorded; any secret found fails the run. The directory is kept when the scan
 * fails, so the records can be looked at, and removed otherwise.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SECRET_SCAN_DIR_ENV, formatFindings, readRecords, scanDirectory } from './secret-scan.js';

/** Scans `dir`; throws (failing the run) on a hit. Returns a one-line summary otherwise. */
export function checkSecretScan(dir: string): string {
  const findings = scanDirectory(dir);
  if (findings.length > 0) throw new Error(`${formatFindings(findings)}\n(records kept in ${dir})`);
  const records = readRecords(dir);
  const count = (kind: string) => records.filter((r) => r.kind === kind).length;
  return `secret scan: no secret in ${count('log')} log lines and ${count('response')} responses (${count('secret')} secrets registered)`;
}

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'secret-scan-'));
  process.env[SECRET_SCAN_DIR_ENV] = dir;
  return () => {
    const summary = checkSecretScan(dir);
    console.log(summary);
    rmSync(dir, { recursive: true, force: true });
  };
}
