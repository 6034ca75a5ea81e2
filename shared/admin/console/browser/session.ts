/**
 * Who the console acts as. Locally (the runner's config says `local`) the runner's own issuer
 * hands out an admin token at `/local/admin-token`, no prompt; in Azure MSAL signs the operator in.
 */
import type { EntraSession } from './entra.js';
import type { ConsoleConfig } from './types.js';

export type Session = EntraSession;

/** Asset URLs: the page's own route with `?asset=` (works under any route prefix). */
export function assetUrl(name: string): string {
  return `${location.pathname.replace(/\/+$/, '')}?asset=${encodeURIComponent(name)}`;
}

export async function startSession(config: ConsoleConfig): Promise<Session | undefined> {
  if (config.signIn === 'local') return localSession();
  if (config.signIn === 'unconfigured' || !config.clientId || !config.authority || !config.scopes) {
    throw new Error(
      "Sign-in is not configured: set CONSOLE_CLIENT_ID to the console's app registration (see docs/console.md).",
    );
  }
  const entra = (await import(assetUrl('msal.js'))) as typeof import('./entra.js');
  return entra.signInWithEntra({
    clientId: config.clientId,
    authority: config.authority,
    scopes: config.scopes,
    // Exactly the URI registered on the SPA app registration, whether or not a slash was typed.
    redirectUri: `${location.origin}${location.pathname.replace(/\/+$/, '')}`,
  });
}

interface LocalToken {
  accessToken: string;
  user: string;
  expiresInSeconds: number;
}

async function localSession(): Promise<Session> {
  let current: { token: string; renewAt: number } | undefined;
  const fetchToken = async () => {
    const response = await fetch('/local/admin-token', { cache: 'no-store' });
    if (!response.ok) throw new Error(`The local runner did not give a token (${response.status}).`);
    const body = (await response.json()) as LocalToken;
    // Renew a minute early so a call never goes out with a token about to expire.
    current = { token: body.accessToken, renewAt: Date.now() + (body.expiresInSeconds - 60) * 1000 };
    return body;
  };
  const first = await fetchToken();
  return {
    user: `${first.user} (local)`,
    async token() {
      if (!current || Date.now() >= current.renewAt) await fetchToken();
      return current!.token;
    },
    async signOut() {
      current = undefined;
    },
  };
}
