import { describe, expect, it } from 'vitest';
import {
  ImportFormatError,
  ImportParser,
  importFormatOf,
  splitCsv,
  type ImportFormat,
  type ParsedLine,
} from '../../../../shared/domain/enrolment/import.js';

function parse(format: ImportFormat, text: string): ParsedLine[] {
  const parser = new ImportParser(format);
  return text.split('\n').map((line) => parser.line(line));
}
const rows = (lines: ParsedLine[]) => lines.flatMap((l) => (l.kind === 'row' ? [l.value] : []));
const errors = (lines: ParsedLine[]) => lines.flatMap((l) => (l.kind === 'error' ? [l.value] : []));

describe('CSV', () => {
  it('needs a header naming email', () => {
    expect(() => parse('csv', 'adele@contoso.example,ews')).toThrow(ImportFormatError);
    expect(() => parse('csv', 'email,colour\na@contoso.example,red')).toThrow(/Unknown CSV column "colour"/);
    expect(() => parse('csv', 'email,Email')).toThrow(/named twice/);
  });

  it('takes columns in any order and case, quotes, a BOM, CRLF and blank lines', () => {
    const text =
      '\uFEFFPrivacy,TRANSPORT,Email\r\n' +
      'subject,ews,Adele.Vance@Contoso.example\r\n' +
      '\r\n' +
      '"full","graph","""quoted""@contoso.example"\r\n' +
      ',,"alex,w@contoso.example"\r\n' +
      '   \r\n' +
      'minimal,,megan@contoso.example';
    const lines = parse('csv', text);
    expect(lines[0]).toEqual({ kind: 'skip' });
    // Quoted fields are read whole (a doubled quote is a quote, a comma stays in the field); the
    // shape check is loose on purpose, the store checks the rest of the address rules.
    expect(rows(lines)).toEqual([
      { row: 2, email: 'adele.vance@contoso.example', transport: 'ews', privacy: 'subject' },
      { row: 4, email: '"quoted"@contoso.example', transport: 'graph', privacy: 'full' },
      { row: 5, email: 'alex,w@contoso.example', transport: 'graph' },
      { row: 7, email: 'megan@contoso.example', transport: 'graph', privacy: 'minimal' },
    ]);
    expect(errors(lines)).toEqual([]);
  });

  it('reports bad rows with their line number and reason and goes on', () => {
    const lines = parse(
      'csv',
      [
        'email,transport,privacy',
        'ok@contoso.example,graph,full',
        'no-at-sign,graph,',
        ',ews,',
        'a@contoso.example,pigeon,',
        'b@contoso.example,ews,loud',
        'c@contoso.example,ews,full,extra',
        '"d@contoso.example,ews',
        `${'x'.repeat(250)}@contoso.example`,
        'last@contoso.example',
      ].join('\n'),
    );
    expect(errors(lines)).toEqual([
      { row: 3, reason: 'email is not an address like name@domain' },
      { row: 4, reason: 'email is missing' },
      { row: 5, reason: 'transport must be graph or ews' },
      { row: 6, reason: 'privacy must be full, subject or minimal' },
      { row: 7, reason: 'expected 3 column(s), got 4' },
      { row: 8, reason: 'unbalanced quotes' },
      { row: 9, reason: 'email is not an address like name@domain' },
    ]);
    expect(rows(lines).map((r) => r.row)).toEqual([2, 10]);
  });

  it('refuses overlong lines', () => {
    const parser = new ImportParser('csv');
    parser.line('email');
    expect(parser.line('a'.repeat(5_000))).toEqual({
      kind: 'error',
      value: { row: 2, reason: 'line is longer than 4096 characters' },
    });
  });

  it('reports duplicates as rows: deduplication is the use case’s job', () => {
    const lines = parse('csv', 'email\na@contoso.example\nA@contoso.example');
    expect(rows(lines).map((r) => r.email)).toEqual(['a@contoso.example', 'a@contoso.example']);
  });

  it('uses the parser’s default transport when the column is absent or empty', () => {
    const parser = new ImportParser('csv', 'ews');
    parser.line('email,transport');
    expect(parser.line('a@contoso.example,')).toMatchObject({ kind: 'row', value: { transport: 'ews' } });
    expect(parser.lines).toBe(2);
  });
});

describe('JSON lines', () => {
  it('reads objects, one per line, with optional fields and null', () => {
    const lines = parse(
      'jsonl',
      [
        '{"email":"Adele@contoso.example","transport":"EWS","privacy":"subject"}',
        '',
        '{"email":"b@contoso.example","privacy":null}',
      ].join('\r\n'),
    );
    expect(rows(lines)).toEqual([
      { row: 1, email: 'adele@contoso.example', transport: 'ews', privacy: 'subject' },
      { row: 3, email: 'b@contoso.example', transport: 'graph' },
    ]);
  });

  it('refuses non-objects, bad JSON, unknown fields and non-string values, row by row', () => {
    const lines = parse(
      'jsonl',
      [
        '[1,2]',
        '"a@contoso.example"',
        '{"email": ',
        '{"email":"a@contoso.example","colour":"red"}',
        '{"email":42}',
        '{"transport":"ews"}',
      ].join('\n'),
    );
    expect(errors(lines)).toEqual([
      { row: 1, reason: 'expected a JSON object' },
      { row: 2, reason: 'expected a JSON object' },
      { row: 3, reason: 'not valid JSON' },
      { row: 4, reason: 'unknown field "colour"' },
      { row: 5, reason: 'email must be a string' },
      { row: 6, reason: 'email is missing' },
    ]);
  });
});

describe('format sniffing', () => {
  it('trusts the content type, else looks at the first character', () => {
    expect(importFormatOf('text/csv; charset=utf-8', '{"email":1}')).toBe('csv');
    expect(importFormatOf('application/x-ndjson', 'email')).toBe('jsonl');
    expect(importFormatOf('application/jsonl', 'email')).toBe('jsonl');
    expect(importFormatOf(undefined, '  \n{"email":"a@b.c"}')).toBe('jsonl');
    expect(importFormatOf('application/octet-stream', 'email,transport')).toBe('csv');
    expect(importFormatOf(null, '')).toBe('csv');
  });
});

describe('splitCsv', () => {
  it('splits RFC 4180 fields', () => {
    expect(splitCsv('a,"b,c","d""e",')).toEqual(['a', 'b,c', 'd"e', '']);
    expect(splitCsv('"open')).toBeUndefined();
  });
});
