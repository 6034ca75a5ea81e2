/**
 * `import <file>`: chunked upload with progress, then one summary for the whole file. A chunk the
 * server takes as an import job (202: more than 2,000 rows, written by its queue trigger) is
 * followed on its progress route until written, so the summary is the same either way.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { ImportProgress, ImportReport } from '../../shared/admin/mailboxes.js';
import { DEFAULT_ROWS_PER_CHUNK, countRows, importChunks, type ImportChunk } from './chunks.js';
import { printJson, type CommandContext } from './context.js';
import { CliError, UsageError } from './errors.js';
import { RowProgress } from './progress.js';
import { renderPairs, renderTable } from './table.js';

/** Invalid rows shown in the summary; the rest are counted. */
const SHOWN_ERRORS = 20;

export interface FileImportReport {
  file: string;
  rows: number;
  accepted: number;
  unchanged: number;
  invalid: number;
  /** Invalid rows by the file's own line numbers. */
  errors: { line: number; reason: string }[];
  /** The server kept only the first errors of some chunk. */
  truncated: boolean;
  chunks: number;
}

function lines(path: string): AsyncIterable<string> {
  return createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
}

export async function importFile({ client, io, args, options }: CommandContext): Promise<number> {
  const file = args[0]!;
  const perChunk =
    options['chunk-size'] === undefined ? DEFAULT_ROWS_PER_CHUNK : Number(options['chunk-size']);
  if (!Number.isInteger(perChunk) || perChunk < 1 || perChunk > 100_000)
    throw new UsageError('--chunk-size must be a whole number of rows from 1 to 100000');
  try {
    if (!(await stat(file)).isFile()) throw new CliError(`${file} is not a file`);
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const total = await countRows(lines(file), 'auto', file);
  const progress = new RowProgress(io.stderr, total);
  const report: FileImportReport = {
    file,
    rows: 0,
    accepted: 0,
    unchanged: 0,
    invalid: 0,
    errors: [],
    truncated: false,
    chunks: 0,
  };
  progress.update(0);
  const jobs: { location: string; lineOffset: number }[] = [];
  try {
    for await (const chunk of importChunks(lines(file), {
      format: 'auto',
      rowsPerChunk: perChunk,
      fileName: file,
    })) {
      const answer = await upload(client, chunk);
      add(report, chunk, answer.report);
      if (answer.location) jobs.push({ location: answer.location, lineOffset: chunk.lineOffset });
      progress.update(report.rows);
    }
  } catch (error) {
    progress.done();
    if (report.chunks > 0 && error instanceof CliError) {
      throw new CliError(
        `${error.message}\nstopped after ${report.rows.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} rows (accepted ${report.accepted}, unchanged ${report.unchanged}, invalid ${report.invalid}); importing the file again is safe: rows already enrolled count as unchanged`,
        error.code,
        error.status,
      );
    }
    throw error;
  }
  progress.done();
  if (jobs.length > 0) await followJobs(client, io, jobs, report, pollIntervalMs(options));
  if (options.json) printJson(io, report);
  else io.stdout.write(summary(report));
  return 0;
}

async function upload(
  client: CommandContext['client'],
  chunk: ImportChunk,
): Promise<{ report: ImportReport; location?: string }> {
  const res = await client.request('POST', 'mailboxes/import', {
    body: chunk.body,
    contentType: chunk.format === 'csv' ? 'text/csv' : 'application/x-ndjson',
  });
  const report = JSON.parse(res.text) as ImportReport;
  const location = res.status === 202 ? res.headers.get('location') : null;
  return location ? { report, location } : { report };
}

/**
 * Rows still being written by the server's queue trigger, with a bar over rows written. Follows
 * every job to its end; a job that failed or was cut off is reported after the others finished.
 */
async function followJobs(
  client: CommandContext['client'],
  io: CommandContext['io'],
  jobs: { location: string; lineOffset: number }[],
  report: FileImportReport,
  intervalMs: number,
): Promise<void> {
  const latest = new Map<string, ImportProgress>();
  const pending = new Set(jobs.map((job) => job.location));
  const warned = new Set<string>();
  let bar: RowProgress | undefined;
  for (;;) {
    for (const location of pending) {
      let progress: ImportProgress;
      try {
        const res = await client.request('GET', location.replace(/^\/api\/manage\//, ''));
        progress = JSON.parse(res.text) as ImportProgress;
      } catch (error) {
        bar?.done();
        const message = error instanceof Error ? error.message : String(error);
        throw new CliError(
          `${message}\nthe server keeps writing; follow ${[...pending].join(', ')} (GET with the same token) or run the import again later: rows already enrolled count as unchanged`,
        );
      }
      latest.set(location, progress);
      if (progress.status !== 'writing' && progress.status !== 'receiving') pending.delete(location);
      else if (progress.warning && !warned.has(location)) {
        warned.add(location);
        bar?.done();
        io.stderr.write(`warning: import ${progress.id}: ${progress.warning}\n`);
      }
    }
    const all = [...latest.values()];
    bar ??= new RowProgress(
      io.stderr,
      all.reduce((n, p) => n + p.queuedRows, 0),
      'rows written',
    );
    bar.update(all.reduce((n, p) => n + p.writtenRows, 0));
    if (pending.size === 0) break;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  bar?.done();
  for (const p of latest.values()) {
    report.accepted += p.accepted;
    report.unchanged += p.unchanged;
  }
  const unfinished = [...latest.values()].filter((p) => p.status !== 'done');
  if (unfinished.length > 0) {
    throw new CliError(
      `${summary(report)}\n${unfinished
        .map((p) => `import ${p.id} ${p.status}: ${p.failure ?? 'see GET /api/manage/imports/' + p.id}`)
        .join('\n')}`,
    );
  }
}

function pollIntervalMs(options: CommandContext['options']): number {
  const value = options['poll-interval'];
  if (value === undefined) return 2_000;
  const ms = Number(value);
  if (!Number.isFinite(ms) || ms < 50 || ms > 60_000)
    throw new UsageError('--poll-interval must be milliseconds from 50 to 60000');
  return ms;
}

/** Adds one chunk's report, with its row numbers turned into the file's line numbers. */
export function add(
  report: FileImportReport,
  chunk: Pick<ImportChunk, 'lineOffset'>,
  part: ImportReport,
): void {
  report.chunks++;
  report.rows += part.rows;
  report.accepted += part.accepted;
  report.unchanged += part.unchanged;
  report.invalid += part.invalid;
  report.truncated ||= part.truncated;
  for (const e of part.errors) report.errors.push({ line: e.row + chunk.lineOffset, reason: e.reason });
}

export function summary(report: FileImportReport): string {
  let text = renderPairs([
    ['rows', report.rows],
    ['accepted', report.accepted],
    ['unchanged', report.unchanged],
    ['invalid', report.invalid],
  ]);
  if (report.errors.length > 0) {
    const shown = report.errors.slice(0, SHOWN_ERRORS);
    text += `\nfirst invalid rows:\n${renderTable(shown, [
      { header: 'LINE', value: (e) => e.line, right: true },
      { header: 'REASON', value: (e) => e.reason },
    ])}`;
    const more = report.invalid - shown.length;
    if (more > 0) text += `… and ${more.toLocaleString('en-US')} more invalid row${more === 1 ? '' : 's'}\n`;
  }
  return text;
}
