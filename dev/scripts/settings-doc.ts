/**
 * Renders docs/settings.md from the settings catalogue (`SETTINGS` in shared/config/settings.ts,
 * which includes the Graph, devices, push and delivery specs). `npm run docs:settings` writes the
 * page; test/unit/docs/settings-doc.test.ts fails when the committed page differs from this
 * rendering, so the page cannot drift from the code.
 *
 * Whether a setting is required is not part of the catalogue: it is found by asking
 * `loadSettings` itself, so the page says what start-up actually enforces.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { NATIONAL_CLOUDS } from '../../shared/auth/clouds.js';
import { SETTINGS, loadSettings, type Env } from '../../shared/config/settings.js';
import { ConfigError } from '../../shared/errors.js';

/** Where the page lives, relative to the repository root. */
export const SETTINGS_DOC_PATH = 'docs/settings.md';

/**
 * A small configuration that starts (local connection strings, a client secret). Each setting is
 * removed from it in turn: if start-up then names it, it is required. A setting added later that
 * this configuration lacks shows up as a problem of the configuration itself, and so as required
 * too, without editing this file.
 */
const PROBE_ENV: Env = {
  TABLES_CONNECTION_STRING:
    'AccountName=devstoreaccount1;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1',
  ServiceBusConnection:
    'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=probe;SharedAccessKey=probe;UseDevelopmentEmulator=true',
  GRAPH_TENANT_ID: '00000000-0000-4000-8000-000000000001',
  GRAPH_CLIENT_ID: '00000000-0000-4000-8000-000000000002',
  GRAPH_CLIENT_SECRET: 'probe-secret',
  PUBLIC_BASE_URL: 'https://mailpush.example.com',
  DEVICE_API_AUDIENCE: 'api://mailpush',
};

function problemsOf(env: Env): string[] {
  try {
    loadSettings(env);
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
}

/** The settings a problem names: `A: …`, `A or B: …`, `A, B or C: …`. */
function namesIn(problem: string, known: ReadonlySet<string>): string[] {
  const head = problem.split(':')[0] ?? '';
  return head
    .split(/,\s*|\s+or\s+|\s+and\s+/)
    .map((name) => name.trim())
    .filter((name) => known.has(name));
}

/** name → `yes` or `one of …`, for every setting start-up refuses to run without. */
export function requiredSettings(): Map<string, string> {
  const known = new Set(SETTINGS.map((spec) => spec.name));
  const required = new Map<string, string>();
  const mark = (names: string[]) => {
    if (names.length === 1) required.set(names[0]!, 'yes');
    else if (names.length > 1) {
      const text = `one of ${names.map((n) => `\`${n}\``).join(', ')}`;
      for (const name of names) if (required.get(name) !== 'yes') required.set(name, text);
    }
  };
  const baseline = problemsOf(PROBE_ENV);
  for (const problem of baseline) mark(namesIn(problem, known));
  for (const name of Object.keys(PROBE_ENV)) {
    const env: Record<string, string | undefined> = { ...PROBE_ENV };
    delete env[name];
    for (const problem of problemsOf(env)) {
      if (baseline.includes(problem)) continue;
      const names = namesIn(problem, known);
      if (names.includes(name)) mark(names);
    }
  }
  return required;
}

/** Table cells may not hold a raw `|` or a line break. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/** The page as markdown, before formatting. */
export function renderSettingsMarkdown(): string {
  const required = requiredSettings();
  const rows = SETTINGS.map(
    (spec) =>
      `| \`${spec.name}\` | ${spec.default !== undefined ? `\`${cell(spec.default)}\`` : '–'} | ${
        required.get(spec.name) ?? ''
      } | ${spec.secret ? 'secret' : ''} | ${cell(spec.description)} |`,
  );
  const clouds = Object.entries(NATIONAL_CLOUDS).map(
    ([name, endpoints]) => `| \`${name}\` | ${endpoints.authorityHost} | ${endpoints.graphEndpoint} |`,
  );
  return [
    '<!-- Generated from the settings catalogue by `npm run docs:settings`; do not edit by hand. -->',
    '',
    '# Settings',
    '',
    'Every setting the function app reads. They are read and validated once at start-up; a missing or',
    'bad setting stops start-up with one message listing every problem, naming each setting and what',
    'is expected. Secret values are never printed: the start-up echo of `npm start` shows',
    '`(set, hidden)`. Names match the app settings written by Bicep (`infra/`) and',
    '`local.settings.example.json`.',
    '',
    'This page is generated from `SETTINGS` in `shared/config/settings.ts` (which includes the',
    'Graph, devices, push and delivery settings). After changing the catalogue, run',
    '`npm run docs:settings`; a unit test fails while this page differs from the catalogue.',
    '',
    '**required**: `yes` when start-up refuses to run without it; `one of …` when exactly one of a',
    'group must be set; empty when optional (a description may name the case in which it is needed).',
    '**secret**: the value is never logged or echoed.',
    '',
    '| setting | default | required | secret | meaning |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
    '## National clouds (`GRAPH_CLOUD`)',
    '',
    'The token scope follows the Graph endpoint (`<graph>/.default`). `GRAPH_AUTHORITY_HOST` and',
    '`GRAPH_ENDPOINT` override either URL (https only); `npm start` points both at the simulated tenant.',
    '',
    '| `GRAPH_CLOUD` | authority host | Graph endpoint |',
    '| --- | --- | --- |',
    ...clouds,
    '',
    '## Local runner only',
    '',
    'Read by `npm start` (dev/local), not by the function app: `PORT` (default 7071) and',
    '`LOCAL_FUNCTION_KEY` (default `local-dev-function-key`). With no Table Storage or Service Bus',
    'setting, `npm start` starts Azurite and the AMQP stand-in and fills them in; without',
    '`GRAPH_TENANT_ID` it starts the simulated Graph tenant and points the `GRAPH_*` settings at it;',
    'without `DEVICE_API_AUDIENCE` (and with the simulated tenant) it starts a local Entra ID token',
    'issuer and points the `DEVICE_API_*` settings at it. `PUBLIC_BASE_URL` defaults to its own URL.',
    '',
  ].join('\n');
}

/** The page exactly as committed: the markdown formatted with the repository's Prettier config. */
export async function renderSettingsDoc(root: string = process.cwd()): Promise<string> {
  const file = resolve(root, SETTINGS_DOC_PATH);
  const options = (await resolveConfig(file)) ?? {};
  return format(renderSettingsMarkdown(), { ...options, filepath: file });
}

async function main(): Promise<void> {
  const file = resolve(process.cwd(), SETTINGS_DOC_PATH);
  writeFileSync(file, await renderSettingsDoc());
  console.log(`wrote ${SETTINGS_DOC_PATH} (${SETTINGS.length} settings)`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
