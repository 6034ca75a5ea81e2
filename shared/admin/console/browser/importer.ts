/** CSV import in chunks of ~2,000 rows (`POST /api/manage/mailboxes/import`), with progress over rows. */
import type { AdminApi } from './api.js';
import { lineInFile, splitCsv } from './csv.js';
import { byId, definitions, formatCount, h } from './dom.js';
import type { ImportReport } from './types.js';

/** Errors listed on the page at most (the counts cover all of them). */
const ERRORS_SHOWN = 50;

export function importView(api: AdminApi, report: (error: unknown) => void, done: () => void) {
  const form = byId<HTMLFormElement>('import-form');
  const file = byId<HTMLInputElement>('import-file');
  const start = byId<HTMLButtonElement>('import-start');
  const progress = byId<HTMLProgressElement>('import-progress');
  const status = byId('import-status');
  const counts = byId('import-counts');
  const errors = byId('import-errors');

  async function run(selected: File): Promise<void> {
    const { chunks, rows } = splitCsv(await selected.text());
    if (rows === 0) {
      status.textContent = 'The file has no rows under its header.';
      return;
    }
    const total: ImportReport = {
      rows: 0,
      accepted: 0,
      unchanged: 0,
      invalid: 0,
      errors: [],
      truncated: false,
    };
    progress.max = rows;
    progress.value = 0;
    errors.replaceChildren();
    const show = () => {
      definitions(counts, [
        ['Accepted', formatCount(total.accepted)],
        ['Already enrolled', formatCount(total.unchanged)],
        ['Invalid', formatCount(total.invalid)],
      ]);
    };
    show();
    for (const chunk of chunks) {
      const answer = await api.upload<ImportReport>('mailboxes/import', chunk.body, 'text/csv');
      total.rows += chunk.rows;
      total.accepted += answer.accepted;
      total.unchanged += answer.unchanged;
      total.invalid += answer.invalid;
      for (const e of answer.errors) total.errors.push({ row: lineInFile(chunk, e.row), reason: e.reason });
      progress.value = total.rows;
      status.textContent = `${formatCount(total.rows)} of ${formatCount(rows)} rows (${Math.round((100 * total.rows) / rows)} %)`;
      show();
    }
    errors.replaceChildren(
      ...total.errors.slice(0, ERRORS_SHOWN).map((e) => h('li', {}, `Line ${e.row}: ${e.reason}`)),
    );
    if (total.errors.length > ERRORS_SHOWN)
      errors.append(h('li', {}, `… and ${total.errors.length - ERRORS_SHOWN} more.`));
    status.textContent = `Import finished: ${formatCount(rows)} of ${formatCount(rows)} rows (100 %).`;
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const selected = file.files?.[0];
    if (!selected) return;
    start.disabled = true;
    status.textContent = 'Importing…';
    run(selected)
      .then(done)
      .catch((error: unknown) => {
        status.textContent = 'Import stopped: see the message at the top.';
        report(error);
      })
      .finally(() => (start.disabled = false));
  });
}
