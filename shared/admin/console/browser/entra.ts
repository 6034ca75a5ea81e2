/**
 * Sign-in with Entra ID through MSAL (redirect flow), bundled apart as msal.js and loaded only when
 * the console's config says `entra`, so the local console stays small. Tokens live in MSAL's
 * session storage cache; the console never shows them.
 */
import { InteractionRequiredAuthError, PublicClientApplication, type AccountInfo } from '@azure/msal-browser';

export interface EntraOptions {
  clientId: string;
  authority: string;
  scopes: string[];
  /** The console's own URL (the SPA app registration's redirect URI). */
  redirectUri: string;
}

export interface EntraSession {
  user: string;
  token(): Promise<string>;
  signOut(): Promise<void>;
}

/** The signed-in session, or undefined after sending the browser to the sign-in page. */
export async function signInWithEntra(options: EntraOptions): Promise<EntraSession | undefined> {
  const msal = new PublicClientApplication({
    auth: {
      clientId: options.clientId,
      authority: options.authority,
      // The configured host is trusted as is: no instance discovery call to the public cloud
      // (which the page's Content-Security-Policy would block for a national cloud anyway).
      knownAuthorities: [new URL(options.authority).host],
      redirectUri: options.redirectUri,
      postLogoutRedirectUri: options.redirectUri,
    },
    cache: { cacheLocation: 'sessionStorage' },
  });
  await msal.initialize();
  const returned = await msal.handleRedirectPromise();
  const account: AccountInfo | undefined = returned?.account ?? msal.getAllAccounts()[0];
  if (!account) {
    await msal.loginRedirect({ scopes: options.scopes });
    return undefined;
  }
  msal.setActiveAccount(account);
  return {
    user: account.username,
    async token() {
      try {
        return (await msal.acquireTokenSilent({ scopes: options.scopes, account })).accessToken;
      } catch (error) {
        if (error instanceof InteractionRequiredAuthError) {
          await msal.acquireTokenRedirect({ scopes: options.scopes, account });
        }
        throw error;
      }
    },
    signOut: () => msal.logoutRedirect({ account }),
  };
}
