/** The health verdict, its reasons, the credential card and the counts (`GET /api/manage/status`). */
import { ApiError, type AdminApi } from './api.js';
import { byId, definitions, formatCount, formatTime } from './dom.js';
import type { Status } from './types.js';

const VERDICT_TEXT: Record<Status['verdict'], string> = {
  ok: 'Healthy',
  warning: 'Needs attention',
  critical: 'Critical',
};

/** Loads the status; undefined when this server has no status route yet (older version). */
export async function refreshHealth(api: AdminApi): Promise<Status | undefined> {
  const verdict = byId('verdict');
  const reasons = byId('reasons');
  let status: Status;
  try {
    status = await api.get<Status>('status');
  } catch (error) {
    verdict.className = 'verdict';
    reasons.replaceChildren();
    for (const id of ['credential', 'counts', 'runs']) byId(id).replaceChildren();
    byId('credential-days').textContent = '';
    verdict.textContent =
      error instanceof ApiError && error.status === 404
        ? 'Status not available on this server.'
        : `Status could not be read: ${error instanceof Error ? error.message : String(error)}`;
    return undefined;
  }
  verdict.className = `verdict ${status.verdict}`;
  verdict.textContent = `${VERDICT_TEXT[status.verdict] ?? status.verdict}${status.version ? ` · version ${status.version}` : ''}`;
  reasons.replaceChildren(
    ...status.reasons.map((reason) => {
      const item = document.createElement('li');
      item.textContent = reason;
      return item;
    }),
  );
  const credential = status.credential;
  byId('credential-days').textContent =
    credential?.daysLeft !== undefined
      ? `${credential.daysLeft} day${credential.daysLeft === 1 ? '' : 's'} left`
      : (credential?.status ?? '');
  definitions(byId('credential'), [
    ['Type', credential?.type],
    ['Status', credential?.status],
    ['Expires', formatTime(credential?.expiresOn ?? credential?.notAfter)],
    ['Subject', credential?.subject],
    ['Issuer', credential?.issuer],
    ['Serial number', credential?.serialNumber],
    ['SHA-1 thumbprint', credential?.thumbprintSha1],
  ]);
  const byState = status.mailboxes?.byState ?? {};
  definitions(byId('counts'), [
    ...Object.entries(byState).map(([state, count]): [string, string] => [
      state.replace('_', ' '),
      formatCount(count),
    ]),
    ['Total', status.mailboxes ? formatCount(status.mailboxes.total) : undefined],
    ['Counted', formatTime(status.mailboxes?.countedAt)],
  ]);
  const lastRun = status.maintenance?.lastRun;
  definitions(byId('runs'), [
    ['Expired subscriptions', status.subscriptions?.expired],
    ['Expiring within 24 h', status.subscriptions?.within24h],
    ['Expiring within 72 h', status.subscriptions?.within72h],
    [
      'Last timer run',
      lastRun
        ? `${formatTime(lastRun.at)}: ${lastRun.renewed} renewed, ${lastRun.created} created, ${lastRun.migrated} migrated`
        : status.maintenance
          ? 'never'
          : undefined,
    ],
    ['Next timer run', formatTime(status.maintenance?.nextRunAt)],
    ['Timer stale', status.maintenance ? (status.maintenance.stale ? 'yes' : 'no') : undefined],
    [
      'Dead letters',
      status.queue
        ? (status.queue.deadLetters ?? `not counted${status.queue.detail ? `: ${status.queue.detail}` : ''}`)
        : undefined,
    ],
    ['Old-style clientState lookups', lookupPathText(status.lookupPath)],
  ]);
  return status;
}

/** "on (12 old-style subscriptions left)", "off", or the reason when not yet counted. */
function lookupPathText(path: Status['lookupPath']): string | undefined {
  if (!path) return undefined;
  if (!path.on) return 'off: forged traffic costs no storage request';
  return path.oldStyleSubscriptions === null
    ? 'on (first census cycle running)'
    : `on (${path.oldStyleSubscriptions} old-style subscription(s) left at the last cycle)`;
}
