import { describe, expect, it } from 'vitest';
import { countRows, formatOf, importChunks, type ImportChunk } from '../../../dev/cli/chunks.js';
import { add, summary, type FileImportReport } from '../../../dev/cli/import.js';

async function all(lines: string[], rowsPerChunk: number, format: 'csv' | 'jsonl' | 'auto' = 'auto') {
  const chunks: ImportChunk[] = [];
  for await (const c of importChunks(lines, { format, rowsPerChunk })) chunks.push(c);
  return chunks;
}

/** What the server numbers a chunk's lines: 1-based within the upload, the header being 1. */
function serverRows(chunk: ImportChunk): Map<string, number> {
  const rows = new Map<string, number>();
  chunk.body.split('\n').forEach((line, i) => rows.set(line, i + 1));
  return rows;
}

describe('importChunks', () => {
  const file = [
    'email,transport',
    'a1@x.example',
    '',
    'a2@x.example',
    'a3@x.example',
    'a4@x.example',
    'a5@x.example',
    '',
  ];

  it('keeps the CSV header on every chunk and counts data rows only', async () => {
    const chunks = await all(file, 2);
    expect(chunks.map((c) => c.body.split('\n')[0])).toEqual([
      'email,transport',
      'email,transport',
      'email,transport',
    ]);
    expect(chunks.map((c) => c.rows)).toEqual([2, 2, 1]);
    expect(chunks.every((c) => c.format === 'csv')).toBe(true);
    expect(chunks[0]!.body).toBe('email,transport\na1@x.example\n\na2@x.example');
    expect(chunks[1]!.body).toBe('email,transport\na3@x.example\na4@x.example');
    expect(chunks[2]!.body).toBe('email,transport\na5@x.example\n');
  });

  it('maps every server row number back to the file’s own line number', async () => {
    for (const size of [1, 2, 3, 5, 100]) {
      for (const chunk of await all(file, size)) {
        for (const [line, row] of serverRows(chunk)) {
          if (line === '' || line === 'email,transport') continue;
          expect(file[row + chunk.lineOffset - 1], `size ${size}`).toBe(line);
        }
      }
    }
  });

  it('maps JSON lines (no header) and detects the format from the first non-blank line', async () => {
    const jsonl = [
      '',
      '{"email":"a@x.example"}',
      '{"email":"b@x.example"}',
      'oops',
      '{"email":"c@x.example"}',
    ];
    const chunks = await all(jsonl, 2);
    expect(chunks.map((c) => c.format)).toEqual(['jsonl', 'jsonl']);
    expect(chunks.map((c) => c.rows)).toEqual([2, 2]);
    for (const chunk of chunks)
      for (const [line, row] of serverRows(chunk))
        if (line) expect(jsonl[row + chunk.lineOffset - 1]).toBe(line);
  });

  it('strips a byte-order mark from the header it repeats', async () => {
    const chunks = await all(['\uFEFFemail', 'a@x.example', 'b@x.example'], 1);
    expect(chunks[0]!.body.startsWith('\uFEFFemail\n')).toBe(true);
    expect(chunks[1]!.body).toBe('email\nb@x.example');
    expect(chunks[1]!.lineOffset).toBe(1);
  });

  it('yields one chunk for an empty or header-only file, none extra for trailing blanks', async () => {
    expect(await all([], 10)).toEqual([{ format: 'csv', body: '', rows: 0, lineOffset: 0 }]);
    expect((await all(['email'], 10)).map((c) => c.rows)).toEqual([0]);
    expect((await all(['email', 'a@x.example', 'b@x.example', '', ''], 2)).length).toBe(1);
  });

  it('counts rows as the progress total', async () => {
    expect(await countRows(file, 'auto')).toBe(5);
    expect(await countRows(['{"email":"a@x"}', '', '{"email":"b@x"}'], 'auto')).toBe(2);
  });

  it('decides the format by extension first', () => {
    expect(formatOf('users.CSV', '{"email":"a@x"}')).toBe('csv');
    expect(formatOf('users.ndjson', 'email')).toBe('jsonl');
    expect(formatOf('users.txt', ' {"email":"a@x"}')).toBe('jsonl');
    expect(formatOf('users', 'email')).toBe('csv');
  });
});

describe('import report', () => {
  it('adds chunk reports with row numbers turned into file lines, and summarises', () => {
    const report: FileImportReport = {
      file: 'f.csv',
      rows: 0,
      accepted: 0,
      unchanged: 0,
      invalid: 0,
      errors: [],
      truncated: false,
      chunks: 0,
    };
    const part = (errors: { row: number; reason: string }[]) => ({
      format: 'csv' as const,
      rows: 5000,
      accepted: 5000 - errors.length,
      unchanged: 0,
      invalid: errors.length,
      errors,
      truncated: false,
    });
    add(report, { lineOffset: 0 }, part([{ row: 4, reason: 'email is not an address like name@domain' }]));
    add(report, { lineOffset: 5000 }, part([{ row: 2, reason: 'duplicate of an earlier row' }]));
    expect(report.errors).toEqual([
      { line: 4, reason: 'email is not an address like name@domain' },
      { line: 5002, reason: 'duplicate of an earlier row' },
    ]);
    expect(summary(report)).toBe(
      [
        'rows       10,000',
        'accepted   9,998',
        'unchanged  0',
        'invalid    2',
        '',
        'first invalid rows:',
        'LINE  REASON',
        '   4  email is not an address like name@domain',
        '5002  duplicate of an earlier row',
        '',
      ].join('\n'),
    );
  });
});
