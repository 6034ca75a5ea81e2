import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { LocalHost } from '../../dev/local/host.js';
import { findChromium, launchChromium } from '../../dev/scripts/chromium.js';
import { startTestHost } from '../support/test-host.js';

/**
 * The console in Entra mode (as in Azure): it loads MSAL and sends the browser to the authority's
 * authorize endpoint with our SPA client id, its own URL as redirect URI, the API scope and PKCE.
 * The authority is played by request interception; nothing leaves the machine.
 */
const chromium = findChromium();
if ('missing' in chromium) console.warn(`[browser tests] skipped (Entra sign-in): ${chromium.missing}`);

const CLIENT_ID = '6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d';

describe.skipIf('missing' in chromium)('the web console signing in with Entra ID', () => {
  let host: LocalHost;
  let browser: Browser;

  beforeAll(async () => {
    host = await startTestHost({
      startQueueTriggers: false,
      env: { CONSOLE_SIGN_IN: 'entra', CONSOLE_CLIENT_ID: CLIENT_ID },
    });
    browser = await launchChromium((chromium as { path: string }).path);
  });

  afterAll(async () => {
    await browser?.close();
    await host?.stop();
  });

  it('redirects to the authorize endpoint with the client id, redirect URI, API scope and PKCE', async () => {
    const page = await browser.newPage();
    const blocked: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) blocked.push(message.text());
    });
    const config = (await (await fetch(`${host.url}/api/console?asset=config.json`)).json()) as {
      authority: string;
      scopes: string[];
    };
    const authority = config.authority;
    let authorize: URL | undefined;
    await page.route(`${new URL(authority).origin}/**`, async (route) => {
      const url = new URL(route.request().url());
      if (url.pathname.endsWith('/openid-configuration')) {
        await route.fulfill({
          contentType: 'application/json',
          headers: { 'access-control-allow-origin': '*' },
          body: JSON.stringify({
            issuer: `${authority}/v2.0`,
            authorization_endpoint: `${authority}/oauth2/v2.0/authorize`,
            token_endpoint: `${authority}/oauth2/v2.0/token`,
            end_session_endpoint: `${authority}/oauth2/v2.0/logout`,
            jwks_uri: `${authority}/discovery/v2.0/keys`,
          }),
        });
      } else if (url.pathname.endsWith('/authorize')) {
        authorize = url;
        await route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>Sign in</title>' });
      } else {
        await route.abort();
      }
    });
    await page.goto(`${host.url}/api/console`);
    await expect.poll(() => authorize?.href, { timeout: 15_000 }).toBeDefined();
    const params = authorize!.searchParams;
    expect(params.get('client_id')).toBe(CLIENT_ID);
    expect(params.get('redirect_uri')).toBe(`${host.url}/api/console`);
    expect(params.get('scope')?.split(' ')).toContain(config.scopes[0]);
    expect(config.scopes[0]).toBe('api://mailpush-local/.default');
    expect(params.get('response_type')).toBe('code');
    expect(params.get('code_challenge_method')).toBe('S256');
    expect(blocked).toEqual([]);
    await page.close();
  });
});
