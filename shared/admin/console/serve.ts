/**
 * `GET /api/console`: the operators' web console, one static page. The page, its stylesheet and
 * its scripts are built by `npm run build` (dev/scripts/build-console.ts) into `public/` next to
 * this module (dist/shared/admin/console/public/), read once and kept in memory. The page calls
 * the admin API (`/api/manage/...`) with the operator's own token; this route needs none and
 * serves nothing secret: `?asset=config.json` says how to sign in (client id, authority, scope).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import type { Settings } from '../../config/settings.js';
import { SECURITY_HEADERS, errorResponse } from '../../http/responses.js';

/** What the page reads from `?asset=config.json` (shared with the browser code by shape only). */
export interface ConsoleConfig {
  /** `unconfigured`: Entra sign-in without CONSOLE_CLIENT_ID; the page says which setting is missing. */
  signIn: 'local' | 'entra' | 'unconfigured';
  clientId?: string;
  /** `https://login.microsoftonline.com/<tenant id>` (or the national cloud's host). */
  authority?: string;
  scopes?: string[];
}

interface Asset {
  body: Buffer;
  contentType: string;
  etag: string;
}

/** The files the build writes to public/; nothing else is ever read from disk. */
const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'msal.js': 'text/javascript; charset=utf-8',
};

export class ConsoleAssets {
  private readonly cache = new Map<string, Promise<Asset>>();

  constructor(private readonly directory: URL = defaultAssetDirectory()) {}

  get(name: string): Promise<Asset> | undefined {
    const contentType = ASSETS[name];
    if (contentType === undefined) return undefined;
    let asset = this.cache.get(name);
    if (!asset) {
      asset = readFile(new URL(name, this.directory)).then((body) => ({
        body,
        contentType,
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
      }));
      // A missing build is reported, not cached: the next request looks again.
      asset.catch(() => this.cache.delete(name));
      this.cache.set(name, asset);
    }
    return asset;
  }
}

/**
 * public/ next to this module (dist/ and dist-dev/). Under vitest this module is the .ts source,
 * which has no built assets beside it: use the product build's.
 */
function defaultAssetDirectory(): URL {
  return import.meta.url.endsWith('.ts')
    ? new URL('../../../dist/shared/admin/console/public/', import.meta.url)
    : new URL('./public/', import.meta.url);
}

export function consoleConfig(settings: Settings): ConsoleConfig {
  const { console: options } = settings.admin;
  const signIn = options.signIn ?? (isLoopback(settings.deviceApi.authorityHost) ? 'local' : 'entra');
  if (signIn === 'local') return { signIn };
  if (!options.clientId) return { signIn: 'unconfigured' };
  const audience = settings.deviceApi.audiences[0] ?? '';
  return {
    signIn,
    clientId: options.clientId,
    authority: `${settings.deviceApi.authorityHost}/${settings.deviceApi.tenantId}`,
    scopes: [options.apiScope ?? `${audience.replace(/\/+$/, '')}/.default`],
  };
}

function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '[::1]' || /^127\./.test(host);
  } catch {
    return false;
  }
}

/**
 * Scripts and styles only from this origin (no inline code at all); network calls to this origin
 * and, for MSAL, to the Entra authority host, which is also the only frame (silent renewal).
 */
export function contentSecurityPolicy(config: ConsoleConfig): string {
  const login = config.authority ? ` ${new URL(config.authority).origin}` : '';
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self'${login}`,
    `frame-src${login || " 'none'"}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** `GET /api/console[?asset=console.js|console.css|msal.js|config.json]` */
export async function serveConsole(
  request: HttpRequest,
  settings: Settings,
  assets: ConsoleAssets,
): Promise<HttpResponseInit> {
  const config = consoleConfig(settings);
  const headers = {
    ...SECURITY_HEADERS,
    'Content-Security-Policy': contentSecurityPolicy(config),
    'Referrer-Policy': 'no-referrer',
    'X-Frame-Options': 'DENY',
  };
  const name = request.query.get('asset') ?? 'index.html';
  if (name === 'config.json') {
    return { status: 200, jsonBody: config, headers: { ...headers, 'Content-Type': 'application/json' } };
  }
  const pending = assets.get(name);
  if (!pending) return errorResponse(404, 'not_found', 'No such console asset.', headers);
  let asset: Asset;
  try {
    asset = await pending;
  } catch {
    return errorResponse(503, 'console_not_built', 'The console is not built: run npm run build.', headers);
  }
  // Revalidated on each load (a deployment changes them), sent again only when they changed.
  const cacheHeaders = { ...headers, 'Cache-Control': 'no-cache', ETag: asset.etag };
  if (request.headers.get('if-none-match') === asset.etag) return { status: 304, headers: cacheHeaders };
  return {
    status: 200,
    body: asset.body,
    headers: { ...cacheHeaders, 'Content-Type': asset.contentType },
  };
}
