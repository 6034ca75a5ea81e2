// A minimal Bicep lexer for the infra tests: enough to tell code from comments and string
// literals, find matching brackets and read the top-level entries of an object literal. It lets
// the structural tests run where no Bicep CLI is installed; test/unit/infra/bicep-lexer.test.ts
// checks it.

export interface LexedBicep {
  /** The source with comments blanked out (same length, newlines kept). */
  code: string;
  /** `code` with the contents of string literals blanked too (quotes kept). */
  masked: string;
}

type LexContext = { kind: 'code'; depth: number } | { kind: 'string' };

export function lexBicep(src: string): LexedBicep {
  const code = src.split('');
  const masked = src.split('');
  const blank = (from: number, to: number, target: string[]): void => {
    for (let k = from; k < to; k++) if (src[k] !== '\n') target[k] = ' ';
  };
  const stack: LexContext[] = [{ kind: 'code', depth: 0 }];
  let i = 0;
  while (i < src.length) {
    const top = stack[stack.length - 1];
    const ch = src[i];
    const next = src[i + 1];
    if (top === undefined || ch === undefined) break;
    if (top.kind === 'string') {
      if (ch === '\\') {
        blank(i, i + 2, masked);
        i += 2;
      } else if (ch === "'") {
        stack.pop();
        i += 1;
      } else if (ch === '$' && next === '{') {
        blank(i, i + 2, masked);
        stack.push({ kind: 'code', depth: 0 });
        i += 2;
      } else {
        blank(i, i + 1, masked);
        i += 1;
      }
      continue;
    }
    const inInterpolation = stack.length > 1;
    if (ch === '/' && next === '/') {
      const end = src.indexOf('\n', i);
      const stop = end === -1 ? src.length : end;
      blank(i, stop, code);
      blank(i, stop, masked);
      i = stop;
    } else if (ch === '/' && next === '*') {
      const end = src.indexOf('*/', i + 2);
      const stop = end === -1 ? src.length : end + 2;
      blank(i, stop, code);
      blank(i, stop, masked);
      i = stop;
    } else if (src.startsWith("'''", i)) {
      // Multi-line string: no escapes, no interpolation.
      const end = src.indexOf("'''", i + 3);
      const stop = end === -1 ? src.length : end + 3;
      blank(i + 3, stop - 3, masked);
      i = stop;
    } else if (ch === "'") {
      stack.push({ kind: 'string' });
      i += 1;
    } else if (ch === '{') {
      top.depth += 1;
      i += 1;
    } else if (ch === '}') {
      if (top.depth === 0 && inInterpolation) {
        blank(i, i + 1, masked);
        stack.pop();
      } else {
        top.depth -= 1;
      }
      i += 1;
    } else {
      if (inInterpolation) blank(i, i + 1, masked);
      i += 1;
    }
  }
  return { code: code.join(''), masked: masked.join('') };
}

/** Index just past the bracket matching the opener at `open` (in masked text). */
export function matchingClose(masked: string, open: number): number {
  const pairs: Record<string, string> = { '{': '}', '[': ']', '(': ')' };
  const closer = pairs[masked[open] ?? ''];
  if (closer === undefined) throw new Error(`no opening bracket at ${open}`);
  const opener = masked[open];
  let depth = 0;
  for (let k = open; k < masked.length; k++) {
    if (masked[k] === opener) depth++;
    else if (masked[k] === closer) {
      depth--;
      if (depth === 0) return k + 1;
    }
  }
  throw new Error(`unbalanced '${opener ?? ''}' at ${open}`);
}

export interface ObjectEntry {
  key: string;
  /** Comment-free source of the value (one line, or up to its matching bracket), trimmed. */
  value: string;
  /** Offsets of the (untrimmed) value in the file. */
  start: number;
  end: number;
}

/** Entries of the object literal whose `{` is at `open`, at its top level only. */
export function objectEntries(lexed: LexedBicep, open: number): ObjectEntry[] {
  const close = matchingClose(lexed.masked, open);
  const entries: ObjectEntry[] = [];
  let depth = 0;
  let lineStart = true;
  for (let k = open + 1; k < close - 1; k++) {
    const ch = lexed.masked[k];
    if (lineStart && depth === 0) {
      const match = /^[ \t]*([A-Za-z_][\w]*|'[^'\n]*')[ \t]*:[ \t]*/.exec(lexed.code.slice(k, close));
      if (match?.[1] !== undefined) {
        const valueStart = k + match[0].length;
        let valueEnd = valueStart;
        let inner = 0;
        while (valueEnd < close - 1) {
          const c = lexed.masked[valueEnd];
          if (c === '{' || c === '[' || c === '(') inner++;
          else if (c === '}' || c === ']' || c === ')') inner--;
          else if (c === '\n' && inner === 0) break;
          valueEnd++;
        }
        entries.push({
          key: match[1].replace(/^'|'$/g, ''),
          value: lexed.code.slice(valueStart, valueEnd).trim(),
          start: valueStart,
          end: valueEnd,
        });
      }
    }
    if (ch === '{' || ch === '[' || ch === '(') depth++;
    else if (ch === '}' || ch === ']' || ch === ')') depth--;
    lineStart = ch === '\n';
  }
  return entries;
}

/** Keys of the object literal whose `{` is at `open`, at its top level only. */
export function objectKeys(lexed: LexedBicep, open: number): string[] {
  return objectEntries(lexed, open).map((entry) => entry.key);
}
