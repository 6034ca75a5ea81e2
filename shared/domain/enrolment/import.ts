/**
 * Bulk enrolment input, line by line: CSV with a header (`email[,transport][,privacy]`, any order,
 * any case) or JSON lines (`{"email": …, "transport"?: …, "privacy"?: …}`). Pure; the HTTP edge
 * streams the body through it. A bad row is reported with its number and reason and never stops
 * the others.
 */
import type { MailboxTransport, PrivacyMode } from '../model.js';

export type ImportFormat = 'csv' | 'jsonl';

export interface ImportRow {
  /** 1-based line number in the upload (the CSV header is line 1). */
  row: number;
  email: string;
  transport: MailboxTransport;
  privacy?: PrivacyMode;
}

export interface ImportRowError {
  row: number;
  reason: string;
}

export type ParsedLine =
  { kind: 'row'; value: ImportRow } | { kind: 'error'; value: ImportRowError } | { kind: 'skip' };

const TRANSPORTS: readonly MailboxTransport[] = ['graph', 'ews'];
const PRIVACY: readonly PrivacyMode[] = ['full', 'subject', 'minimal'];
const COLUMNS = ['email', 'transport', 'privacy'] as const;
/** RFC 5321 path limit; the store checks the rest of the address rules. */
const MAX_EMAIL = 254;
const MAX_LINE = 4096;
const EMAIL_SHAPE = /^[^\s@/\\#?]+@[^\s@/\\#?]+\.[^\s@/\\#?]+$/;

/** Problems that make the whole upload unusable (no header, unknown column). */
export class ImportFormatError extends Error {}

/** Guesses the format from the content type, else from the first character of the body. */
export function importFormatOf(contentType: string | null | undefined, firstChunk: string): ImportFormat {
  const type = (contentType ?? '').toLowerCase();
  if (/\bcsv\b/.test(type)) return 'csv';
  if (/ndjson|jsonl|json-lines|x-json-stream/.test(type)) return 'jsonl';
  return firstChunk.trimStart().startsWith('{') ? 'jsonl' : 'csv';
}

/** A stateful parser: feed it the lines in order. */
export class ImportParser {
  private row = 0;
  private columns: (typeof COLUMNS)[number][] | undefined;

  constructor(
    readonly format: ImportFormat,
    private readonly defaultTransport: MailboxTransport = 'graph',
  ) {}

  /** Rows seen so far (including the header and blank lines). */
  get lines(): number {
    return this.row;
  }

  line(raw: string): ParsedLine {
    this.row++;
    const text = raw.replace(/\r$/, '').replace(/^\uFEFF/, '');
    if (text.trim() === '') return { kind: 'skip' };
    if (text.length > MAX_LINE) return this.error(`line is longer than ${MAX_LINE} characters`);
    return this.format === 'csv' ? this.csvLine(text) : this.jsonLine(text);
  }

  private csvLine(text: string): ParsedLine {
    const fields = splitCsv(text);
    if (fields === undefined) return this.error('unbalanced quotes');
    if (!this.columns) {
      const names = fields.map((f) => f.trim().toLowerCase());
      if (!names.includes('email')) {
        throw new ImportFormatError(
          'The CSV needs a header row naming its columns: email[,transport][,privacy] (the first line has no "email" column).',
        );
      }
      const unknown = names.find((n) => !(COLUMNS as readonly string[]).includes(n));
      if (unknown !== undefined) {
        throw new ImportFormatError(
          `Unknown CSV column "${unknown.slice(0, 40)}": expected email, transport, privacy.`,
        );
      }
      if (new Set(names).size !== names.length) throw new ImportFormatError('A CSV column is named twice.');
      this.columns = names as (typeof COLUMNS)[number][];
      return { kind: 'skip' };
    }
    if (fields.length > this.columns.length)
      return this.error(`expected ${this.columns.length} column(s), got ${fields.length}`);
    const record: Record<string, string> = {};
    this.columns.forEach((name, i) => {
      const value = fields[i]?.trim();
      if (value) record[name] = value;
    });
    return this.validate(record);
  }

  private jsonLine(text: string): ParsedLine {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return this.error('not valid JSON');
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      return this.error('expected a JSON object');
    const record: Record<string, string> = {};
    for (const [key, field] of Object.entries(value)) {
      if (!(COLUMNS as readonly string[]).includes(key))
        return this.error(`unknown field "${key.slice(0, 40)}"`);
      if (field === null || field === undefined) continue;
      if (typeof field !== 'string') return this.error(`${key} must be a string`);
      if (field.trim()) record[key] = field.trim();
    }
    return this.validate(record);
  }

  private validate(record: Record<string, string>): ParsedLine {
    const email = record.email?.toLowerCase();
    if (!email) return this.error('email is missing');
    if (email.length > MAX_EMAIL || !EMAIL_SHAPE.test(email))
      return this.error('email is not an address like name@domain');
    const transport = (record.transport?.toLowerCase() ?? this.defaultTransport) as MailboxTransport;
    if (!TRANSPORTS.includes(transport)) return this.error('transport must be graph or ews');
    const privacy = record.privacy?.toLowerCase() as PrivacyMode | undefined;
    if (privacy !== undefined && !PRIVACY.includes(privacy))
      return this.error('privacy must be full, subject or minimal');
    return { kind: 'row', value: { row: this.row, email, transport, ...(privacy ? { privacy } : {}) } };
  }

  private error(reason: string): ParsedLine {
    return { kind: 'error', value: { row: this.row, reason } };
  }
}

/** RFC 4180 fields of one line (quotes, doubled quotes); undefined when quotes do not balance. */
export function splitCsv(line: string): string[] | undefined {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field.trim() === '') {
      quoted = true;
      field = '';
    } else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  if (quoted) return undefined;
  fields.push(field);
  return fields;
}
