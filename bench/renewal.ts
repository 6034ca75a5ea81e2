/**
 * Renewal benchmark: 1,000,000 mailboxes in 100 tenants (Zipf-sized), all subscribed within one
 * hour (a bulk enrolment), 14 simulated days, timer every 5 minutes, against a simulated Graph that
 * enforces 1,000 subscription writes per 20 s per tenant and fails 1% of members at random
 * (429/503/404). The production engine (shared/domain/renewal) runs on in-memory ports in virtual
 * time; a naive baseline runs in the same process on the same world.
 *
 *   npm run bench:renewal
 *   BENCH_SCALE=0.1 npm run bench:renewal   # fewer mailboxes (reported in the output)
 *   BENCH_DAYS, BENCH_SEED                    # other knobs
 *
 * Writes bench/results/renewal.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_RENEWAL_OPTIONS } from '../shared/domain/renewal/options.js';
import { simulateEngine, type ContenderResult } from './support/engine-sim.js';
import { simulateNaive } from './support/naive-sim.js';
import { buildPopulation, type Scenario } from './support/scenario.js';

const MINUTE = 60_000;

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return value;
}

const scale = numberFromEnv('BENCH_SCALE', 1);
const scenario: Scenario = {
  mailboxes: Math.round(1_000_000 * scale),
  tenants: 100,
  zipfExponent: 1,
  bunchMs: 60 * MINUTE,
  days: numberFromEnv('BENCH_DAYS', 14),
  timerMs: 5 * MINUTE,
  start: Date.UTC(2026, 2, 2, 0, 0, 0),
  seed: numberFromEnv('BENCH_SEED', 20_260_302),
  graphWritesPerWindow: 1_000,
  graphWindowMs: 20_000,
  graphLatencyMs: 250,
  failureRate: 0.01,
  maxLifetimeMs: DEFAULT_RENEWAL_OPTIONS.maxLifetimeMs,
  expirySafetyMs: DEFAULT_RENEWAL_OPTIONS.expirySafetyMs,
  windowMs: DEFAULT_RENEWAL_OPTIONS.windowMs,
};

const targets = {
  expired: 0,
  peakWritesPerWindow: 0.8 * scenario.graphWritesPerWindow,
  requestsPerRenewal: 0.06,
  wallSeconds: 120,
};

const population = buildPopulation(scenario);
process.stdout.write(
  `renewal benchmark: ${scenario.mailboxes.toLocaleString('en')} mailboxes, ${scenario.tenants} tenants ` +
    `(largest ${population.tenantSizes[0]?.toLocaleString('en')}, smallest ${population.tenantSizes.at(-1)?.toLocaleString('en')}), ` +
    `created within ${scenario.bunchMs / MINUTE} min, ${scenario.days} days, timer every ${scenario.timerMs / MINUTE} min` +
    (scale === 1 ? '' : `\nNOTE: BENCH_SCALE=${scale}: scaled down from 1,000,000 mailboxes`) +
    '\n',
);

process.stdout.write('running the engine…\n');
const engine = await simulateEngine(scenario, population);
process.stdout.write(`running the naive baseline…\n`);
const naive = simulateNaive(scenario, population);
// The same naive code with shorter renewal windows: it only keeps up with a bulk enrolment
// because a 24 h window gives it many runs at ~1,000 renewals per tenant each.
const naiveShorter = [12, 6, 1].map((hours) =>
  simulateNaive(scenario, population, hours * 60 * MINUTE, `naive, ${hours} h window`),
);

const pct = (n: number): string => `${((100 * n) / scenario.graphWritesPerWindow).toFixed(0)}%`;
const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const check = (ok: boolean): string => (ok ? 'ok' : 'MISSED');

const rows: [string, (r: ContenderResult) => string, string, (r: ContenderResult) => boolean | undefined][] =
  [
    ['renewal window', () => `${scenario.windowMs / 3_600_000} h`, '', () => undefined],
    ['expired subscriptions', (r) => fmt(r.expired), '0', (r) => r.expired <= targets.expired],
    [
      'peak writes / tenant / 20 s',
      (r) => `${fmt(r.peakWritesPerWindow)} (${pct(r.peakWritesPerWindow)})`,
      `≤ ${fmt(targets.peakWritesPerWindow)} (80%)`,
      (r) => r.peakWritesPerWindow <= targets.peakWritesPerWindow,
    ],
    [
      'Graph HTTP requests / renewal',
      (r) => fmt(r.requestsPerRenewal, 4),
      `≤ ${targets.requestsPerRenewal}`,
      (r) => r.requestsPerRenewal <= targets.requestsPerRenewal,
    ],
    [
      'wall time (s)',
      (r) => fmt(r.wallSeconds, 1),
      `< ${targets.wallSeconds}`,
      (r) => r.wallSeconds < targets.wallSeconds,
    ],
    ['renewals', (r) => fmt(r.renewals), '', () => undefined],
    ['Graph HTTP requests', (r) => fmt(r.httpRequests), '', () => undefined],
    ['429s: over the limit', (r) => fmt(r.throttledByLimit), '', () => undefined],
    ['429s: injected (1% × 1/3)', (r) => fmt(r.injected429), '', () => undefined],
    ['503s: injected', (r) => fmt(r.injected503), '', () => undefined],
    ['recreated after 404', (r) => fmt(r.recreated), '', () => undefined],
    ['peak due / 5-min bucket, start', (r) => fmt(r.peakDuePerBucketStart), '', () => undefined],
    ['peak due / 5-min bucket, end', (r) => fmt(r.peakDuePerBucketEnd), '', () => undefined],
  ];

const widths = [32, 22, 22, 18];
const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 10)).join(' ');
const out: string[] = [];
out.push(line(['metric', 'engine', 'naive', 'target']));
out.push(line(widths.map((w) => '-'.repeat(w))));
for (const [label, value, target, ok] of rows) {
  const verdict = ok(engine);
  out.push(
    line([label, value(engine) + (verdict === undefined ? '' : ` ${check(verdict)}`), value(naive), target]),
  );
}
out.push('');
out.push(
  `naive with shorter renewal windows (the engine and the naive above use ${scenario.windowMs / 3_600_000} h):`,
);
for (const r of naiveShorter) {
  out.push(
    `  ${r.name.padEnd(22)} expired ${fmt(r.expired).padStart(9)}   requests/renewal ${fmt(r.requestsPerRenewal, 2).padStart(6)}   429s ${fmt(r.throttledByLimit).padStart(12)}`,
  );
}
out.push('');
out.push(`engine details: ${JSON.stringify(engine.extra)}`);
out.push(`naive details:  ${JSON.stringify(naive.extra)}`);
process.stdout.write(`\n${out.join('\n')}\n`);

const results = {
  benchmark: 'renewal',
  date: new Date().toISOString(),
  command: 'npm run bench:renewal',
  scale,
  scenario,
  tenantSizes: population.tenantSizes,
  engineOptions: { ...DEFAULT_RENEWAL_OPTIONS, jitter: 'hashJitter' },
  machine: { cpus: os.cpus().length, node: process.version },
  targets,
  engine,
  naive,
  naiveShorterWindows: naiveShorter,
  met: {
    expired: engine.expired <= targets.expired,
    peakWritesPerWindow: engine.peakWritesPerWindow <= targets.peakWritesPerWindow,
    requestsPerRenewal: engine.requestsPerRenewal <= targets.requestsPerRenewal,
    wallSeconds: engine.wallSeconds < targets.wallSeconds,
  },
};
const resultsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/results');
await mkdir(resultsDir, { recursive: true });
await writeFile(path.join(resultsDir, 'renewal.json'), `${JSON.stringify(results, null, 2)}\n`);
process.stdout.write(`\nwrote ${path.join(resultsDir, 'renewal.json')}\n`);
