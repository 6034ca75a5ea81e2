/**
 * `status` (GET /api/manage/status) and `test <email>` (POST /api/manage/connectivity-test, one
 * step per call so each line appears as soon as its step is done).
 */
import type { StatusDocument } from '../../shared/admin/status.js';
import { fromNow, printJson, type CommandContext } from './context.js';
import { CliError } from './errors.js';
import { colourer } from './io.js';
import { describeProgress } from './migration.js';
import { renderPairs } from './table.js';

// The API's own types, so the CLI cannot drift from what the endpoint sends. Fields are optional
// here: an older instance may not send them all.
export type CredentialCard = StatusDocument['credential'];
export type StatusReport = Pick<StatusDocument, 'verdict' | 'reasons'> &
  Partial<Omit<StatusDocument, 'verdict' | 'reasons'>>;

/** A 404 `not_found` means the route itself is missing: an instance older than the endpoint. */
async function newerEndpoint<T>(
  client: CommandContext['client'],
  call: Promise<T>,
  route: string,
): Promise<T> {
  try {
    return await call;
  } catch (error) {
    if (error instanceof CliError && error.status === 404 && error.code === 'not_found')
      throw new CliError(
        `${client.baseUrl} has no ${route} yet: deploy a newer MailPush there`,
        error.code,
        404,
      );
    throw error;
  }
}

export async function status({ client, io, options }: CommandContext): Promise<number> {
  const s = await newerEndpoint(client, client.json<StatusReport>('GET', 'status'), '/api/manage/status');
  if (options.json) {
    printJson(io, s);
    return 0;
  }
  const paint = colourer(io);
  const now = (io.now ?? Date.now)();
  const verdictColour = s.verdict === 'ok' ? 'green' : s.verdict === 'warning' ? 'yellow' : 'red';
  let out = `${paint('bold', 'verdict')}  ${paint(verdictColour, s.verdict.toUpperCase())}${s.version ? `   (version ${s.version})` : ''}\n`;
  for (const reason of s.reasons) out += `  - ${reason}\n`;
  if (s.credential) {
    const c = s.credential;
    const level =
      c.status === 'critical' || (c.daysLeft ?? 1) < 0
        ? 'red'
        : c.status === 'warning' || (c.daysLeft !== undefined && c.daysLeft < 30)
          ? 'yellow'
          : 'green';
    out += `\n${paint('bold', 'credential')}\n${indent(
      renderPairs([
        ['type', c.type],
        [
          'status',
          paint(level, `${c.status}${c.daysLeft !== undefined ? ` (${c.daysLeft} days left)` : ''}`),
        ],
        ['expires on', c.expiresOn ?? c.notAfter],
        ['subject', c.subject],
        ['issuer', c.issuer],
        ['valid from', c.notBefore],
        ['serial', c.serialNumber],
        ['SHA-1', c.thumbprintSha1],
        ['SHA-256', c.thumbprintSha256],
      ]),
    )}`;
  }
  const byState = Object.entries(s.mailboxes?.byState ?? {})
    .filter(([, n]) => n > 0)
    .map(([state, n]) => `${state} ${n}`)
    .join(', ');
  const m = s.maintenance;
  out += `\n${renderPairs([
    ['mailboxes', s.mailboxes ? `${s.mailboxes.total ?? 0}${byState ? ` (${byState})` : ''}` : undefined],
    [
      'subscriptions',
      s.subscriptions
        ? `${s.subscriptions.expired ?? 0} expired, ${s.subscriptions.within24h ?? 0} expire within 24 h, ${s.subscriptions.within72h ?? 0} within 72 h`
        : undefined,
    ],
    [
      'maintenance',
      m
        ? `last run ${m.lastRun ? `${m.lastRun.at} (${fromNow(m.lastRun.at, now)}): ${describeRun(m.lastRun)}` : 'never'}${m.nextRunAt ? `, next ${fromNow(m.nextRunAt, now)}` : ''}${m.stale ? ` ${paint('red', '— STALE')}` : ''}`
        : undefined,
    ],
    [
      'dead letters',
      s.queue?.deadLetters === null ? 'not known (this queue does not report them)' : s.queue?.deadLetters,
    ],
    [
      'lookup path',
      s.lookupPath
        ? s.lookupPath.on
          ? `on (${s.lookupPath.oldStyleSubscriptions === null ? 'first census cycle running' : `${s.lookupPath.oldStyleSubscriptions} old-style subscription(s) left at the last cycle`}${s.lookupPath.mode === 'auto' ? '' : `, CLIENT_STATE_LOOKUP=${s.lookupPath.mode}`})`
          : `off${s.lookupPath.mode === 'auto' ? '' : ` (CLIENT_STATE_LOOKUP=${s.lookupPath.mode})`}`
        : undefined,
    ],
  ])}`;
  if (s.migration && typeof s.migration.remaining === 'number')
    out += `\n${paint('bold', 'migration')}\n${indent(describeProgress(s.migration, io))}`;
  io.stdout.write(out);
  return 0;
}

function indent(text: string): string {
  return text.replace(/^(?=.)/gm, '  ');
}

export const TEST_STEPS = ['token', 'user', 'inbox', 'subscription', 'testMail'] as const;

export interface TestStep {
  name: string;
  status: 'passed' | 'failed' | 'skipped';
  durationMs: number;
  detail?: string;
  action?: string;
  handshakeMs?: number;
  latencyMs?: number;
}

interface TestResult {
  email: string;
  passed: boolean;
  steps: TestStep[];
}

export async function connectivityTest({ client, io, args, options }: CommandContext): Promise<number> {
  const paint = colourer(io);
  const email = args[0]!.trim();
  const sendTestMail = options['send-mail'] === true;
  const steps: TestStep[] = [];
  let failed = false;
  if (!options.json) io.stdout.write(`connectivity test for ${email}\n`);
  for (const name of TEST_STEPS) {
    let step: TestStep;
    if (failed) {
      step = { name, status: 'skipped', durationMs: 0, detail: 'an earlier step failed' };
    } else if (name === 'testMail' && !sendTestMail) {
      step = { name, status: 'skipped', durationMs: 0, detail: 'pass --send-mail to send a test mail' };
    } else {
      const result = await newerEndpoint(
        client,
        client.json<TestResult>('POST', 'connectivity-test', { email, sendTestMail, steps: [name] }),
        '/api/manage/connectivity-test',
      );
      step = result.steps.find((s) => s.name === name) ?? {
        name,
        status: 'skipped',
        durationMs: 0,
        detail: 'the API did not run this step',
      };
    }
    if (step.status === 'failed') failed = true;
    steps.push(step);
    if (!options.json) io.stdout.write(stepLine(step, paint));
  }
  if (options.json) printJson(io, { email, passed: !failed, steps });
  else io.stdout.write(failed ? `${paint('red', 'failed')}\n` : `${paint('green', 'passed')}\n`);
  return failed ? 1 : 0;
}

export function stepLine(step: TestStep, paint: ReturnType<typeof colourer>): string {
  const mark =
    step.status === 'passed'
      ? paint('green', '✔')
      : step.status === 'failed'
        ? paint('red', '✖')
        : paint('dim', '–');
  const extra = [
    step.handshakeMs !== undefined ? `handshake ${step.handshakeMs} ms` : undefined,
    step.latencyMs !== undefined ? `end to end ${step.latencyMs} ms` : undefined,
  ].filter(Boolean);
  const duration = step.status === 'skipped' ? '' : `${step.durationMs} ms`;
  let line =
    `${mark} ${step.name.padEnd(12)} ${duration.padStart(8)}  ${[step.detail, ...extra].filter(Boolean).join('; ')}`.trimEnd();
  line += '\n';
  if (step.action) line += `  → ${step.action}\n`;
  return line;
}

function describeRun(run: NonNullable<NonNullable<StatusReport['maintenance']>['lastRun']>): string {
  const failures = Object.entries(run.failures ?? {})
    .map(([reason, n]) => `${reason} ${n}`)
    .join(', ');
  return `${run.renewed ?? 0} renewed, ${run.created ?? 0} created, ${run.migrated ?? 0} migrated${failures ? `; failures: ${failures}` : ''}`;
}
