// Reading infra/*.bicep as text: parameters, outputs, modules, resources and decorators, on top
// of the lexer. Paths are resolved from the repository root.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lexBicep, matchingClose, objectEntries, type LexedBicep } from './lexer.js';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const infraDir = join(repoRoot, 'infra');
export const mainBicepPath = join(infraDir, 'main.bicep');
/** Absolute path of `infra/modules/<name>.bicep`. */
export function modulePath(name: string): string {
  return join(infraDir, 'modules', `${name}.bicep`);
}

export interface BicepFile {
  path: string;
  src: string;
  lexed: LexedBicep;
}

export function loadBicep(path: string): BicepFile {
  const src = readFileSync(path, 'utf8');
  return { path, src, lexed: lexBicep(src) };
}

export interface ParamDecl {
  name: string;
  hasDefault: boolean;
}

export function params(file: BicepFile): ParamDecl[] {
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

export function outputs(file: BicepFile): string[] {
  return [...file.lexed.masked.matchAll(/^output[ \t]+(\w+)[ \t]/gm)].flatMap((m) => (m[1] ? [m[1]] : []));
}

export interface ModuleRef {
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

export function modules(file: BicepFile): ModuleRef[] {
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
export function paramDecorators(file: BicepFile, name: string): string {
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
export function secureParams(file: BicepFile): string[] {
  return params(file)
    .map((p) => p.name)
    .filter((name) => /@secure\(\)/.test(paramDecorators(file, name)));
}

export interface ResourceBlock {
  symbol: string;
  type: string;
  conditional: boolean;
  /** Comment-free source of the resource body. */
  body: string;
  /** The comment lines immediately above the declaration. */
  leadingComment: string;
}

/** Resource declarations (top-level or nested) whose type matches `type`. */
export function resources(file: BicepFile, type: RegExp): ResourceBlock[] {
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

export function bicepFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) return bicepFilesUnder(full);
    return entry.name.endsWith('.bicep') ? [full] : [];
  });
}

/** All module files reachable from main.bicep (following nested module references). */
export function moduleGraph(): Map<string, BicepFile> {
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

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8')) as unknown;
}

/**
 * Parses the block-mapping subset of YAML that azure.yaml uses (nested maps and scalars).
 * Anything beyond that is rejected, so a test cannot pass on a misread file.
 */
export function parseSimpleYaml(text: string): Record<string, unknown> {
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
