import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import azureFunctions from '@azure/functions';
import { describe, expect, it } from 'vitest';
import {
  ConsoleAssets,
  consoleConfig,
  contentSecurityPolicy,
  serveConsole,
} from '../../shared/admin/console/serve.js';
import { loadSettings, type Env } from '../../shared/config/settings.js';

const { HttpRequest } = azureFunctions;

/** `GET /api/console` without a browser: what the page is told about sign-in, and its headers. */
const AZURE: Env = {
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
const CLIENT_ID = '11111111-2222-4333-8444-555555555555';

const request = (query = '', headers: Record<string, string> = {}) =>
  new HttpRequest({ method: 'GET', url: `https://mailpush.example.com/api/console${query}`, headers });

describe('console sign-in config', () => {
  it('Azure: MSAL against the tenant authority, the API scope defaulting to <audience>/.default', () => {
    const config = consoleConfig(loadSettings({ ...AZURE, CONSOLE_CLIENT_ID: CLIENT_ID }));
    expect(config).toEqual({
      signIn: 'entra',
      clientId: CLIENT_ID,
      authority: 'https://login.microsoftonline.com/00000000-0000-4000-8000-000000000001',
      scopes: ['api://mailpush/.default'],
    });
    const csp = contentSecurityPolicy(config);
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("connect-src 'self' https://login.microsoftonline.com;");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe');
  });

  it('says `unconfigured` without CONSOLE_CLIENT_ID, and `local` when asked (or under the local issuer)', () => {
    expect(consoleConfig(loadSettings(AZURE))).toEqual({ signIn: 'unconfigured' });
    expect(consoleConfig(loadSettings({ ...AZURE, CONSOLE_SIGN_IN: 'local' }))).toEqual({ signIn: 'local' });
    const local = loadSettings({ ...AZURE, DEVICE_API_AUTHORITY_HOST: 'https://127.0.0.1:4443' });
    expect(consoleConfig(local)).toEqual({ signIn: 'local' });
  });

  it('refuses a client id that is not a GUID, naming the setting', () => {
    expect(() => loadSettings({ ...AZURE, CONSOLE_CLIENT_ID: 'my-console' })).toThrow(/CONSOLE_CLIENT_ID/);
    expect(() => loadSettings({ ...AZURE, CONSOLE_SIGN_IN: 'anonymous' })).toThrow(/CONSOLE_SIGN_IN/);
  });
});

describe('serveConsole', () => {
  const settings = loadSettings({ ...AZURE, CONSOLE_CLIENT_ID: CLIENT_ID });
  const dir = mkdtempSync(join(tmpdir(), 'console-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>t</title>');
  const assets = new ConsoleAssets(pathToFileURL(`${dir}/`));

  it('serves the page with its security headers, and 304 when unchanged', async () => {
    const page = await serveConsole(request(), settings, assets);
    expect(page.status).toBe(200);
    const headers = page.headers as Record<string, string>;
    expect(headers['Content-Type']).toBe('text/html; charset=utf-8');
    expect(headers['X-Content-Type-Options']).toBe('nosniff');
    expect(headers['Content-Security-Policy']).toContain("default-src 'none'");
    const again = await serveConsole(request('', { 'if-none-match': headers.ETag! }), settings, assets);
    expect(again.status).toBe(304);
  });

  it('serves only the known assets: 404 for anything else, 503 when the build is missing', async () => {
    expect((await serveConsole(request('?asset=../../package.json'), settings, assets)).status).toBe(404);
    expect((await serveConsole(request('?asset=console.js'), settings, assets)).status).toBe(503);
    const config = await serveConsole(request('?asset=config.json'), settings, assets);
    expect(config.jsonBody).toMatchObject({ signIn: 'entra', clientId: CLIENT_ID });
  });
});
