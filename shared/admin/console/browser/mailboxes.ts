/** Mailboxes by state with a prefix search, and a detail panel (`GET /api/manage/mailboxes`). */
import type { AdminApi } from './api.js';
import { byId, definitions, formatTime, h } from './dom.js';
import type { MailboxDetail, MailboxPage } from './types.js';

const PAGE_SIZE = 50;

export function mailboxesView(api: AdminApi, report: (error: unknown) => void) {
  const rows = byId('mailbox-rows');
  const more = byId<HTMLButtonElement>('mailbox-more');
  const summary = byId('mailbox-summary');
  const detail = byId('mailbox-detail');
  let continuationToken: string | undefined;
  let shown = 0;

  const query = () => {
    const params = new URLSearchParams({ pageSize: String(PAGE_SIZE) });
    const state = byId<HTMLSelectElement>('search-state').value;
    const prefix = byId<HTMLInputElement>('search-prefix').value.trim().toLowerCase();
    if (state) params.set('state', state);
    if (prefix) params.set('prefix', prefix);
    if (continuationToken) params.set('continuationToken', continuationToken);
    return params;
  };

  async function load(append: boolean): Promise<void> {
    if (!append) {
      continuationToken = undefined;
      shown = 0;
    }
    const page = await api.get<MailboxPage>(`mailboxes?${query().toString()}`);
    const items = page.mailboxes.map((m) => {
      const open = h('button', { type: 'button', class: 'link' }, m.email);
      open.addEventListener('click', () => void showDetail(m.email).catch(report));
      return h('tr', {}, h('td', {}, open), h('td', {}, m.state.replace('_', ' ')), h('td', {}, m.transport));
    });
    if (append) rows.append(...items);
    else rows.replaceChildren(...items);
    shown += items.length;
    continuationToken = page.continuationToken;
    more.hidden = !continuationToken;
    summary.textContent =
      shown === 0
        ? 'No mailboxes match.'
        : `${shown} mailbox${shown === 1 ? '' : 'es'} shown${continuationToken ? ', more available' : ''}.`;
  }

  async function showDetail(email: string): Promise<void> {
    const m = await api.get<MailboxDetail>(`mailboxes/${encodeURIComponent(email)}`);
    byId('detail-title').textContent = m.email;
    definitions(byId('detail-fields'), [
      ['State', m.state.replace('_', ' ')],
      ['Transport', m.transport],
      ['Reason', m.reason],
      ['Last error', m.lastError],
      ['Attempts', m.attempts],
      ['Subscription expires', formatTime(m.subscriptionExpiresAt) ?? 'no subscription'],
      ['Devices', m.devices],
      ['Privacy', m.privacy ?? 'default'],
      ['User principal name', m.userPrincipalName],
      ['Enrolled', formatTime(m.enrolledAt)],
      ['Enrolled by', m.source],
      ['Migrated', formatTime(m.migratedAt)],
      ['Updated', formatTime(m.updatedAt)],
    ]);
    detail.hidden = false;
    byId('detail-title').focus();
  }

  byId<HTMLFormElement>('mailbox-search').addEventListener('submit', (event) => {
    event.preventDefault();
    void load(false).catch(report);
  });
  more.addEventListener('click', () => void load(true).catch(report));
  byId('detail-close').addEventListener('click', () => {
    detail.hidden = true;
    byId('search-prefix').focus();
  });
  return { refresh: () => load(false) };
}
