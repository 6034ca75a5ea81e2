/**
 * The command line: which command, its arguments and options (node:util parseArgs, strict), and
 * the usage text listing every command. A mistake here is a UsageError (exit 2).
 */
import { parseArgs } from 'node:util';
import { UsageError } from './errors.js';

export const USAGE = `Usage: npm run admin -- <command> [options]

Mailboxes
  enrol <email> [--transport graph|ews] [--privacy full|subject|minimal]
  import <file> [--chunk-size 50000] [--poll-interval 2000]
                                       CSV with a header (email[,transport][,privacy]) or JSON lines;
                                       chunks the server queues as import jobs are followed until written
  list [--state s] [--transport t] [--prefix p] [--all] [--page-size 100]
  show <email>
  remove <email>
  export-migrated [--since ISO] [--out file]   CSV of the mailboxes moved to Graph

Migration (EWS → Graph)
  migration                            progress and ETA
  migration on | off                   the "Use Microsoft Graph" switch
  migration retry-failed [--include-on-premises]

Health
  status                               verdict, reasons, credential, counts
  test <email> [--send-mail]           connectivity test, step by step

Options for every command
  --url <base>     the instance (env MAILPUSH_URL; default http://127.0.0.1:7071)
  --token <jwt>    a bearer token (env MAILPUSH_TOKEN); else the local runner's sign-in for a
                   localhost URL, else Azure sign-in (az login, then device code) for --app
  --app <id|uri>   the API's client id or App ID URI (env MAILPUSH_API), for Azure sign-in
  --tenant <id>    the Entra tenant to sign in to (env AZURE_TENANT_ID)
  --json           print the API's JSON instead of tables (list, show, status, migration, test)
  -h, --help       this text

Exit codes: 0 ok, 1 the API or the service refused, 2 usage error.
`;

const OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  app: { type: 'string' },
  tenant: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  transport: { type: 'string' },
  privacy: { type: 'string' },
  state: { type: 'string' },
  prefix: { type: 'string' },
  all: { type: 'boolean' },
  'page-size': { type: 'string' },
  'chunk-size': { type: 'string' },
  'poll-interval': { type: 'string' },
  'include-on-premises': { type: 'boolean' },
  since: { type: 'string' },
  out: { type: 'string' },
  'send-mail': { type: 'boolean' },
} as const;

type OptionName = keyof typeof OPTIONS;
const GLOBAL: readonly OptionName[] = ['url', 'token', 'app', 'tenant', 'json', 'help'];

/** Each command: its own options and how many arguments it takes [min, max]. */
export const COMMANDS = {
  enrol: { options: ['transport', 'privacy'], args: [1, 1] },
  import: { options: ['chunk-size', 'poll-interval'], args: [1, 1] },
  list: { options: ['state', 'transport', 'prefix', 'all', 'page-size'], args: [0, 0] },
  show: { options: [], args: [1, 1] },
  remove: { options: [], args: [1, 1] },
  migration: { options: ['include-on-premises'], args: [0, 1] },
  'export-migrated': { options: ['since', 'out'], args: [0, 0] },
  status: { options: [], args: [0, 0] },
  test: { options: ['send-mail'], args: [1, 1] },
} as const satisfies Record<string, { options: readonly OptionName[]; args: readonly [number, number] }>;

export type CommandName = keyof typeof COMMANDS;

export interface ParsedArgs {
  command: CommandName | undefined;
  args: string[];
  options: {
    url?: string;
    token?: string;
    app?: string;
    tenant?: string;
    json?: boolean;
    help?: boolean;
    transport?: string;
    privacy?: string;
    state?: string;
    prefix?: string;
    all?: boolean;
    'page-size'?: string;
    'chunk-size'?: string;
    'poll-interval'?: string;
    'include-on-premises'?: boolean;
    since?: string;
    out?: string;
    'send-mail'?: boolean;
  };
}

export function parseCommandLine(argv: readonly string[]): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const [name, ...args] = parsed.positionals;
  const options: ParsedArgs['options'] = parsed.values;
  if (name === undefined) {
    if (options.help) return { command: undefined, args: [], options };
    throw new UsageError('which command? (see the list below)');
  }
  if (name === 'help') return { command: undefined, args: [], options: { ...options, help: true } };
  if (!Object.hasOwn(COMMANDS, name)) throw new UsageError(`unknown command "${name}"`);
  const command = name as CommandName;
  const spec = COMMANDS[command];
  if (!options.help) {
    const allowed: readonly OptionName[] = [...GLOBAL, ...spec.options];
    const stray = (Object.keys(options) as OptionName[]).find((o) => !allowed.includes(o));
    if (stray) throw new UsageError(`${command} does not take --${stray}`);
    const [min, max] = spec.args;
    if (args.length < min)
      throw new UsageError(`${command} needs ${min === 1 ? 'an argument' : `${min} arguments`}`);
    if (args.length > max)
      throw new UsageError(`${command} takes at most ${max} argument(s), got: ${args.join(' ')}`);
  }
  return { command, args, options };
}

/** `value` must be one of `allowed` (a usage error naming them otherwise). */
export function oneOf<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  name: string,
): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value))
    throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, not "${value}"`);
  return value as T;
}
