/**
 * Splits a CSV upload into requests of at most `rowsPerChunk` rows, each with the header line, so
 * a large import shows progress and no single request runs long. Lines, as the server's parser
 * reads them (it does not join quoted line breaks either). Pure: no DOM.
 */
export interface CsvChunk {
  /** Header + rows, newline-terminated. */
  body: string;
  /** Data rows in this chunk. */
  rows: number;
  /** Line number (1-based, header = 1) in the whole file of this chunk's first data row. */
  firstLine: number;
}

/**
 * At most the server's IMPORT_SYNC_MAX_ROWS (2,000): each upload is then written at once and
 * answered with its outcomes (200), never turned into an import job (202) the page would follow.
 */
export const ROWS_PER_CHUNK = 2000;

export function splitCsv(text: string, rowsPerChunk = ROWS_PER_CHUNK): { chunks: CsvChunk[]; rows: number } {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  const header = lines[0];
  if (header === undefined || header.trim() === '') return { chunks: [], rows: 0 };
  const chunks: CsvChunk[] = [];
  for (let start = 1; start < lines.length; start += rowsPerChunk) {
    const rows = lines.slice(start, start + rowsPerChunk);
    chunks.push({ body: `${[header, ...rows].join('\n')}\n`, rows: rows.length, firstLine: start + 1 });
  }
  return { chunks, rows: lines.length - 1 };
}

/** A row number in a chunk's report (its header is line 1) as a line number of the whole file. */
export function lineInFile(chunk: CsvChunk, rowInChunk: number): number {
  return chunk.firstLine + rowInChunk - 2;
}
