/** The "Use Microsoft Graph" switch with progress and ETA (`GET`/`PUT /api/manage/migration`). */
import type { AdminApi } from './api.js';
import { byId, definitions, formatCount, formatTime } from './dom.js';
import type { MigrationProgress, Status } from './types.js';

export function migrationView(api: AdminApi, report: (error: unknown) => void, changed: () => void) {
  const toggle = byId<HTMLInputElement>('migration-switch');
  const progress = byId<HTMLProgressElement>('migration-progress');
  const status = byId('migration-status');
  let latestStatus: Status | undefined;

  function show(m: MigrationProgress): void {
    toggle.checked = m.enabled;
    toggle.disabled = false;
    // The share of enrolled mailboxes no longer waiting for the migration (needs the status counts).
    const total = latestStatus?.mailboxes?.total;
    if (total !== undefined && total > 0) {
      progress.max = total;
      progress.value = Math.max(0, total - m.remaining);
    } else {
      progress.max = 1;
      progress.value = m.remaining === 0 ? 1 : 0;
    }
    status.textContent = `${m.enabled ? 'Migration on' : 'Migration off'}: ${formatCount(m.remaining)} mailbox${m.remaining === 1 ? '' : 'es'} waiting${
      m.eta ? `, done by about ${formatTime(m.eta)}` : ''
    }.`;
    definitions(byId('migration-fields'), [
      ['Waiting on EWS', formatCount(m.remaining)],
      ['Moved per run', m.perRun],
      ['Batch size', m.batchSize],
      ['Estimated finish', formatTime(m.eta)],
      ['Next run', formatTime(m.nextRunAt)],
      [
        'Last run',
        m.lastRun
          ? `${formatTime(m.lastRun.at)}: ${m.lastRun.migrated} moved, ${m.lastRun.failed} failed`
          : undefined,
      ],
      ['Switched by', m.updatedBy],
      ['Switched at', formatTime(m.updatedAt)],
    ]);
  }

  async function refresh(statusNow: Status | undefined): Promise<void> {
    latestStatus = statusNow;
    show(await api.get<MigrationProgress>('migration'));
  }

  toggle.addEventListener('change', () => {
    const enabled = toggle.checked;
    toggle.disabled = true;
    api
      .send('PUT', 'migration', { enabled })
      .then(() => api.get<MigrationProgress>('migration'))
      .then((m) => {
        show(m);
        changed();
      })
      .catch((error: unknown) => {
        toggle.checked = !enabled;
        toggle.disabled = false;
        report(error);
      });
  });
  return { refresh };
}
