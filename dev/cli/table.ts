/**
 * Plain-text tables for the terminal: a header row, columns padded to their widest cell, an
 * optional cap per column (long cells end in "…"). Pure.
 */
export interface Column<T> {
  header: string;
  value: (row: T) => string | number | undefined;
  /** Right-align (numbers). */
  right?: boolean;
  /** Longest cell, in characters; longer ones are cut with "…". */
  max?: number;
}

export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => cellText(c.value(row), c.max)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => [...r[i]!].length)));
  const line = (values: readonly string[]) =>
    values
      .map((v, i) => (columns[i]!.right ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].map((l) => `${l}\n`).join('');
}

/** Two columns, name and value, no header: `rows      30`. */
export function renderPairs(pairs: readonly (readonly [string, string | number | undefined])[]): string {
  const shown = pairs.filter(([, v]) => v !== undefined && v !== '');
  const width = Math.max(0, ...shown.map(([k]) => k.length));
  return shown
    .map(([k, v]) => `${k.padEnd(width)}  ${typeof v === 'number' ? v.toLocaleString('en-US') : v}\n`)
    .join('');
}

function cellText(value: string | number | undefined, max: number | undefined): string {
  const text = (value === undefined ? '' : typeof value === 'number' ? String(value) : value).replace(
    /[\r\n\t]+/g,
    ' ',
  );
  const chars = [...text];
  if (max === undefined || chars.length <= max) return text;
  return `${chars.slice(0, Math.max(0, max - 1)).join('')}…`;
}
