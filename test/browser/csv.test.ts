import { describe, expect, it } from 'vitest';
import { lineInFile, splitCsv } from '../../shared/admin/console/browser/csv.js';

/** The console's client-side split of a CSV import (pure; no browser needed). */
describe('splitCsv', () => {
  const file = (rows: number) =>
    ['email,transport', ...Array.from({ length: rows }, (_, i) => `user${i + 1}@contoso.example,ews`)].join(
      '\r\n',
    );

  it('keeps the header in every chunk of at most 2,000 rows and counts every row once', () => {
    const { chunks, rows } = splitCsv(`\uFEFF${file(4_500)}\r\n\r\n`);
    expect(rows).toBe(4_500);
    expect(chunks.map((c) => c.rows)).toEqual([2_000, 2_000, 500]);
    for (const chunk of chunks) expect(chunk.body.startsWith('email,transport\n')).toBe(true);
    expect(chunks[2]!.body.split('\n')[1]).toBe('user4001@contoso.example,ews');
  });

  it("maps a chunk's row numbers (its header is line 1) to lines of the whole file", () => {
    const { chunks } = splitCsv(file(4_500));
    expect(lineInFile(chunks[0]!, 2)).toBe(2);
    expect(lineInFile(chunks[1]!, 2)).toBe(2_002);
    expect(lineInFile(chunks[2]!, 501)).toBe(4_501);
  });

  it('finds nothing to send in an empty file or a header alone', () => {
    expect(splitCsv('')).toEqual({ chunks: [], rows: 0 });
    expect(splitCsv('email\n')).toEqual({ chunks: [], rows: 0 });
  });
});
