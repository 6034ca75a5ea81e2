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
 *   BENCH_MAILBOX_WORK=0                      # without the import and migration (renewals only)
 *
 * On the same timer and budgets, when the first renewal wave comes due (day 6), 100,000 mailboxes
 * are imported at once (pending: each needs a subscription) and the migration switch goes on for
 * 50,000 EWS mailboxes (50 per run): the production mailbox work runs after each renewal pass.
 *
 * Writes bench/results/renewal.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_RENEWAL_OPTIONS } from '../shared/domain/renewal/options.js';
import { simulateEngine, type ContenderResult } from './support/engine-sim.js';
import type { MailboxWorkload, MailboxWorkResult } from './support/mailbox-sim.js';
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

// The first renewal wave of the bulk enrolment comes due at lifetime − safety − window (day 6).
const firstWave = scenario.maxLifetimeMs - scenario.expirySafetyMs - scenario.windowMs;
const workload: MailboxWorkload | undefined =
  process.env.BENCH_MAILBOX_WORK === '0'
    ? undefined
    : {
        imported: Math.round(100_000 * scale),
        migrating: Math.round(50_000 * scale),
        at: scenario.start + Math.floor(firstWave / scenario.timerMs) * scenario.timerMs,
        migrationBatchSize: 50,
        creationsPerRun: 5_000,
        maxAttempts: 5,
        deadlineMs: 4 * MINUTE,
      };
// What the engine's budget lets one tenant write per second, sustained: (writes − burst) / window.
const budgetRatePerSecond =
  (DEFAULT_RENEWAL_OPTIONS.budget.writes - DEFAULT_RENEWAL_OPTIONS.budget.burst) /
  (DEFAULT_RENEWAL_OPTIONS.budget.windowMs / 1000);

const targets = {
  expired: 0,
  peakWritesPerWindow: 0.8 * scenario.graphWritesPerWindow,
  requestsPerRenewal: 0.06,
  wallSeconds: 180,
  runsToMigrate: workload ? Math.ceil(workload.migrating / workload.migrationBatchSize) : undefined,
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
const engine = await simulateEngine(scenario, population, {}, workload);
process.stdout.write(`running the naive baseline…\n`);
const naive = simulateNaive(scenario, population, scenario.windowMs, 'naive', workload);
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

const mw = (r: ContenderResult): MailboxWorkResult | undefined => r.mailboxWork;
if (workload) {
  const at = (workload.at - scenario.start) / 3_600_000;
  rows.push(
    [`import + migration (from hour ${at.toFixed(0)})`, () => '', '', () => undefined],
    [
      '  imported / EWS mailboxes',
      () => `${fmt(workload.imported)} / ${fmt(workload.migrating)}`,
      '',
      () => undefined,
    ],
    [
      '  runs to finish the migration',
      (r) => fmt(mw(r)?.runsToMigrate ?? NaN),
      `= ${fmt(targets.runsToMigrate ?? NaN)}`,
      (r) => mw(r)?.runsToMigrate === targets.runsToMigrate,
    ],
    [
      '  most migrated in one run',
      (r) => fmt(mw(r)?.maxMigratedPerRun ?? NaN),
      `≤ ${workload.migrationBatchSize}`,
      (r) => (mw(r)?.maxMigratedPerRun ?? Infinity) <= workload.migrationBatchSize,
    ],
    ['  runs to drain the import', (r) => fmt(mw(r)?.runsToCreate ?? NaN), '', () => undefined],
    ['  import drain (s)', (r) => fmt(mw(r)?.creationDrainSeconds ?? NaN), '', () => undefined],
    ['  creations / s, all tenants', (r) => fmt(mw(r)?.creationsPerSecond ?? NaN, 1), '', () => undefined],
    [
      '  creations / s, largest tenant',
      (r) => fmt(mw(r)?.largestTenantCreationsPerSecond ?? NaN, 1),
      `≤ ${fmt(budgetRatePerSecond)} (budget)`,
      () => undefined,
    ],
    [
      '  mailboxes lost / duplicated',
      (r) => `${fmt(mw(r)?.lost ?? NaN)} / ${fmt(mw(r)?.duplicates ?? NaN)}`,
      '0 / 0',
      (r) => mw(r)?.lost === 0 && mw(r)?.duplicates === 0,
    ],
    ['  429s met by the mailbox work', (r) => fmt(mw(r)?.throttled ?? NaN), '', () => undefined],
  );
}

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
  mailboxWorkload: workload ?? null,
  budgetRatePerSecond,
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
    ...(workload
      ? {
          runsToMigrate: engine.mailboxWork?.runsToMigrate === targets.runsToMigrate,
          mailboxesLostOrDuplicated: engine.mailboxWork?.lost === 0 && engine.mailboxWork.duplicates === 0,
        }
      : {}),
  },
};
const resultsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bench/results');
await mkdir(resultsDir, { recursive: true });
await writeFile(path.join(resultsDir, 'renewal.json'), `${JSON.stringify(results, null, 2)}\n`);
process.stdout.write(`\nwrote ${path.join(resultsDir, 'renewal.json')}\n`);
