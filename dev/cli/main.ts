/**
 * `npm run admin -- <command>`: the operators' command line over the admin API. `run` is the
 * whole program with its world passed in (streams, environment, fetch), so tests call it
 * in-process; admin.ts binds it to the real process.
 */
import { USAGE, parseCommandLine, type CommandName } from './args.js';
import { AdminClient } from './client.js';
import type { CommandContext } from './context.js';
import { CliError, UsageError, ensureError } from './errors.js';
import { connectivityTest, status } from './health.js';
import { importFile } from './import.js';
import type { CliIo } from './io.js';
import { enrol, exportMigrated, list, remove, show } from './mailboxes.js';
import { migration } from './migration.js';
import { resolveToken } from './token.js';

export const DEFAULT_URL = 'http://127.0.0.1:7071';

const HANDLERS: Record<CommandName, (ctx: CommandContext) => Promise<number>> = {
  enrol,
  import: importFile,
  list,
  show,
  remove,
  migration,
  'export-migrated': exportMigrated,
  status,
  test: connectivityTest,
};

/** Runs one command; answers the exit code (0 ok, 1 refused, 2 usage). */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const parsed = parseCommandLine(argv);
    if (parsed.options.help || parsed.command === undefined) {
      io.stdout.write(USAGE);
      return 0;
    }
    const { options } = parsed;
    const baseUrl = baseUrlOf(options.url ?? io.env.MAILPUSH_URL ?? DEFAULT_URL);
    const app = options.app ?? io.env.MAILPUSH_API;
    const tenantId = options.tenant ?? io.env.AZURE_TENANT_ID;
    const token = options.token ?? io.env.MAILPUSH_TOKEN;
    let pending: Promise<string> | undefined;
    const client = new AdminClient({
      baseUrl,
      fetch: io.fetch ?? fetch,
      ...(app ? { app } : {}),
      token: () =>
        (pending ??= resolveToken(
          {
            baseUrl,
            ...(token ? { token } : {}),
            ...(app ? { app } : {}),
            ...(tenantId ? { tenantId } : {}),
          },
          io,
        )),
    });
    return await HANDLERS[parsed.command]({ client, io, args: parsed.args, options });
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`error: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    const message = error instanceof CliError ? error.message : `unexpected: ${ensureError(error).message}`;
    io.stderr.write(`error: ${message}\n`);
    return 1;
  }
}

function baseUrlOf(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--url must be a URL like ${DEFAULT_URL}, not "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`--url must start with http:// or https://, not "${value}"`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '').replace(/\/api$/, '')}`;
}
