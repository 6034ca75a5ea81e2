/** enrol, list, show, remove, export-migrated. */
import { writeFile } from 'node:fs/promises';
import type { MailboxDetail, MailboxView } from '../../shared/admin/mailboxes.js';
import { MAILBOX_STATES } from '../../shared/domain/enrolment/states.js';
import { oneOf } from './args.js';
import { printJson, type CommandContext } from './context.js';
import { CliError, UsageError } from './errors.js';
import { renderPairs, renderTable, type Column } from './table.js';

const TRANSPORTS = ['graph', 'ews'] as const;
const PRIVACY = ['full', 'subject', 'minimal'] as const;

function mailboxPath(email: string): string {
  return `mailboxes/${encodeURIComponent(email.trim())}`;
}

export async function enrol({ client, io, args, options }: CommandContext): Promise<number> {
  const transport = oneOf(options.transport, TRANSPORTS, 'transport');
  const privacy = oneOf(options.privacy, PRIVACY, 'privacy');
  const res = await client.request('POST', 'mailboxes', {
    contentType: 'application/json',
    body: JSON.stringify({
      email: args[0],
      ...(transport ? { transport } : {}),
      ...(privacy ? { privacy } : {}),
    }),
  });
  const view = JSON.parse(res.text) as MailboxView;
  if (options.json) printJson(io, view);
  else
    io.stdout.write(
      `${res.status === 201 ? 'enrolled' : 'already enrolled:'} ${view.email} (state ${view.state}, transport ${view.transport}${view.privacy ? `, privacy ${view.privacy}` : ''})\n`,
    );
  return 0;
}

const LIST_COLUMNS: Column<MailboxView>[] = [
  { header: 'EMAIL', value: (m) => m.email },
  { header: 'STATE', value: (m) => m.state },
  { header: 'TRANSPORT', value: (m) => m.transport },
  { header: 'PRIVACY', value: (m) => m.privacy ?? '' },
  { header: 'MIGRATED', value: (m) => m.migratedAt ?? '' },
  { header: 'REASON', value: (m) => m.reason ?? m.lastError ?? '', max: 70 },
];

interface MailboxPage {
  mailboxes: MailboxView[];
  continuationToken?: string;
}

export async function list({ client, io, options }: CommandContext): Promise<number> {
  const state = oneOf(options.state, MAILBOX_STATES, 'state');
  const transport = oneOf(options.transport, TRANSPORTS, 'transport');
  const query = new URLSearchParams();
  if (state) query.set('state', state);
  if (transport) query.set('transport', transport);
  if (options.prefix) query.set('prefix', options.prefix);
  const pageSize =
    options['page-size'] === undefined ? (options.all ? 1000 : 100) : Number(options['page-size']);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000)
    throw new UsageError('--page-size must be a whole number from 1 to 1000');
  query.set('pageSize', String(pageSize));
  const mailboxes: MailboxView[] = [];
  let token: string | undefined;
  do {
    const params = new URLSearchParams(query);
    if (token) params.set('continuationToken', token);
    const qs = params.toString();
    const page = await client.json<MailboxPage>('GET', `mailboxes${qs ? `?${qs}` : ''}`);
    mailboxes.push(...page.mailboxes);
    token = page.continuationToken;
  } while (token && options.all);
  if (options.json) {
    printJson(io, { mailboxes, ...(token ? { continuationToken: token } : {}) });
    return 0;
  }
  if (mailboxes.length > 0) io.stdout.write(renderTable(mailboxes, LIST_COLUMNS));
  io.stdout.write(
    `${mailboxes.length.toLocaleString('en-US')} mailbox${mailboxes.length === 1 ? '' : 'es'}${token ? ' (more: pass --all)' : ''}\n`,
  );
  return 0;
}

export async function show({ client, io, args, options }: CommandContext): Promise<number> {
  const m = await client.json<MailboxDetail>('GET', mailboxPath(args[0]!));
  if (options.json) {
    printJson(io, m);
    return 0;
  }
  io.stdout.write(
    renderPairs([
      ['email', m.email],
      ['state', m.state],
      ['transport', m.transport],
      ['privacy', m.privacy ?? 'default'],
      ['user id', m.userId],
      ['UPN', m.userPrincipalName],
      ['subscription', m.subscriptionId],
      ['expires', m.subscriptionExpiresAt],
      ['failure', m.failure],
      ['reason', m.reason],
      ['last error', m.lastError],
      ['attempts', m.attempts],
      ['devices', m.devices],
      ['source', m.source],
      ['enrolled', m.enrolledAt],
      ['updated', m.updatedAt],
      ['migrated', m.migratedAt],
    ]),
  );
  return 0;
}

export async function remove({ client, io, args }: CommandContext): Promise<number> {
  await client.request('DELETE', mailboxPath(args[0]!));
  io.stdout.write(
    `unenrolled ${args[0]!.trim().toLowerCase()} (its subscription is deleted; nothing to do if it was not enrolled)\n`,
  );
  return 0;
}

/** Mailboxes moved to Graph (since a time): the list to switch off on the old server. */
export async function exportMigrated({ client, io, options }: CommandContext): Promise<number> {
  // Without --since: every migrated mailbox (migratedAt set), not those enrolled on Graph directly.
  const since = options.since ?? '1970-01-01T00:00:00Z';
  if (Number.isNaN(Date.parse(since)))
    throw new UsageError(`--since must be an ISO 8601 time, e.g. 2026-12-01T00:00:00Z, not "${since}"`);
  const params = new URLSearchParams({
    transport: 'graph',
    migratedSince: new Date(since).toISOString(),
    format: 'csv',
  });
  const res = await client.request('GET', `mailboxes?${params.toString()}`);
  const rows = Math.max(0, res.text.split('\n').filter((l) => l.trim() !== '').length - 1);
  if (options.out) {
    try {
      await writeFile(options.out, res.text);
    } catch (error) {
      throw new CliError(
        `could not write ${options.out}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      );
    }
    io.stderr.write(
      `wrote ${rows.toLocaleString('en-US')} migrated mailbox${rows === 1 ? '' : 'es'} to ${options.out}\n`,
    );
  } else {
    io.stdout.write(res.text);
    io.stderr.write(`${rows.toLocaleString('en-US')} migrated mailbox${rows === 1 ? '' : 'es'}\n`);
  }
  return 0;
}
