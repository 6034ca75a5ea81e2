/**
 * The console's entry point (console.js): read the config, sign in, then fill the sections. Every
 * call goes to the admin API with the operator's token; errors show at the top, in words.
 */
import { AdminApi, ApiError } from './api.js';
import { connectivityView } from './connectivity.js';
import { byId } from './dom.js';
import { refreshHealth } from './health.js';
import { importView } from './importer.js';
import { mailboxesView } from './mailboxes.js';
import { migrationView } from './migration.js';
import { assetUrl, startSession } from './session.js';
import type { ConsoleConfig } from './types.js';

function report(error: unknown): void {
  const notice = byId('notice');
  notice.textContent =
    error instanceof ApiError && error.status === 403
      ? `Not allowed: ${error.message}`
      : error instanceof Error
        ? error.message
        : String(error);
  notice.hidden = false;
}

async function main(): Promise<void> {
  const config = (await (await fetch(assetUrl('config.json'))).json()) as ConsoleConfig;
  const session = await startSession(config);
  if (!session) return; // On the way to the sign-in page.
  byId('signed-in').textContent = `Signed in as ${session.user}`;
  const signOut = byId<HTMLButtonElement>('sign-out');
  signOut.hidden = config.signIn === 'local';
  signOut.addEventListener('click', () => void session.signOut());

  const api = new AdminApi(() => session.token());
  const mailboxes = mailboxesView(api, report);
  let refreshing: Promise<void> | undefined;
  const refreshAll = (): Promise<void> =>
    (refreshing ??= (async () => {
      byId('notice').hidden = true;
      const status = await refreshHealth(api);
      await Promise.all([migration.refresh(status), mailboxes.refresh()]);
    })()
      .catch(report)
      .finally(() => (refreshing = undefined)));
  const migration = migrationView(api, report, () => void refreshAll());
  importView(api, report, () => void refreshAll());
  connectivityView(api);

  const refresh = byId<HTMLButtonElement>('refresh');
  refresh.disabled = false;
  refresh.addEventListener('click', () => void refreshAll());
  await refreshAll();
  document.body.dataset.ready = 'true';
}

main().catch((error: unknown) => {
  byId('signed-in').textContent = 'Not signed in';
  report(error);
});
