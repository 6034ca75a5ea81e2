/**
 * Where the bearer token comes from, first match wins: `--token` / MAILPUSH_TOKEN; the local
 * runner's own sign-in (`GET /local/admin-token`) for a localhost URL; else Entra ID through
 * @azure/identity for `api://<app>/.default`. The token is never printed.
 */
import { send } from './client.js';
import { CliError, UsageError } from './errors.js';
import type { CliIo, Output } from './io.js';

export interface TokenSource {
  baseUrl: string;
  token?: string;
  /** `--app` / MAILPUSH_API: the API's client id or App ID URI. */
  app?: string;
  tenantId?: string;
}

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export function isLocalUrl(baseUrl: string): boolean {
  return LOCAL_HOSTS.has(new URL(baseUrl).hostname);
}

/** `api://<client id>/.default` for a client id; `<App ID URI>/.default` for a URI. */
export function scopeFor(app: string): string {
  const trimmed = app
    .trim()
    .replace(/\/\.default$/, '')
    .replace(/\/+$/, '');
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(trimmed))
    return `api://${trimmed}/.default`;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) return `${trimmed}/.default`;
  throw new UsageError(
    `--app must be the API's client id (a GUID) or its App ID URI (api://…), not "${app}".`,
  );
}

export async function resolveToken(source: TokenSource, io: CliIo): Promise<string> {
  if (source.token) return source.token;
  if (isLocalUrl(source.baseUrl)) return localToken(source.baseUrl, io);
  if (!source.app) {
    throw new UsageError(
      `no token for ${source.baseUrl}: pass --app <client id or App ID URI of the MailPush API> (or set MAILPUSH_API) to sign in with Azure, or --token / MAILPUSH_TOKEN`,
    );
  }
  const scope = scopeFor(source.app);
  const signIn = io.azureToken ?? azureIdentityToken;
  try {
    return await signIn(scope, {
      ...(source.tenantId ? { tenantId: source.tenantId } : {}),
      stderr: io.stderr,
    });
  } catch (error) {
    if (error instanceof CliError || error instanceof UsageError) throw error;
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new CliError(`could not sign in for ${scope}: ${message} — run az login (or pass --token)`);
  }
}

async function localToken(baseUrl: string, io: CliIo): Promise<string> {
  const res = await send(io.fetch ?? fetch, `${baseUrl}/local/admin-token`, baseUrl, { method: 'GET' });
  if (res.status === 404) {
    await res.body?.cancel();
    throw new CliError(
      `${baseUrl} does not hand out local tokens (it signs in with real Entra ID): pass --token or MAILPUSH_TOKEN`,
    );
  }
  if (!res.ok) throw new CliError(`the local runner at ${baseUrl} could not issue a token (${res.status})`);
  const body = (await res.json()) as { accessToken?: unknown };
  if (typeof body.accessToken !== 'string')
    throw new CliError(`${baseUrl}/local/admin-token answered without a token`);
  return body.accessToken;
}

/**
 * Azure CLI / Azure Developer CLI sign-in first (headless, no prompt), then the device code flow
 * (prints a code to enter at microsoft.com/devicelogin, on stderr). No managed identity: this
 * runs on an operator's machine.
 */
async function azureIdentityToken(
  scope: string,
  options: { tenantId?: string; stderr: Output },
): Promise<string> {
  const identity = await import('@azure/identity');
  const tenant = options.tenantId ? { tenantId: options.tenantId } : {};
  const credential = new identity.ChainedTokenCredential(
    new identity.AzureCliCredential(tenant),
    new identity.AzureDeveloperCliCredential(tenant),
    new identity.DeviceCodeCredential({
      ...tenant,
      userPromptCallback: (info) => options.stderr.write(`${info.message}\n`),
    }),
  );
  const token = await credential.getToken(scope);
  if (!token) throw new CliError(`no token for ${scope}`);
  return token.token;
}
