// Structural checks of the azd + Bicep deployment. There is no Bicep compiler on the
// development machines or in CI, so these tests read the .bicep files as text (comments and
// string literals handled by a small lexer) and check the contracts that matter: modules
// exist and are wired correctly, app-setting names match what shared/config reads, the
// security settings are in place, and every role assignment is a known, commented role.
// When `bicep` or `az bicep` is on PATH, the real compiler runs as well.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { NATIONAL_CLOUD_NAMES, NATIONAL_CLOUDS } from '../../../shared/auth/clouds.js';
import { SETTINGS, loadSettings } from '../../../shared/config/settings.js';
import { ConfigError } from '../../../shared/errors.js';
import { MIN_WEBHOOK_SECRET_LENGTH } from '../../../shared/push/gateway.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const infraDir = join(repoRoot, 'infra');
const mainBicepPath = join(infraDir, 'main.bicep');
const functionAppPath = join(infraDir, 'modules', 'function-app.bicep');
const rbacPath = join(infraDir, 'modules', 'rbac.bicep');
const notificationHubsPath = join(infraDir, 'modules', 'notification-hubs.bicep');
const pushWebhookPath = join(infraDir, 'modules', 'push-webhook.bicep');

/** App settings the app's config module reads; the names are a contract with shared/config. */
const REQUIRED_APP_SETTINGS = [
  'AzureWebJobsStorage__accountName',
  'AzureWebJobsStorage__credential',
  'AzureWebJobsStorage__clientId',
  'APPLICATIONINSIGHTS_CONNECTION_STRING',
  'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
  'AZURE_CLIENT_ID',
  'TABLES_ENDPOINT',
  'TABLE_NAME_PREFIX',
  'ServiceBusConnection__fullyQualifiedNamespace',
  'ServiceBusConnection__credential',
  'ServiceBusConnection__clientId',
  'NOTIFICATION_QUEUE_NAME',
  'GRAPH_TENANT_ID',
  'GRAPH_CLIENT_ID',
  'GRAPH_CLIENT_SECRET',
  'GRAPH_CLOUD',
  'DEVICE_API_AUDIENCE',
  'PUBLIC_BASE_URL',
  'MIGRATION_BATCH_SIZE',
  'MAINTENANCE_SCHEDULE',
  'PUSH_PROVIDER',
  'NOTIFICATION_HUB_NAME',
  'NOTIFICATION_HUB_CONNECTION_STRING',
  'PUSH_WEBHOOK_URL',
  'PUSH_WEBHOOK_SECRET',
] as const;

/** Settings that Flex Consumption rejects or that would reintroduce keys. */
const FORBIDDEN_APP_SETTINGS = [
  'AzureWebJobsStorage',
  'FUNCTIONS_WORKER_RUNTIME',
  'FUNCTIONS_EXTENSION_VERSION',
  'WEBSITE_RUN_FROM_PACKAGE',
  'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
  'WEBSITE_CONTENTSHARE',
  'APPINSIGHTS_INSTRUMENTATIONKEY',
] as const;

const REQUIRED_OUTPUTS = [
  'AZURE_LOCATION',
  'AZURE_TENANT_ID',
  'AZURE_RESOURCE_GROUP',
  'AZURE_FUNCTION_APP_NAME',
  'AZURE_FUNCTION_URL',
  'SERVICEBUS_NAMESPACE',
  'STORAGE_ACCOUNT_NAME',
  'KEY_VAULT_NAME',
  'APPLICATIONINSIGHTS_CONNECTION_STRING',
] as const;

/** Built-in Azure role definition IDs this deployment may use, with their display names. */
const KNOWN_ROLES: Readonly<Record<string, string>> = {
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': 'Storage Blob Data Owner',
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': 'Storage Table Data Contributor',
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88': 'Storage Queue Data Contributor',
  '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39': 'Azure Service Bus Data Sender',
  '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0': 'Azure Service Bus Data Receiver',
  '090c5cfd-751d-490a-894a-3ce6f1109419': 'Azure Service Bus Data Owner',
  '4633458b-17de-408a-b874-0445c86b69e6': 'Key Vault Secrets User',
  'b86a8fe4-44ce-4948-aee5-eccb2c155cd7': 'Key Vault Secrets Officer',
  '3913510d-42f4-4e42-8a64-420c390055eb': 'Monitoring Metrics Publisher',
};

const APP_IDENTITY_ROLES = [
  'Storage Blob Data Owner',
  'Storage Table Data Contributor',
  'Storage Queue Data Contributor',
  'Azure Service Bus Data Sender',
  'Azure Service Bus Data Receiver',
  'Key Vault Secrets User',
  'Monitoring Metrics Publisher',
];

const DEVELOPER_ROLES = [
  'Storage Blob Data Owner',
  'Storage Table Data Contributor',
  'Azure Service Bus Data Owner',
];

// ---------------------------------------------------------------------------------------
// A minimal Bicep lexer: enough to tell code from comments and string literals.
// ---------------------------------------------------------------------------------------

interface LexedBicep {
  /** The source with comments blanked out (same length, newlines kept). */
  code: string;
  /** `code` with the contents of string literals blanked too (quotes kept). */
  masked: string;
}

type LexContext = { kind: 'code'; depth: number } | { kind: 'string' };

function lexBicep(src: string): LexedBicep {
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
function matchingClose(masked: string, open: number): number {
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

interface ObjectEntry {
  key: string;
  /** Comment-free source of the value (one line, or up to its matching bracket), trimmed. */
  value: string;
  /** Offsets of the (untrimmed) value in the file. */
  start: number;
  end: number;
}

/** Entries of the object literal whose `{` is at `open`, at its top level only. */
function objectEntries(lexed: LexedBicep, open: number): ObjectEntry[] {
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
function objectKeys(lexed: LexedBicep, open: number): string[] {
  return objectEntries(lexed, open).map((entry) => entry.key);
}

interface BicepFile {
  path: string;
  src: string;
  lexed: LexedBicep;
}

function loadBicep(path: string): BicepFile {
  const src = readFileSync(path, 'utf8');
  return { path, src, lexed: lexBicep(src) };
}

interface ParamDecl {
  name: string;
  hasDefault: boolean;
}

function params(file: BicepFile): ParamDecl[] {
  const result: ParamDecl[] = [];
  for (const match of file.lexed.masked.matchAll(/^param[ \t]+(\w+)[ \t]+([^\n]*)$/gm)) {
    const name = match[1];
    const rest = match[2] ?? '';
    if (name === undefined) continue;
    let hasDefault = rest.includes('=');
    const brace = rest.indexOf('{');
    if (!hasDefault && brace !== -1 && !rest.includes('}')) {
      // A multi-line object type: the default, if any, follows the closing brace.
      const close = matchingClose(file.lexed.masked, (match.index ?? 0) + match[0].indexOf('{'));
      hasDefault = /^[ \t]*=/.test(file.lexed.masked.slice(close));
    }
    result.push({ name, hasDefault });
  }
  return result;
}

function outputs(file: BicepFile): string[] {
  return [...file.lexed.masked.matchAll(/^output[ \t]+(\w+)[ \t]/gm)].flatMap((m) => (m[1] ? [m[1]] : []));
}

interface ModuleRef {
  symbol: string;
  path: string;
  /** Absolute path for local modules; undefined for registry references. */
  resolved: string | undefined;
  /** Keys of the module's `params: { ... }` object. */
  paramKeys: string[];
  /** The module's `params: { ... }` as key → value source. */
  paramValues: Map<string, string>;
  /** The `if (...)` condition's source, or undefined when the module always deploys. */
  condition: string | undefined;
  /** Symbols in the module's `dependsOn: [ ... ]`. */
  dependsOn: string[];
}

function modules(file: BicepFile): ModuleRef[] {
  const result: ModuleRef[] = [];
  const pattern = /^module[ \t]+(\w+)[ \t]+'([^'\n]+)'[ \t]*=/gm;
  for (const match of file.lexed.code.matchAll(pattern)) {
    const symbol = match[1];
    const path = match[2];
    if (symbol === undefined || path === undefined) continue;
    const afterEquals = (match.index ?? 0) + match[0].length;
    const bodyOpen = file.lexed.masked.indexOf('{', afterEquals);
    const bodyClose = matchingClose(file.lexed.masked, bodyOpen);
    const body = file.lexed.masked.slice(bodyOpen, bodyClose);
    const paramsAt = /\n[ \t]*params[ \t]*:[ \t]*\{/.exec(body);
    const entries =
      paramsAt === null
        ? []
        : objectEntries(file.lexed, bodyOpen + paramsAt.index + paramsAt[0].lastIndexOf('{'));
    const condition = /^\s*if\s*\(([\s\S]*)\)\s*$/.exec(file.lexed.code.slice(afterEquals, bodyOpen))?.[1];
    const dependsAt = /\n[ \t]*dependsOn[ \t]*:[ \t]*\[/.exec(body);
    const dependsOn =
      dependsAt === null
        ? []
        : [
            ...file.lexed.code
              .slice(
                bodyOpen + dependsAt.index + dependsAt[0].length,
                matchingClose(file.lexed.masked, bodyOpen + dependsAt.index + dependsAt[0].length - 1),
              )
              .matchAll(/\b\w+\b/g),
          ].map((m) => m[0]);
    const isRegistry = /^(br|ts)[:/]/.test(path);
    result.push({
      symbol,
      path,
      resolved: isRegistry ? undefined : resolve(dirname(file.path), path),
      paramKeys: entries.map((entry) => entry.key),
      paramValues: new Map(entries.map((entry) => [entry.key, entry.value])),
      condition: condition?.trim(),
      dependsOn,
    });
  }
  return result;
}

/** The decorator lines (`@secure()`, `@minLength(32)`, …) directly above `param <name>`. */
function paramDecorators(file: BicepFile, name: string): string {
  const at = new RegExp(`^param[ \\t]+${name}\\b`, 'm').exec(file.lexed.code);
  if (at === null) throw new Error(`${file.path}: no param ${name}`);
  const lines = file.lexed.code.slice(0, at.index).split('\n').slice(0, -1);
  const decorators: string[] = [];
  for (let k = lines.length - 1; k >= 0; k--) {
    const line = lines[k] ?? '';
    if (line.trim() === '' || /^(param|var|resource|module|output|targetScope)\b/.test(line)) break;
    decorators.unshift(line);
  }
  return decorators.join('\n');
}

/** Names of the file's `@secure()` parameters. */
function secureParams(file: BicepFile): string[] {
  return params(file)
    .map((p) => p.name)
    .filter((name) => /@secure\(\)/.test(paramDecorators(file, name)));
}

interface ResourceBlock {
  symbol: string;
  type: string;
  conditional: boolean;
  /** Comment-free source of the resource body. */
  body: string;
  /** The comment lines immediately above the declaration. */
  leadingComment: string;
}

/** Resource declarations (top-level or nested) whose type matches `type`. */
function resources(file: BicepFile, type: RegExp): ResourceBlock[] {
  const result: ResourceBlock[] = [];
  const pattern =
    /^[ \t]*resource[ \t]+(\w+)[ \t]+'([^'\n]+)'[ \t]*(?:existing[ \t]*)?=[ \t]*(if[ \t]*\()?/gm;
  for (const match of file.lexed.code.matchAll(pattern)) {
    const [, symbol, resourceType] = match;
    if (symbol === undefined || resourceType === undefined || !type.test(resourceType)) continue;
    const start = match.index ?? 0;
    const bodyOpen = file.lexed.masked.indexOf('{', start + match[0].length);
    const body = file.lexed.code.slice(bodyOpen, matchingClose(file.lexed.masked, bodyOpen));
    const linesAbove = file.src.slice(0, start).split('\n').slice(0, -1);
    const commentLines: string[] = [];
    for (let k = linesAbove.length - 1; k >= 0; k--) {
      const line = linesAbove[k]?.trim() ?? '';
      if (!line.startsWith('//')) break;
      commentLines.unshift(line);
    }
    result.push({
      symbol,
      type: resourceType,
      conditional: match[3] !== undefined,
      body,
      leadingComment: commentLines.join('\n'),
    });
  }
  return result;
}

// ---------------------------------------------------------------------------------------
// The Function App's app settings as Bicep builds them, for given parameter values.
// ---------------------------------------------------------------------------------------

/** Parameter values of function-app.bicep that decide which settings exist. */
type Scenario = Readonly<Record<string, string | boolean>>;

const OPENERS = new Set(['{', '[', '(']);
const CLOSERS = new Set(['}', ']', ')']);

/** Offsets of a `var`'s expression (after `=`, to the end of the declaration). */
function varExpression(file: BicepFile, name: string): { start: number; end: number } {
  const at = new RegExp(`^var[ \\t]+${name}[ \\t]*=[ \\t]*`, 'm').exec(file.lexed.code);
  if (at === null) throw new Error(`${relative(repoRoot, file.path)}: no var ${name}`);
  const start = at.index + at[0].length;
  let end = start;
  let depth = 0;
  for (; end < file.lexed.masked.length; end++) {
    const c = file.lexed.masked[end] ?? '';
    if (OPENERS.has(c)) depth++;
    else if (CLOSERS.has(c)) depth--;
    else if (c === '\n' && depth === 0) break;
  }
  return { start, end };
}

/** `name`, `!name`, `name == 'x'` and `name != 'x'`, evaluated against the scenario. */
function evaluateCondition(condition: string, scenario: Scenario): boolean {
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
function settingEntries(file: BicepFile, from: number, to: number, scenario: Scenario): ObjectEntry[] {
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
function appSettingsFor(file: BicepFile, scenario: Scenario): Map<string, string> {
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
const KEY_VAULT_REFERENCE = /^'@Microsoft\.KeyVault\(SecretUri=\$\{keyVaultUri\}secrets\/\$\{(\w+)\}\)'$/;

function bicepFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) return bicepFilesUnder(full);
    return entry.name.endsWith('.bicep') ? [full] : [];
  });
}

/** All module files reachable from main.bicep (following nested module references). */
function moduleGraph(): Map<string, BicepFile> {
  const seen = new Map<string, BicepFile>();
  const visit = (path: string): void => {
    if (seen.has(path) || !existsSync(path)) return;
    const file = loadBicep(path);
    seen.set(path, file);
    for (const ref of modules(file)) if (ref.resolved !== undefined) visit(ref.resolved);
  };
  visit(mainBicepPath);
  return seen;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8')) as unknown;
}

/**
 * Parses the block-mapping subset of YAML that azure.yaml uses (nested maps and scalars).
 * Anything beyond that is rejected, so a test cannot pass on a misread file.
 */
function parseSimpleYaml(text: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  const stack: Array<{ indent: number; map: Record<string, unknown> }> = [{ indent: -1, map: root }];
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.replace(/(^|\s)#.*$/, '');
    if (line.trim() === '') continue;
    const match = /^( *)([A-Za-z0-9_.-]+):(?: +(.*))?$/.exec(line);
    if (match === null) throw new Error(`unsupported YAML line: ${rawLine}`);
    const indent = match[1]?.length ?? 0;
    const key = match[2] ?? '';
    const value = match[3]?.trim();
    while ((stack[stack.length - 1]?.indent ?? -1) >= indent) stack.pop();
    const parent = stack[stack.length - 1];
    if (parent === undefined) throw new Error(`bad indentation: ${rawLine}`);
    if (value === undefined || value === '') {
      const child: Record<string, unknown> = {};
      parent.map[key] = child;
      stack.push({ indent, map: child });
    } else {
      parent.map[key] = value.replace(/^(['"])(.*)\1$/, '$2');
    }
  }
  return root;
}

function detectBicep(): { command: string; args: string[] } | undefined {
  const bicep = spawnSync('bicep', ['--version'], { encoding: 'utf8' });
  if (bicep.status === 0) return { command: 'bicep', args: ['build', mainBicepPath, '--stdout'] };
  const az = spawnSync('az', ['bicep', 'version'], { encoding: 'utf8' });
  if (az.status === 0)
    return { command: 'az', args: ['bicep', 'build', '--file', mainBicepPath, '--stdout'] };
  return undefined;
}

// ---------------------------------------------------------------------------------------

describe('the Bicep lexer used by these tests', () => {
  it('blanks comments but not comment-like text inside strings', () => {
    const lexed = lexBicep("var a = 'x//y' // it's a comment\n/* b */ var c = 1");
    expect(lexed.code).toContain("'x//y'");
    expect(lexed.code).not.toContain("it's");
    expect(lexed.code).not.toContain('b */');
    expect(lexed.code.length).toBe(lexed.masked.length);
  });

  it('masks string contents, including interpolations, so braces inside do not count', () => {
    const lexed = lexBicep("var a = { k: '${b}}{' }");
    expect(matchingClose(lexed.masked, lexed.masked.indexOf('{'))).toBe(lexed.masked.length);
  });

  it('finds only the top-level keys of an object', () => {
    const lexed = lexBicep("x = {\n  a: 1\n  b: {\n    c: 2\n  }\n  'd-e': f(1)\n}");
    expect(objectKeys(lexed, lexed.masked.indexOf('{'))).toEqual(['a', 'b', 'd-e']);
  });
});

describe('azure.yaml', () => {
  const yaml = parseSimpleYaml(readFileSync(join(repoRoot, 'azure.yaml'), 'utf8'));

  it('declares exactly one service, api, hosted on Azure Functions from the repo root', () => {
    const services = yaml['services'];
    expect(isRecord(services)).toBe(true);
    if (!isRecord(services)) return;
    expect(Object.keys(services)).toEqual(['api']);
    expect(services['api']).toMatchObject({ project: '.', language: 'ts', host: 'function' });
  });

  it('points azd at the Bicep in infra/', () => {
    const infra = yaml['infra'];
    if (isRecord(infra)) {
      expect(infra['provider'] ?? 'bicep').toBe('bicep');
      expect(infra['path'] ?? 'infra').toBe('infra');
      expect(infra['module'] ?? 'main').toBe('main');
    }
    expect(existsSync(mainBicepPath)).toBe(true);
  });
});

describe('infra/main.bicep wiring', () => {
  const main = loadBicep(mainBicepPath);
  const graph = moduleGraph();

  it('targets the subscription and creates the resource group rg-${environmentName}', () => {
    expect(main.lexed.code).toMatch(/^targetScope\s*=\s*'subscription'/m);
    const groups = resources(main, /^Microsoft\.Resources\/resourceGroups@/);
    expect(groups).toHaveLength(1);
    expect(groups[0]?.body).toMatch(/name:\s*'\$\{abbrs\.resourcesResourceGroups\}\$\{environmentName\}'/);
    const abbrs = readJson(join(infraDir, 'abbreviations.json'));
    expect(isRecord(abbrs) && abbrs['resourcesResourceGroups']).toBe('rg-');
  });

  it('references only local modules, and every one of them exists', () => {
    const refs = [...graph.values()].flatMap((file) =>
      modules(file).map((ref) => ({ from: relative(repoRoot, file.path), ...ref })),
    );
    expect(refs.length).toBeGreaterThanOrEqual(7);
    for (const ref of refs) {
      // Registry modules (br:, br/public:) cannot be restored without network access.
      expect(ref.resolved, `${ref.from}: module ${ref.symbol} '${ref.path}'`).toBeDefined();
      expect(existsSync(ref.resolved ?? ''), `${ref.from}: ${ref.path} does not exist`).toBe(true);
    }
    expect(modules(main).map((ref) => ref.path)).toContain('./modules/rbac.bicep');
  });

  it('passes every required module parameter, and only declared ones', () => {
    for (const file of graph.values()) {
      for (const ref of modules(file)) {
        const target = ref.resolved === undefined ? undefined : graph.get(ref.resolved);
        if (target === undefined) continue;
        const declared = params(target);
        const where = `${relative(repoRoot, file.path)} → module ${ref.symbol}`;
        for (const key of ref.paramKeys) {
          expect(
            declared.map((p) => p.name),
            `${where} passes undeclared param ${key}`,
          ).toContain(key);
        }
        for (const param of declared.filter((p) => !p.hasDefault)) {
          expect(ref.paramKeys, `${where} misses required param ${param.name}`).toContain(param.name);
        }
      }
    }
  });

  it('only reads outputs that the referenced modules declare', () => {
    for (const file of graph.values()) {
      const bySymbol = new Map(modules(file).map((ref) => [ref.symbol, ref]));
      for (const match of file.lexed.code.matchAll(/\b(\w+)\.outputs\.(\w+)/g)) {
        const [, symbol = '', output = ''] = match;
        const ref = bySymbol.get(symbol);
        expect(ref, `${relative(repoRoot, file.path)}: ${symbol} is not a module`).toBeDefined();
        const target = ref?.resolved === undefined ? undefined : graph.get(ref.resolved);
        expect(target && outputs(target), `${symbol}.outputs.${output}`).toContain(output);
      }
    }
  });

  it('names resources from abbreviations.json keys that exist', () => {
    const abbrs = readJson(join(infraDir, 'abbreviations.json'));
    expect(isRecord(abbrs)).toBe(true);
    const used = [...main.lexed.code.matchAll(/\babbrs\.(\w+)/g)].map((m) => m[1] ?? '');
    expect(used.length).toBeGreaterThan(5);
    for (const key of used)
      expect(isRecord(abbrs) ? abbrs[key] : undefined, `abbrs.${key}`).toBeTypeOf('string');
    expect(main.lexed.code).toMatch(/uniqueString\(subscription\(\)\.id,\s*environmentName,\s*location\)/);
  });

  it('emits the UPPER_SNAKE outputs azd and the local runner use', () => {
    const declared = outputs(main);
    for (const name of REQUIRED_OUTPUTS) expect(declared).toContain(name);
    for (const name of declared) expect(name).toMatch(/^[A-Z][A-Z0-9_]*$/);
  });
});

describe('infra/main.parameters.json', () => {
  const main = loadBicep(mainBicepPath);
  const file = readJson(join(infraDir, 'main.parameters.json'));
  const supplied = isRecord(file) && isRecord(file['parameters']) ? file['parameters'] : {};

  it('supplies every main.bicep parameter that has no default', () => {
    const required = params(main).filter((p) => !p.hasDefault);
    expect(required.map((p) => p.name)).toEqual(
      expect.arrayContaining(['environmentName', 'location', 'graphTenantId', 'graphClientId']),
    );
    for (const param of required) expect(Object.keys(supplied), param.name).toContain(param.name);
  });

  it('supplies no parameter that main.bicep does not declare', () => {
    const declared = params(main).map((p) => p.name);
    for (const name of Object.keys(supplied)) expect(declared, name).toContain(name);
  });

  it('takes its values from the azd environment, never literal secrets', () => {
    expect(supplied['environmentName']).toEqual({ value: '${AZURE_ENV_NAME}' });
    expect(supplied['location']).toEqual({ value: '${AZURE_LOCATION}' });
    expect(supplied['principalId']).toEqual({ value: '${AZURE_PRINCIPAL_ID}' });
    for (const [name, entry] of Object.entries(supplied)) {
      const value = isRecord(entry) ? entry['value'] : undefined;
      expect(value, name).toMatch(/^\$\{[A-Z][A-Z0-9_]*(=[^}]*)?\}$/);
    }
  });
});

describe('Function App (Flex Consumption)', () => {
  const app = loadBicep(functionAppPath);
  const keys = new Set([...app.lexed.code.matchAll(/^[ \t]*([A-Za-z_]\w*)[ \t]*:/gm)].map((m) => m[1] ?? ''));

  it('sets every app setting the config module reads', () => {
    for (const name of REQUIRED_APP_SETTINGS) expect(keys.has(name), name).toBe(true);
    expect(app.lexed.code).toMatch(/name:\s*'appsettings'/);
  });

  it('sets no setting that Flex Consumption rejects or that carries a key', () => {
    for (const name of FORBIDDEN_APP_SETTINGS) expect(keys.has(name), name).toBe(false);
  });

  it('uses the managed identity for storage, Service Bus and Application Insights', () => {
    const code = app.lexed.code;
    expect(code).toMatch(/AzureWebJobsStorage__credential:\s*'managedidentity'/);
    expect(code).toMatch(/ServiceBusConnection__credential:\s*'managedidentity'/);
    expect(code).toMatch(
      /APPLICATIONINSIGHTS_AUTHENTICATION_STRING:\s*'ClientId=\$\{identityClientId\};Authorization=AAD'/,
    );
    expect(code).toMatch(/AZURE_CLIENT_ID:\s*identityClientId/);
    expect(code).toMatch(/PUBLIC_BASE_URL:\s*'https:\/\/\$\{functionApp\.properties\.defaultHostName\}'/);
  });

  it('references the Graph client secret in Key Vault only when asked to', () => {
    expect(app.lexed.code).toMatch(
      /graphClientSecretInKeyVault\s*\?\s*\{\s*GRAPH_CLIENT_SECRET:\s*'@Microsoft\.KeyVault\(SecretUri=\$\{keyVaultUri\}secrets\/\$\{graphClientSecretName\}\)'/,
    );
    expect(app.lexed.code).toMatch(/param graphClientSecretName string = 'graph-client-secret'/);
    expect(app.lexed.code).toMatch(/keyVaultReferenceIdentity:\s*identityId/);
  });

  it('runs Node 20 on an FC1 plan with deployment storage reached by the user-assigned identity', () => {
    const code = app.lexed.code;
    expect(code).toMatch(/name:\s*'FC1'/);
    expect(code).toMatch(/tier:\s*'FlexConsumption'/);
    expect(code).toMatch(/runtime:\s*\{\s*name:\s*'node'\s*version:\s*'20'\s*\}/);
    expect(code).toMatch(/type:\s*'UserAssignedIdentity'\s*userAssignedIdentityResourceId:\s*identityId/);
    expect(code).toMatch(/param instanceMemoryMB int = 2048/);
    expect(code).toMatch(/param maximumInstanceCount int = 100/);
    expect(code).toMatch(/kind:\s*'functionapp,linux'/);
    expect(code).toMatch(/type:\s*'UserAssigned'/);
  });

  it('is https only with TLS 1.2 and no FTP, and carries the azd service tag', () => {
    const code = app.lexed.code;
    expect(code).toMatch(/httpsOnly:\s*true/);
    expect(code).toMatch(/minTlsVersion:\s*'1\.2'/);
    expect(code).toMatch(/ftpsState:\s*'Disabled'/);
    expect(code).toMatch(/'azd-service-name':\s*'api'/);
  });

  it('gets the maintenance defaults and queue name the design calls for', () => {
    const main = loadBicep(mainBicepPath).lexed.code;
    expect(main).toMatch(/param maintenanceSchedule string = '0 \*\/5 \* \* \* \*'/);
    expect(main).toMatch(/param migrationBatchSize int = 50/);
    expect(main).toMatch(/param tableNamePrefix string = 'mailpush'/);
    expect(main).toMatch(/param maximumInstanceCount int = 100/);
    expect(main).toMatch(/var notificationQueueName = 'mail-notifications'/);
    expect(main).toMatch(
      /@allowed\(\['global', 'usgov', 'usgovdod', 'china'\]\)\s*(@description\([^\n]*\)\s*)?param graphCloud string = 'global'/,
    );
  });
});

describe('push provider (PUSH_PROVIDER)', () => {
  const main = loadBicep(mainBicepPath);
  const app = loadBicep(functionAppPath);
  const hubs = loadBicep(notificationHubsPath);
  const webhook = loadBicep(pushWebhookPath);
  const mainModules = new Map(modules(main).map((ref) => [ref.resolved ?? ref.path, ref]));
  const apiModule = mainModules.get(functionAppPath);
  const hubsModule = mainModules.get(notificationHubsPath);
  const webhookModule = mainModules.get(pushWebhookPath);
  const parametersFile = readJson(join(infraDir, 'main.parameters.json'));
  const supplied =
    isRecord(parametersFile) && isRecord(parametersFile['parameters']) ? parametersFile['parameters'] : {};
  const scenarios: Scenario[] = [
    { pushProvider: 'notification-hubs', graphClientSecretInKeyVault: true },
    { pushProvider: 'webhook', graphClientSecretInKeyVault: true },
  ];

  it('is a main.bicep parameter, notification-hubs or webhook (never local), taken from PUSH_PROVIDER', () => {
    expect(main.lexed.code).toMatch(/^param pushProvider string = 'notification-hubs'$/m);
    for (const file of [main, app]) {
      expect(paramDecorators(file, 'pushProvider'), relative(repoRoot, file.path)).toMatch(
        /^@allowed\(\['notification-hubs', 'webhook'\]\)$/m,
      );
    }
    expect(supplied['pushProvider']).toEqual({ value: '${PUSH_PROVIDER=notification-hubs}' });
    expect(apiModule?.paramValues.get('pushProvider')).toBe('pushProvider');
  });

  it('sets PUSH_PROVIDER in every case, from the parameter', () => {
    for (const scenario of scenarios) {
      expect(appSettingsFor(app, scenario).get('PUSH_PROVIDER'), JSON.stringify(scenario)).toBe(
        'pushProvider',
      );
    }
  });

  it("deploys only the chosen provider's resources, before the Function App", () => {
    expect(hubsModule?.condition).toBe("pushProvider == 'notification-hubs'");
    expect(webhookModule?.condition).toBe("pushProvider == 'webhook'");
    expect(apiModule?.condition).toBeUndefined();
    // Their Key Vault secrets must exist before the app's references are first resolved.
    expect(apiModule?.dependsOn).toEqual(expect.arrayContaining([hubsModule?.symbol, webhookModule?.symbol]));
    const settings = scenarios.map((scenario) => [...appSettingsFor(app, scenario).keys()]);
    expect(settings[0]).toEqual(
      expect.arrayContaining(['NOTIFICATION_HUB_NAME', 'NOTIFICATION_HUB_CONNECTION_STRING']),
    );
    expect(settings[0]).not.toEqual(expect.arrayContaining(['PUSH_WEBHOOK_URL']));
    expect(settings[0]).not.toEqual(expect.arrayContaining(['PUSH_WEBHOOK_SECRET']));
    expect(settings[1]).toEqual(expect.arrayContaining(['PUSH_WEBHOOK_URL', 'PUSH_WEBHOOK_SECRET']));
    expect(settings[1]).not.toEqual(expect.arrayContaining(['NOTIFICATION_HUB_NAME']));
    expect(settings[1]).not.toEqual(expect.arrayContaining(['NOTIFICATION_HUB_CONNECTION_STRING']));
  });

  it('creates a Notification Hubs namespace (Free by default, tier a parameter) with one hub', () => {
    const namespaces = resources(hubs, /^Microsoft\.NotificationHubs\/namespaces@/);
    expect(namespaces).toHaveLength(1);
    expect(namespaces[0]?.body).toMatch(/sku:\s*\{\s*name:\s*skuName\s*\}/);
    expect(namespaces[0]?.body).toMatch(/namespaceType:\s*'NotificationHub'/);
    expect(hubs.lexed.code).toMatch(/^param skuName string = 'Free'$/m);
    expect(paramDecorators(hubs, 'skuName')).toMatch(/@allowed\(\['Free', 'Basic', 'Standard'\]\)/);
    expect(main.lexed.code).toMatch(/^param notificationHubsSku string = 'Free'$/m);
    expect(paramDecorators(main, 'notificationHubsSku')).toMatch(
      /@allowed\(\['Free', 'Basic', 'Standard'\]\)/,
    );
    expect(hubsModule?.paramValues.get('skuName')).toBe('notificationHubsSku');
    expect(supplied['notificationHubsSku']).toEqual({ value: '${NOTIFICATION_HUBS_SKU=Free}' });
    const hubResources = resources(
      hubs,
      /^(notificationHubs|Microsoft\.NotificationHubs\/namespaces\/notificationHubs@.*)$/,
    );
    expect(hubResources).toHaveLength(1);
  });

  it('gives the app a hub policy with Listen (installations) and Send (pushes), and nothing else', () => {
    const rules = resources(
      hubs,
      /^Microsoft\.NotificationHubs\/namespaces\/notificationHubs\/authorizationRules@/,
    );
    expect(rules).toHaveLength(1);
    const body = rules[0]?.body ?? '';
    const rightsSource = /rights:\s*\[([^\]]*)\]/.exec(body)?.[1] ?? '';
    const rights = [...rightsSource.matchAll(/'(\w+)'/g)].map((m) => m[1]);
    expect(rights, 'the app registers installations (Listen) and sends (Send)').toEqual(
      expect.arrayContaining(['Listen', 'Send']),
    );
    expect(rights, 'least privilege: the app never manages the hub').not.toContain('Manage');
    // On the hub, not the namespace: the policy reaches this hub only.
    const hubSymbol = resources(
      hubs,
      /^(notificationHubs|Microsoft\.NotificationHubs\/namespaces\/notificationHubs@.*)$/,
    )[0]?.symbol;
    expect(body).toMatch(new RegExp(`parent:\\s*(\\w+::)?${hubSymbol ?? '?'}\\b`));
  });

  it('puts the hub connection string in Key Vault and hands the app only a Key Vault reference', () => {
    const connection =
      appSettingsFor(app, scenarios[0] ?? {}).get('NOTIFICATION_HUB_CONNECTION_STRING') ?? '';
    const referenced = KEY_VAULT_REFERENCE.exec(connection)?.[1];
    expect(
      referenced,
      `NOTIFICATION_HUB_CONNECTION_STRING is ${connection}, not a Key Vault reference`,
    ).toBeDefined();
    // The module writes the secret under the same name the app setting references.
    const name = apiModule?.paramValues.get(referenced ?? '');
    expect(name).toMatch(/^\w+$/);
    expect(hubsModule?.paramValues.get('connectionStringSecretName')).toBe(name);
    expect(hubsModule?.paramValues.get('keyVaultName')).toBe('keyVault.outputs.name');
    const secrets = resources(hubs, /^Microsoft\.KeyVault\/vaults\/secrets@/);
    expect(secrets).toHaveLength(1);
    expect(secrets[0]?.body).toMatch(/name:\s*connectionStringSecretName\b/);
    expect(secrets[0]?.body).toMatch(/value:\s*\w+\.listKeys\(\)\.primaryConnectionString/);
    // Nothing else carries it: no output, and the hub name is plain.
    for (const match of hubs.lexed.code.matchAll(/^output[^\n]*$/gm)) {
      expect(match[0]).not.toMatch(/listKeys|connectionString\.|primaryKey|secondaryKey/i);
    }
    expect(appSettingsFor(app, scenarios[0] ?? {}).get('NOTIFICATION_HUB_NAME')).toBe('notificationHubName');
    expect(apiModule?.paramValues.get('notificationHubName')).toBe(hubsModule?.paramValues.get('hubName'));
  });

  it('takes the webhook URL and a @secure() key, and hands the app a Key Vault reference for the key', () => {
    expect(paramDecorators(main, 'pushWebhookSecret')).toMatch(/^@secure\(\)$/m);
    expect(main.lexed.code).toMatch(/^param pushWebhookSecret string = ''$/m);
    expect(main.lexed.code).toMatch(/^param pushWebhookUrl string = ''$/m);
    expect(supplied['pushWebhookUrl']).toEqual({ value: '${PUSH_WEBHOOK_URL}' });
    expect(supplied['pushWebhookSecret']).toEqual({ value: '${PUSH_WEBHOOK_SECRET}' });
    expect(webhookModule?.paramValues.get('secret')).toBe('pushWebhookSecret');
    expect(paramDecorators(webhook, 'secret')).toMatch(/^@secure\(\)$/m);
    // The app refuses shorter keys; the deployment refuses them first.
    expect(paramDecorators(webhook, 'secret')).toMatch(
      new RegExp(`^@minLength\\(${MIN_WEBHOOK_SECRET_LENGTH}\\)$`, 'm'),
    );
    const settings = appSettingsFor(app, scenarios[1] ?? {});
    expect(apiModule?.paramValues.get('pushWebhookUrl')).toBe('pushWebhookUrl');
    expect(settings.get('PUSH_WEBHOOK_URL')).toBe('pushWebhookUrl');
    const secret = settings.get('PUSH_WEBHOOK_SECRET') ?? '';
    const referenced = KEY_VAULT_REFERENCE.exec(secret)?.[1];
    expect(referenced, `PUSH_WEBHOOK_SECRET is ${secret}, not a Key Vault reference`).toBeDefined();
    const name = apiModule?.paramValues.get(referenced ?? '');
    expect(webhookModule?.paramValues.get('secretName')).toBe(name);
    const secrets = resources(webhook, /^Microsoft\.KeyVault\/vaults\/secrets@/);
    expect(secrets).toHaveLength(1);
    expect(secrets[0]?.body).toMatch(/name:\s*secretName\b/);
    expect(secrets[0]?.body).toMatch(/value:\s*secret\b/);
    expect(webhook.lexed.code).not.toMatch(/^output[^\n]*\bsecret\b(?!Name)/m);
  });

  it('passes a @secure() value only to @secure() module parameters', () => {
    for (const file of moduleGraph().values()) {
      const secure = new Set(secureParams(file));
      for (const ref of modules(file)) {
        const target = ref.resolved === undefined ? undefined : loadBicep(ref.resolved);
        if (target === undefined) continue;
        for (const [key, value] of ref.paramValues) {
          if (!secure.has(value)) continue;
          expect(secureParams(target), `${relative(repoRoot, file.path)} → ${ref.symbol}.${key}`).toContain(
            key,
          );
        }
      }
    }
  });
});

describe('app settings against the settings catalogue (shared/config)', () => {
  const main = loadBicep(mainBicepPath);
  const app = loadBicep(functionAppPath);
  const catalogue = new Map(SETTINGS.map((spec) => [spec.name, spec]));
  const apiModule = modules(main).find((ref) => ref.resolved === functionAppPath);

  /** Read by the Functions host or the Azure SDKs, not by shared/config. */
  const HOST_SETTINGS = new Set([
    'AzureWebJobsStorage__accountName',
    'AzureWebJobsStorage__credential',
    'AzureWebJobsStorage__clientId',
    'APPLICATIONINSIGHTS_CONNECTION_STRING',
    'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
    'ServiceBusConnection__credential',
    'ServiceBusConnection__clientId',
  ]);
  /** Written by Bicep ahead of the code that reads them. */
  const NOT_READ_YET: Readonly<Record<string, string>> = {
    MIGRATION_BATCH_SIZE: 'EWS-to-Graph migration batch size (DESIGN.md); the migration does not exist yet',
  };
  /** Catalogue settings without a default that Bicep leaves unset, and why that is right in Azure. */
  const LEFT_UNSET_IN_AZURE: Readonly<Record<string, string>> = {
    TABLES_CONNECTION_STRING: 'local alternative to TABLES_ENDPOINT (Azure: managed identity)',
    ServiceBusConnection: 'local alternative to ServiceBusConnection__fullyQualifiedNamespace',
    GRAPH_CLIENT_CERTIFICATE_PATH:
      'alternative to GRAPH_CLIENT_SECRET (a file path; not for Flex Consumption)',
    GRAPH_CLIENT_CERTIFICATE_BASE64:
      'alternative to GRAPH_CLIENT_SECRET, set by hand as a Key Vault reference',
    GRAPH_CLIENT_CERTIFICATE_PASSWORD: 'only with a certificate',
    GRAPH_AUTHORITY_HOST: 'override for the local simulator; GRAPH_CLOUD picks it in Azure',
    GRAPH_ENDPOINT: 'override for the local simulator; GRAPH_CLOUD picks it in Azure',
    DEVICE_API_TENANT_ID: 'defaults to GRAPH_TENANT_ID (a GUID by the graphTenantId parameter)',
    RICH_NOTIFICATION_PRIVATE_KEY: 'optional: rich notifications',
    RICH_NOTIFICATION_CERTIFICATE_ID: 'optional: rich notifications',
    RICH_NOTIFICATION_JWKS_URI: 'optional: rich notifications (default from the authority host)',
  };
  /**
   * What App Service hands the app for each setting Bicep writes whose value is not a parameter
   * of the scenario: resolved Key Vault references, resource names and endpoints.
   */
  const AZURE_VALUES: Readonly<Record<string, string>> = {
    AzureWebJobsStorage__accountName: 'stabc123',
    AzureWebJobsStorage__credential: 'managedidentity',
    AzureWebJobsStorage__clientId: '0f3c1c2e-5a8b-4f7e-9a51-6f1f2d3c4b5a',
    APPLICATIONINSIGHTS_CONNECTION_STRING:
      'IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/',
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING:
      'ClientId=0f3c1c2e-5a8b-4f7e-9a51-6f1f2d3c4b5a;Authorization=AAD',
    AZURE_CLIENT_ID: '0f3c1c2e-5a8b-4f7e-9a51-6f1f2d3c4b5a',
    TABLES_ENDPOINT: 'https://stabc123.table.core.windows.net',
    TABLE_NAME_PREFIX: 'mailpush',
    ServiceBusConnection__fullyQualifiedNamespace: 'sb-abc123.servicebus.windows.net',
    ServiceBusConnection__credential: 'managedidentity',
    ServiceBusConnection__clientId: '0f3c1c2e-5a8b-4f7e-9a51-6f1f2d3c4b5a',
    NOTIFICATION_QUEUE_NAME: 'mail-notifications',
    NOTIFICATION_MAX_DELIVERY_COUNT: '10',
    GRAPH_TENANT_ID: '84bd8158-6d4d-4958-8b9f-9d6445542f95',
    GRAPH_CLIENT_ID: '6731de76-14a6-49ae-97bc-6eba6914391e',
    GRAPH_CLIENT_SECRET: 'Zk8Q~resolved-key-vault-reference-1234567890',
    DEVICE_API_AUDIENCE: 'api://mailpush-devices',
    PUBLIC_BASE_URL: 'https://func-api-abc123.azurewebsites.net',
    MIGRATION_BATCH_SIZE: '50',
    MAINTENANCE_SCHEDULE: '0 */5 * * * *',
    NOTIFICATION_HUB_NAME: 'ntf-abc123',
    NOTIFICATION_HUB_CONNECTION_STRING: `Endpoint=sb://ntfns-abc123.servicebus.windows.net/;SharedAccessKeyName=mail-push-backend;SharedAccessKey=${'k'.repeat(44)}`,
    PUSH_WEBHOOK_URL: 'https://push-gateway.contoso.example/mailpush',
    PUSH_WEBHOOK_SECRET: 's'.repeat(MIN_WEBHOOK_SECRET_LENGTH),
  };
  /** Set by the platform on every Azure instance (it is what makes the app refuse `local`). */
  const PLATFORM = {
    WEBSITE_INSTANCE_ID: 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00',
  };

  const base = { graphClientSecretInKeyVault: true, graphCloud: 'global' };
  const scenarios: Scenario[] = [
    { ...base, pushProvider: 'notification-hubs' },
    { ...base, pushProvider: 'webhook' },
  ];
  const allScenarios: Scenario[] = [
    ...scenarios,
    ...scenarios.map((s) => ({ ...s, graphClientSecretInKeyVault: false })),
    ...NATIONAL_CLOUD_NAMES.map((graphCloud) => ({ ...base, pushProvider: 'notification-hubs', graphCloud })),
  ];

  /** The value the app sees: a scenario parameter, a literal, a table lookup, or AZURE_VALUES. */
  function valueOf(name: string, source: string, scenario: Scenario): string | undefined {
    const parameter = scenario[source];
    if (parameter !== undefined) return String(parameter);
    const literal = /^'([^'$\n]*)'$/.exec(source);
    if (literal !== null) return literal[1];
    const lookup = /^(\w+)\[(\w+)\]$/.exec(source);
    const key = lookup === null ? undefined : scenario[lookup[2] ?? ''];
    if (lookup !== null && typeof key === 'string') {
      const table = varExpression(app, lookup[1] ?? '');
      const entry = objectEntries(app.lexed, table.start).find((e) => e.key === key);
      return entry === undefined ? undefined : valueOf(name, entry.value, scenario);
    }
    return AZURE_VALUES[name];
  }

  function azureEnv(scenario: Scenario): Record<string, string> {
    const env: Record<string, string> = { ...PLATFORM };
    for (const [name, source] of appSettingsFor(app, scenario)) {
      const value = valueOf(name, source, scenario);
      expect(value, `${name} (${source}): add what Azure hands the app to AZURE_VALUES`).toBeDefined();
      env[name] = value ?? '';
    }
    return env;
  }

  function startUpProblems(env: Record<string, string>): string[] {
    try {
      loadSettings(env);
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return [...error.problems];
      throw error;
    }
  }

  it('starts: loadSettings accepts exactly the settings Bicep writes, for each push provider', () => {
    for (const scenario of scenarios) {
      expect(startUpProblems(azureEnv(scenario)), JSON.stringify(scenario)).toEqual([]);
    }
  });

  it('misses only the Graph credential until the operator has stored it in Key Vault', () => {
    // Documented two-step deployment (infra/README.md): the first `azd up` cannot start the app.
    for (const scenario of scenarios) {
      const problems = startUpProblems(azureEnv({ ...scenario, graphClientSecretInKeyVault: false }));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(
        /^GRAPH_CLIENT_SECRET, GRAPH_CLIENT_CERTIFICATE_PATH or GRAPH_CLIENT_CERTIFICATE_BASE64/,
      );
    }
  });

  it('sets every catalogue setting that has no default, unless it is listed as not needed in Azure', () => {
    const written = new Set(allScenarios.flatMap((scenario) => [...appSettingsFor(app, scenario).keys()]));
    for (const spec of SETTINGS) {
      if (spec.default !== undefined || written.has(spec.name)) continue;
      expect(
        LEFT_UNSET_IN_AZURE[spec.name],
        `${spec.name} has no default and Bicep (infra/modules/function-app.bicep) does not set it: set it, or list it in LEFT_UNSET_IN_AZURE with the reason`,
      ).toBeDefined();
    }
    for (const name of Object.keys(LEFT_UNSET_IN_AZURE)) {
      expect(catalogue.has(name), `${name} is not in SETTINGS any more`).toBe(true);
      expect(written.has(name), `${name} is set by Bicep now: remove it from LEFT_UNSET_IN_AZURE`).toBe(
        false,
      );
    }
  });

  it('writes only settings that something reads (no misspelt names)', () => {
    for (const scenario of allScenarios) {
      for (const name of appSettingsFor(app, scenario).keys()) {
        const known = catalogue.has(name) || HOST_SETTINGS.has(name) || NOT_READ_YET[name] !== undefined;
        expect(known, `${name} is neither in SETTINGS (shared/config) nor a host setting`).toBe(true);
      }
    }
    for (const name of Object.keys(NOT_READ_YET))
      expect(catalogue.has(name), `${name} is read now`).toBe(false);
  });

  it("points the device API at the Graph tenant's cloud", () => {
    for (const cloud of NATIONAL_CLOUD_NAMES) {
      const env = azureEnv({ ...base, pushProvider: 'notification-hubs', graphCloud: cloud });
      expect(env['GRAPH_CLOUD']).toBe(cloud);
      expect(env['DEVICE_API_AUTHORITY_HOST'], cloud).toBe(NATIONAL_CLOUDS[cloud].authorityHost);
    }
  });

  it("tells the app the queue's MaxDeliveryCount from the queue itself", () => {
    expect(appSettingsFor(app, scenarios[0] ?? {}).get('NOTIFICATION_MAX_DELIVERY_COUNT')).toBe(
      'string(notificationMaxDeliveryCount)',
    );
    expect(apiModule?.paramValues.get('notificationMaxDeliveryCount')).toBe(
      'serviceBus.outputs.maxDeliveryCount',
    );
    expect(loadBicep(join(infraDir, 'modules', 'servicebus.bicep')).lexed.code).toMatch(
      /^output maxDeliveryCount int = serviceBusNamespace::queue\.properties\.maxDeliveryCount$/m,
    );
  });
});

describe('storage, Service Bus, monitoring and Key Vault modules', () => {
  const read = (name: string): string => loadBicep(join(infraDir, 'modules', name)).lexed.code;

  it('storage is StorageV2 with shared keys and public blob access disabled, https and TLS 1.2 only', () => {
    const code = read('storage.bicep');
    expect(code).toMatch(/kind:\s*'StorageV2'/);
    expect(code).toMatch(/allowSharedKeyAccess:\s*false/);
    expect(code).toMatch(/allowBlobPublicAccess:\s*false/);
    expect(code).toMatch(/minimumTlsVersion:\s*'TLS1_2'/);
    expect(code).toMatch(/supportsHttpsTrafficOnly:\s*true/);
    expect(code).toMatch(/resource deploymentContainer 'containers'/);
  });

  it("the notification queue deduplicates over Graph's 4-hour retry window", () => {
    const file = loadBicep(join(infraDir, 'modules', 'servicebus.bicep'));
    const code = file.lexed.code;
    expect(code).toMatch(/name:\s*'Standard'/);
    expect(code).toMatch(/disableLocalAuth:\s*true/);
    expect(code).toMatch(/minimumTlsVersion:\s*'1\.2'/);
    const queue = resources(file, /^(queues|Microsoft\.ServiceBus\/namespaces\/queues@.*)$/);
    expect(queue).toHaveLength(1);
    const body = queue[0]?.body ?? '';
    expect(body).toMatch(/requiresDuplicateDetection:\s*true/);
    expect(body).toMatch(/duplicateDetectionHistoryTimeWindow:\s*'PT4H'/);
    expect(body).toMatch(/maxDeliveryCount:\s*10\b/);
    expect(body).toMatch(/lockDuration:\s*'PT1M'/);
    expect(body).toMatch(/deadLetteringOnMessageExpiration:\s*true/);
    expect(body).toMatch(/defaultMessageTimeToLive:\s*'P1D'/);
  });

  it('Application Insights is workspace-based with local auth disabled', () => {
    const code = read('monitoring.bicep');
    expect(code).toMatch(/WorkspaceResourceId:\s*logAnalytics\.id/);
    expect(code).toMatch(/DisableLocalAuth:\s*true/);
  });

  it('Key Vault uses RBAC, soft delete and purge protection', () => {
    const code = read('keyvault.bicep');
    expect(code).toMatch(/enableRbacAuthorization:\s*true/);
    expect(code).toMatch(/enableSoftDelete:\s*true/);
    expect(code).toMatch(/enablePurgeProtection:\s*true/);
  });
});

describe('infra/modules/rbac.bicep', () => {
  const rbac = loadBicep(rbacPath);
  const guidPattern = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

  const roleVar = /^var roles = \{/m.exec(rbac.lexed.code);
  const roleKeys = new Map<string, string>();
  if (roleVar !== null) {
    const open = roleVar.index + roleVar[0].length - 1;
    const block = rbac.lexed.code.slice(open, matchingClose(rbac.lexed.masked, open));
    for (const m of block.matchAll(/^\s*(\w+):\s*'([0-9a-f-]{36})'/gm)) roleKeys.set(m[1] ?? '', m[2] ?? '');
  }
  const assignments = resources(rbac, /^Microsoft\.Authorization\/roleAssignments@/);

  const roleOf = (body: string): string | undefined => {
    const key =
      /roleDefinitionId:\s*subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions',\s*roles\.(\w+)\)/.exec(
        body,
      )?.[1];
    const guid = key === undefined ? undefined : roleKeys.get(key);
    return guid === undefined ? undefined : KNOWN_ROLES[guid];
  };
  const principalOf = (body: string): string | undefined => /principalId:\s*(\w+)/.exec(body)?.[1];

  it('uses only known role GUIDs, each defined with a comment naming the role', () => {
    const guids = new Set([...rbac.src.matchAll(guidPattern)].map((m) => m[0].toLowerCase()));
    expect(guids.size).toBeGreaterThanOrEqual(7);
    for (const guid of guids) {
      const name = KNOWN_ROLES[guid];
      expect(name, `unknown role id ${guid}`).toBeDefined();
      // Where the GUID is used in code, the same line's comment names the role.
      const codeLines = rbac.src.split('\n').filter((line) => line.split('//')[0]?.includes(`'${guid}'`));
      expect(codeLines.length, guid).toBeGreaterThan(0);
      for (const line of codeLines) expect(line.slice(line.indexOf('//')), guid).toContain(`// ${name}`);
    }
  });

  it('every role assignment has a deterministic name, a known role and a comment naming it', () => {
    expect(assignments.length).toBeGreaterThanOrEqual(APP_IDENTITY_ROLES.length);
    for (const assignment of assignments) {
      const role = roleOf(assignment.body);
      expect(role, assignment.symbol).toBeDefined();
      expect(assignment.leadingComment, assignment.symbol).toContain(role ?? '?');
      expect(assignment.body, assignment.symbol).toMatch(/name:\s*guid\(/);
    }
  });

  it('gives the app identity exactly the roles it needs', () => {
    const appRoles = assignments
      .filter((a) => principalOf(a.body) === 'identityPrincipalId')
      .map((a) => roleOf(a.body));
    expect(appRoles.sort()).toEqual([...APP_IDENTITY_ROLES].sort());
    for (const a of assignments.filter((x) => principalOf(x.body) === 'identityPrincipalId')) {
      expect(a.conditional, a.symbol).toBe(false);
      expect(a.body).toMatch(/principalType:\s*'ServicePrincipal'/);
    }
  });

  it('gives the deploying principal the local-debugging roles, only when principalId is set', () => {
    const dev = assignments.filter((a) => principalOf(a.body) === 'principalId');
    expect(dev.map((a) => roleOf(a.body))).toEqual(expect.arrayContaining(DEVELOPER_ROLES));
    for (const a of dev) expect(a.conditional, a.symbol).toBe(true);
  });

  it('is the only file with role assignments', () => {
    for (const path of bicepFilesUnder(infraDir)) {
      if (path === rbacPath) continue;
      expect(loadBicep(path).lexed.code, relative(repoRoot, path)).not.toContain(
        'Microsoft.Authorization/roleAssignments',
      );
    }
  });
});

describe('no keys or secrets in the templates', () => {
  const files = bicepFilesUnder(infraDir).map(loadBicep);

  it('never reads keys or connection strings from resources, except the hub policy into Key Vault', () => {
    const forbidden = [
      /\blist\w*Keys?\(/i,
      /\blistConnectionStrings\(/i,
      /\blistSecrets\(/i,
      /\blist(Account|Service)Sas\(/i,
      /\blistCredentials?\(/i,
      /AccountKey=/i,
      /SharedAccessKey/i,
      /InstrumentationKey=/i,
      /Endpoint=sb:\/\//i,
    ];
    // The one exception: @azure/notification-hubs only takes a SAS connection string, so
    // notification-hubs.bicep reads its hub policy's keys, and only as the value of a Key Vault
    // secret (never an output, parameter or app setting).
    const exception = /^\s*value:\s*(\w+)\.listKeys\(\)\.primaryConnectionString\s*$/m;
    for (const file of files) {
      let code = file.lexed.code;
      if (file.path === notificationHubsPath) {
        const secrets = resources(file, /^Microsoft\.KeyVault\/vaults\/secrets@/);
        const allowed = secrets.filter((secret) => exception.test(secret.body));
        expect(allowed).toHaveLength(1);
        const rule = exception.exec(allowed[0]?.body ?? '')?.[1];
        const rules = resources(
          file,
          /^Microsoft\.NotificationHubs\/namespaces\/notificationHubs\/authorizationRules@/,
        );
        expect(rules.map((r) => r.symbol)).toContain(rule);
        code = code.replace(new RegExp(`\\b${rule ?? '?'}\\.listKeys\\(\\)\\.primaryConnectionString`), '');
      }
      for (const pattern of forbidden) {
        expect(code, `${relative(repoRoot, file.path)} matches ${String(pattern)}`).not.toMatch(pattern);
      }
    }
  });

  it('never turns local (key) auth back on', () => {
    for (const file of files) {
      const code = file.lexed.code;
      expect(code).not.toMatch(/allowSharedKeyAccess:\s*true/);
      expect(code).not.toMatch(/disableLocalAuth:\s*false/i);
    }
  });

  it('gives no secure parameter a literal default', () => {
    for (const file of files) {
      expect(file.lexed.code).not.toMatch(/@secure\(\)\s*(@\w+\([^)]*\)\s*)*param\s+\w+\s+\w+\s*=\s*'[^']+'/);
    }
  });
});

describe('Bicep compiler', () => {
  const bicep = detectBicep();
  const reason = bicep === undefined ? ' (skipped: neither `bicep` nor `az bicep` is on PATH)' : '';

  it.skipIf(bicep === undefined)(`bicep build infra/main.bicep succeeds${reason}`, () => {
    if (bicep === undefined) return;
    const result = spawnSync(bicep.command, bicep.args, {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/\bError BCP\d+/);
  });
});
