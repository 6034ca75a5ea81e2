/**
 * Splits an import file into uploads of at most N rows, so a 100,000-row file is sent as a few
 * requests with progress between them (and one slow request never holds the whole file). Every
 * CSV chunk carries the file's header row; the server numbers rows within its upload, so each
 * chunk knows the offset that turns those numbers back into the file's own line numbers. Pure.
 */
export type ImportFileFormat = 'csv' | 'jsonl';

export interface ImportChunk {
  format: ImportFileFormat;
  /** What to upload: for CSV the header row first, then the chunk's lines. */
  body: string;
  /** Data rows in the chunk (blank lines and the header not counted). */
  rows: number;
  /** Add to a row number the server reports for this chunk to get the file's line number. */
  lineOffset: number;
}

/**
 * Up to 2,000 rows the server writes an upload at once; above, it queues it as an import job the
 * CLI follows. 50,000 rows (~2 MB) a request keeps a million-row file to 20 jobs to follow.
 */
export const DEFAULT_ROWS_PER_CHUNK = 50_000;

/** By the file's extension, else by its first non-blank line (`{` → JSON lines). */
export function formatOf(fileName: string, firstLine: string | undefined): ImportFileFormat {
  const lower = fileName.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (/\.(jsonl|ndjson)$/.test(lower)) return 'jsonl';
  return (firstLine ?? '')
    .replace(/^\uFEFF/, '')
    .trimStart()
    .startsWith('{')
    ? 'jsonl'
    : 'csv';
}

function isBlank(line: string): boolean {
  return line.replace(/^\uFEFF/, '').trim() === '';
}

/**
 * The chunks of a file given as lines (without their line ends). `format` 'auto' decides by the
 * first non-blank line. Yields at least one chunk (an empty file gives an empty one, which the
 * server refuses in words).
 */
export async function* importChunks(
  lines: AsyncIterable<string> | Iterable<string>,
  options: { format: ImportFileFormat | 'auto'; rowsPerChunk?: number; fileName?: string },
): AsyncGenerator<ImportChunk> {
  const perChunk = options.rowsPerChunk ?? DEFAULT_ROWS_PER_CHUNK;
  if (!Number.isInteger(perChunk) || perChunk < 1) throw new RangeError('rowsPerChunk must be ≥ 1');
  let format: ImportFileFormat | undefined = options.format === 'auto' ? undefined : options.format;
  let header: string | undefined;
  let pending: string[] = [];
  let rows = 0;
  /** 0-based index of the next line read. */
  let index = 0;
  /** 0-based index of the first line in `pending`. */
  let first = 0;
  let yielded = false;

  const chunk = (): ImportChunk => {
    const f = format ?? 'csv';
    // The first chunk is the file's own beginning (header included): its numbers are the file's.
    const withHeader = f === 'csv' && header !== undefined && first > 0;
    return {
      format: f,
      body: (withHeader ? [header!, ...pending] : pending).join('\n'),
      rows,
      // CSV: the server's row 1 is the header, its row 2 our line first+1 (1-based).
      lineOffset: withHeader ? first - 1 : first,
    };
  };

  for await (const line of lines) {
    index++;
    if (pending.length === 0) first = index - 1;
    pending.push(line);
    if (isBlank(line)) continue;
    format ??= formatOf(options.fileName ?? '', line);
    if (format === 'csv' && header === undefined) {
      header = line.replace(/^\uFEFF/, '');
      continue;
    }
    rows++;
    if (rows >= perChunk) {
      yield chunk();
      yielded = true;
      pending = [];
      rows = 0;
    }
  }
  if (rows > 0 || !yielded) yield chunk();
}

/** Data rows of a file (non-blank lines, less the CSV header), for the progress total. */
export async function countRows(
  lines: AsyncIterable<string> | Iterable<string>,
  format: ImportFileFormat | 'auto',
  fileName = '',
): Promise<number> {
  let rows = 0;
  let detected: ImportFileFormat | undefined = format === 'auto' ? undefined : format;
  let headerSeen = false;
  for await (const line of lines) {
    if (isBlank(line)) continue;
    detected ??= formatOf(fileName, line);
    if (detected === 'csv' && !headerSeen) {
      headerSeen = true;
      continue;
    }
    rows++;
  }
  return rows;
}
