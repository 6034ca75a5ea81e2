#!/usr/bin/env node
// Production dependencies against npm's advisory database: `npm audit --omit=dev --json`, failing
// on a high or critical advisory that is not in .ci/audit-exceptions.json (each exception has the
// advisory, the date it was accepted, an expiry and why). An expired exception fails like none.
//
// If the registry does not serve the audit endpoint (some mirrors and proxies answer 405/404), the
// audit cannot say anything: this prints that plainly and exits 0 (a warning), because failing
// every CI run on a registry we do not control would only teach people to ignore CI. Set
// AUDIT_STRICT=1 to make that case fail instead (e.g. where the public registry is reachable).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const FAILING = new Set(['high', 'critical']);
const exceptionsFile = new URL('./audit-exceptions.json', import.meta.url);
const strict = process.env.AUDIT_STRICT === '1';
const today = new Date().toISOString().slice(0, 10);

const exceptions = JSON.parse(readFileSync(exceptionsFile, 'utf8')).exceptions ?? [];
for (const e of exceptions) {
  if (!e.advisory || !/^\d{4}-\d{2}-\d{2}$/.test(e.accepted ?? '') || !/^\d{4}-\d{2}-\d{2}$/.test(e.expires ?? '') || !e.reason) {
    console.error(`audit: malformed exception ${JSON.stringify(e)} (needs advisory, accepted, expires as YYYY-MM-DD, reason)`);
    process.exit(1);
  }
}

let raw;
try {
  raw = execFileSync('npm', ['audit', '--omit=dev', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
} catch (error) {
  // npm audit exits 1 when it found vulnerabilities; its JSON is still on stdout.
  raw = error.stdout ?? '';
}
let report;
try {
  report = JSON.parse(raw);
} catch {
  report = undefined;
}
if (!report || report.error || report.statusCode || !report.vulnerabilities) {
  const why = report?.message ?? report?.error?.summary ?? 'no JSON report';
  console.error(`audit: NOT CHECKED: the registry did not answer the audit request (${why}).`);
  console.error('audit: production dependencies were not checked for advisories in this run.');
  process.exit(strict ? 1 : 0);
}

const failing = [];
for (const [name, vulnerability] of Object.entries(report.vulnerabilities)) {
  for (const via of vulnerability.via ?? []) {
    if (typeof via !== 'object' || !FAILING.has(via.severity)) continue;
    const id = via.url ?? String(via.source);
    const exception = exceptions.find((e) => e.advisory === id || e.advisory === String(via.source));
    if (exception && exception.expires >= today) {
      console.log(`audit: accepted until ${exception.expires}: ${name} ${id} (${via.severity}): ${exception.reason}`);
      continue;
    }
    failing.push(`${name}: ${via.severity} ${id} ${via.title ?? ''}${exception ? ` (exception expired ${exception.expires})` : ''}`);
  }
}
if (failing.length > 0) {
  console.error(`audit: ${failing.length} high/critical advisor${failing.length === 1 ? 'y' : 'ies'} in production dependencies:`);
  for (const line of failing) console.error(`  ${line}`);
  console.error('audit: fix (npm update / overrides) or add a dated exception to .ci/audit-exceptions.json.');
  process.exit(1);
}
console.log(`audit: no unaccepted high/critical advisory in production dependencies (${today}).`);
