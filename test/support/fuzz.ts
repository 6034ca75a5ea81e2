/**
 * Shared settings of the property tests under test/fuzz: one fixed seed, so a run is the same
 * run every time (a failure is reproduced by running the file again), and bounded run counts so
 * the whole fuzz suite stays well under a minute on a small CI machine.
 */
import azureFunctions from '@azure/functions';
import type {
  HttpRequest as HttpRequestType,
  InvocationContext as InvocationContextType,
} from '@azure/functions';
import fc from 'fast-check';

const { HttpRequest, InvocationContext } = azureFunctions;

export const FUZZ_SEED = 20_261_201;

/** fc.assert parameters: the fixed seed and a run count. */
export function fuzz<T = unknown>(numRuns: number): fc.Parameters<T> {
  return { seed: FUZZ_SEED, numRuns, endOnFailure: true };
}

/** An InvocationContext whose log lines are kept, so a property can look at them. */
export function recordingContext(functionName: string): { context: InvocationContextType; logs: string[] } {
  const logs: string[] = [];
  const context = new InvocationContext({
    functionName,
    logHandler: (level, ...args) => logs.push(`${level}: ${args.map(String).join(' ')}`),
  });
  return { context, logs };
}

export interface RequestInit {
  method?: string;
  url?: string;
  headers?: Record<string, string>;
  query?: Record<string, string>;
  params?: Record<string, string>;
  body?: string;
}

export function httpRequest(init: RequestInit): HttpRequestType {
  return new HttpRequest({
    method: init.method ?? 'POST',
    url: init.url ?? 'https://mailpush.example/api/test',
    headers: init.headers ?? {},
    query: init.query ?? {},
    params: init.params ?? {},
    ...(init.body !== undefined ? { body: { string: init.body } } : {}),
  });
}

/** The `{ error: { code, message } }` of an error response, or undefined when it has none. */
export function errorOf(response: { jsonBody?: unknown }): { code: string; message: string } | undefined {
  const body = response.jsonBody as { error?: { code?: unknown; message?: unknown } } | undefined;
  const error = body?.error;
  if (typeof error?.code !== 'string' || typeof error.message !== 'string') return undefined;
  return { code: error.code, message: error.message };
}

/** Any JSON value, including the awkward ones (deep nesting, unicode keys, big numbers). */
export const anyJson = fc.jsonValue({ maxDepth: 4 });

/** Strings of any code points, including lone surrogates and control characters. */
export const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.string({ maxLength: 80 }),
);

/** A field value to put where a string is expected: other JSON types, junk strings, huge strings. */
export const anyFieldValue: fc.Arbitrary<unknown> = fc.oneof(
  anyJson,
  anyString,
  fc.constantFrom(null, true, false, 0, -1, 1e308, '', ' ', '\u0000', 'x'.repeat(5000)),
);

/** A valid object with one field mutated: removed, replaced by junk, or one character changed. */
export function mutateOneField(
  valid: Record<string, unknown>,
  fields: readonly string[] = Object.keys(valid),
): fc.Arbitrary<{ field: string; how: string; value: Record<string, unknown> }> {
  return fc
    .record({
      field: fc.constantFrom(...fields),
      how: fc.constantFrom('delete', 'replace', 'tweak', 'pad'),
      junk: anyFieldValue,
      index: fc.nat(),
      char: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    })
    .map(({ field, how, junk, index, char }) => {
      const value: Record<string, unknown> = { ...valid };
      const current = value[field];
      if (how === 'delete') delete value[field];
      else if (how === 'replace') value[field] = junk;
      else if (typeof current === 'string') {
        const at = current.length === 0 ? 0 : index % current.length;
        value[field] =
          how === 'tweak' ? current.slice(0, at) + char + current.slice(at + 1) : ` ${current}${char}`;
      } else value[field] = junk;
      return { field, how, value };
    });
}
