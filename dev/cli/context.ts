import type { ParsedArgs } from './args.js';
import type { AdminClient } from './client.js';
import type { CliIo } from './io.js';

/** What a command gets: the API client, the streams, its arguments and options. */
export interface CommandContext {
  client: AdminClient;
  io: CliIo;
  args: string[];
  options: ParsedArgs['options'];
}

/** Prints JSON (for --json). */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** "in about 3 h 20 min" from now to `iso`. */
export function fromNow(iso: string, now: number): string {
  const ms = Date.parse(iso) - now;
  if (!Number.isFinite(ms)) return '';
  const minutes = Math.round(Math.abs(ms) / 60_000);
  const span =
    minutes < 1
      ? 'less than a minute'
      : minutes < 60
        ? `${minutes} min`
        : minutes < 48 * 60
          ? `${Math.floor(minutes / 60)} h${minutes % 60 ? ` ${minutes % 60} min` : ''}`
          : `${Math.round(minutes / 1440)} days`;
  return ms >= 0 ? `in about ${span}` : `${span} ago`;
}
