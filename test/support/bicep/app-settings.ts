// The Function App's app settings as Bicep builds them, for given parameter values: follows
// vars, union(...) and `condition ? a : b` in function-app.bicep, and fails on any construct it
// does not understand, so that nothing can hide a setting from the tests.
import { relative } from 'node:path';
import { expect } from 'vitest';
import { repoRoot, type BicepFile } from './files.js';
import { matchingClose, objectEntries, type ObjectEntry } from './lexer.js';

/** Parameter values of function-app.bicep that decide which settings exist. */
export type Scenario = Readonly<Record<string, string | boolean>>;

const OPENERS = new Set(['{', '[', '(']);
const CLOSERS = new Set(['}', ']', ')']);

/** Offsets of a `var`'s expression (after `=`, to the end of the declaration). */
export function varExpression(file: BicepFile, name: string): { start: number; end: number } {
  const at = new RegExp(`^var[ \\t]+${name}[ \\t]*=[ \\t]*`, 'm').exec(file.lexed.code);
  if (at === null) throw new Error(`${relative(repoRoot, file.path)}: no var ${name}`);
  const start = at.index + at[0].length;
  let end = start;
  let depth = 0;
  for (; end < file.lexed.masked.length; end++) {
    const c = file.lexed.masked[end] ?? '';
    if (OPENERS.has(c)) depth++;
    else if (CLOSERS.has(c)) depth--;
    else if (c === '\n' && depth === 0) {
      // A multi-line conditional (`cond\n  ? a\n  : b`) goes on past the line break.
      if (!/^\n[ \t]*[?:]/.test(file.lexed.masked.slice(end, end + 200))) break;
    }
  }
  return { start, end };
}

/** `name`, `!name`, `name == 'x'` and `name != 'x'`, evaluated against the scenario. */
export function evaluateCondition(condition: string, scenario: Scenario): boolean {
  const flag = /^(!?)(\w+)$/.exec(condition);
  if (flag !== null) {
    const value = scenario[flag[2] ?? ''];
    if (typeof value !== 'boolean')
      throw new Error(`condition ${condition}: no boolean ${flag[2]} in scenario`);
    return flag[1] === '!' ? !value : value;
  }
  const comparison = /^(\w+)\s*(==|!=)\s*'([^'\n]*)'$/.exec(condition);
  if (comparison !== null) {
    const value = scenario[comparison[1] ?? ''];
    if (typeof value !== 'string')
      throw new Error(`condition ${condition}: no string ${comparison[1]} in scenario`);
    return (value === comparison[3]) === (comparison[2] === '==');
  }
  throw new Error(`unsupported condition "${condition}": extend evaluateCondition in this test`);
}

/**
 * Names and value sources of the settings an object expression produces: an object literal, a
 * var, `union(a, b, …)` or `condition ? a : b` (anything else fails the test, so a construct
 * this reader does not understand cannot hide a setting).
 */
export function settingEntries(file: BicepFile, from: number, to: number, scenario: Scenario): ObjectEntry[] {
  const { code, masked } = file.lexed;
  let start = from;
  let end = to;
  while (start < end && /\s/.test(code[start] ?? '')) start++;
  while (end > start && /\s/.test(code[end - 1] ?? '')) end--;
  const text = code.slice(start, end);
  if (code[start] === '{' && matchingClose(masked, start) === end) return objectEntries(file.lexed, start);
  if (/^\w+$/.test(text)) {
    const expression = varExpression(file, text);
    return settingEntries(file, expression.start, expression.end, scenario);
  }
  const union = /^union\s*\(/.exec(text);
  if (union !== null && matchingClose(masked, start + union[0].length - 1) === end) {
    const args: Array<[number, number]> = [];
    let depth = 0;
    let argStart = start + union[0].length;
    for (let k = argStart; k < end - 1; k++) {
      const c = masked[k] ?? '';
      if (OPENERS.has(c)) depth++;
      else if (CLOSERS.has(c)) depth--;
      else if (c === ',' && depth === 0) {
        args.push([argStart, k]);
        argStart = k + 1;
      }
    }
    args.push([argStart, end - 1]);
    return args.flatMap(([a, b]) => settingEntries(file, a, b, scenario));
  }
  let depth = 0;
  let question = -1;
  for (let k = start; k < end; k++) {
    const c = masked[k] ?? '';
    if (OPENERS.has(c)) depth++;
    else if (CLOSERS.has(c)) depth--;
    else if (depth === 0 && c === '?' && question === -1) question = k;
    else if (depth === 0 && c === ':' && question !== -1) {
      return evaluateCondition(code.slice(start, question).trim(), scenario)
        ? settingEntries(file, question + 1, k, scenario)
        : settingEntries(file, k + 1, end, scenario);
    }
  }
  throw new Error(`${relative(repoRoot, file.path)}: unsupported app-settings expression: ${text}`);
}

/** The `Microsoft.Web/sites/config` `appsettings` of function-app.bicep: name → value source. */
export function appSettingsFor(file: BicepFile, scenario: Scenario): Map<string, string> {
  const at = /^resource[ \t]+\w+[ \t]+'Microsoft\.Web\/sites\/config@[^'\n]+'[ \t]*=[ \t]*\{/m.exec(
    file.lexed.code,
  );
  if (at === null) throw new Error('no Microsoft.Web/sites/config resource');
  const body = objectEntries(file.lexed, at.index + at[0].length - 1);
  expect(body.find((entry) => entry.key === 'name')?.value).toBe("'appsettings'");
  const properties = body.find((entry) => entry.key === 'properties');
  if (properties === undefined) throw new Error('appsettings has no properties');
  const result = new Map<string, string>();
  for (const entry of settingEntries(file, properties.start, properties.end, scenario)) {
    expect(result.has(entry.key), `${entry.key} is set twice`).toBe(false);
    result.set(entry.key, entry.value);
  }
  return result;
}

/** A Key Vault reference to `<keyVaultUri>secrets/<name>`, never a value. */
export const KEY_VAULT_REFERENCE =
  /^'@Microsoft\.KeyVault\(SecretUri=\$\{keyVaultUri\}secrets\/\$\{(\w+)\}\)'$/;
