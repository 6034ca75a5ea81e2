/**
 * Settings of the device API (`POST /api/devices`, `DELETE /api/devices/{id}`): which Entra ID
 * access tokens the mobile app may present.
 */
import { echoItem, echoValue } from '../errors.js';

export interface DeviceApiSettings {
  /** Accepted `aud` values: the API app registration's App ID URI and/or client id. */
  audiences: string[];
  /** Directory (tenant) id GUID, lower-case: tokens must carry it as `tid` and in `iss`. */
  tenantId: string;
  /** Entra authority host (https, no trailing slash). */
  authorityHost: string;
  /** Accepted `iss` values: the v2.0 and the v1.0 form for the tenant. */
  issuers: string[];
  /** Where the tenant's signing keys are published. */
  jwksUri: string;
  /** Allowed clock skew when checking `exp` and `nbf`. */
  clockToleranceSec: number;
}

export const DEFAULT_DEVICE_API_AUTHORITY_HOST = 'https://login.microsoftonline.com';
export const DEFAULT_DEVICE_API_CLOCK_SKEW_SECONDS = 120;
const MAX_CLOCK_SKEW_SECONDS = 600;

export const DEVICE_SETTING_SPECS = [
  {
    name: 'DEVICE_API_AUDIENCE',
    secret: false,
    description:
      'Audience the mobile app’s access tokens must carry: the App ID URI (e.g. `api://mailpush`) and/or the application (client) id of the API app registration; several separated by commas.',
  },
  {
    name: 'DEVICE_API_TENANT_ID',
    secret: false,
    description:
      'Directory (tenant) id GUID whose users may register devices. Default: GRAPH_TENANT_ID (required here if that is a domain name).',
  },
  {
    name: 'DEVICE_API_AUTHORITY_HOST',
    secret: false,
    default: DEFAULT_DEVICE_API_AUTHORITY_HOST,
    description:
      'Entra authority host (https) that issues the app’s tokens and publishes the signing keys; tests point it at a local issuer.',
  },
  {
    name: 'DEVICE_API_CLOCK_SKEW_SECONDS',
    secret: false,
    default: String(DEFAULT_DEVICE_API_CLOCK_SKEW_SECONDS),
    description: `Clock skew tolerated when checking a token's expiry and not-before (0–${MAX_CLOCK_SKEW_SECONDS}).`,
  },
] as const;

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The `iss` values Entra ID uses for a tenant: v2.0 tokens `<authority>/<tid>/v2.0`, v1.0 tokens
 * the cloud's STS (`https://sts.windows.net/<tid>/` in the global cloud). Which one an app gets
 * depends on `accessTokenAcceptedVersion` in the API app registration's manifest.
 */
export function entraIssuers(authorityHost: string, tenantId: string): string[] {
  const host = authorityHost.replace(/\/+$/, '');
  const v2 = `${host}/${tenantId}/v2.0`;
  switch (new URL(host).hostname) {
    case 'login.microsoftonline.com':
      return [v2, `https://sts.windows.net/${tenantId}/`];
    case 'login.chinacloudapi.cn':
      return [v2, `https://sts.chinacloudapi.cn/${tenantId}/`];
    case 'login.microsoftonline.us':
      // US Government clouds have used both forms for v1.0 tokens.
      return [v2, `https://login.microsoftonline.us/${tenantId}/`, `https://sts.windows.net/${tenantId}/`];
    default:
      // A local or private issuer: v1.0 form on the same host.
      return [v2, `${host}/${tenantId}/`];
  }
}

/** Where Entra publishes the signing keys of a tenant (the same keys sign v1.0 and v2.0 tokens). */
export function entraJwksUri(authorityHost: string, tenantId: string): string {
  return `${authorityHost.replace(/\/+$/, '')}/${tenantId}/discovery/v2.0/keys`;
}

/**
 * Reads the device API settings, pushing every problem onto `problems` (values are not secret,
 * but only short ones are echoed). `graphTenantId` is GRAPH_TENANT_ID, the default tenant.
 */
export function readDeviceApiSettings(
  get: (name: string) => string | undefined,
  problems: string[],
  defaults: { graphTenantId?: string | undefined } = {},
): DeviceApiSettings | undefined {
  const before = problems.length;

  const rawAudiences = get('DEVICE_API_AUDIENCE') ?? '';
  const audiences = rawAudiences
    .split(',')
    .map((value) => value.trim())
    .filter((value) => value.length > 0);
  if (audiences.length === 0) {
    problems.push(
      'DEVICE_API_AUDIENCE: required (App ID URI such as api://mailpush, or the application (client) id GUID, of the mobile API app registration)',
    );
  }
  for (const audience of audiences) {
    if (!isAudience(audience)) {
      problems.push(
        `DEVICE_API_AUDIENCE: ${echoItem(audience, rawAudiences, 100)} is neither an application id GUID nor an absolute URI (api://…, https://…)`,
      );
    }
  }

  const explicitTenant = get('DEVICE_API_TENANT_ID');
  const tenant = explicitTenant ?? defaults.graphTenantId;
  if (!tenant) {
    problems.push('DEVICE_API_TENANT_ID: required when GRAPH_TENANT_ID is not set (directory id GUID)');
  } else if (!GUID.test(tenant)) {
    problems.push(
      explicitTenant
        ? `DEVICE_API_TENANT_ID: expected the directory (tenant) id GUID, got ${echoValue(tenant, 100)}`
        : 'DEVICE_API_TENANT_ID: required because GRAPH_TENANT_ID is a domain name; tokens name their tenant by its id GUID',
    );
  }

  // Any https origin: a local issuer (tests, `npm start`) is https with a locally trusted CA.
  const rawHost = (get('DEVICE_API_AUTHORITY_HOST') ?? DEFAULT_DEVICE_API_AUTHORITY_HOST).replace(/\/+$/, '');
  let authorityHost: string | undefined;
  try {
    const url = new URL(rawHost);
    if (url.protocol !== 'https:') {
      problems.push(
        `DEVICE_API_AUTHORITY_HOST: must be https (signing keys are fetched from it), got ${echoValue(rawHost, 200)}`,
      );
    } else if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
      problems.push(
        `DEVICE_API_AUTHORITY_HOST: expected an origin such as https://login.microsoftonline.com`,
      );
    } else {
      authorityHost = url.origin;
    }
  } catch {
    problems.push(`DEVICE_API_AUTHORITY_HOST: not a valid URL: ${echoValue(rawHost, 100)}`);
  }

  const rawSkew = get('DEVICE_API_CLOCK_SKEW_SECONDS');
  const clockToleranceSec = rawSkew === undefined ? DEFAULT_DEVICE_API_CLOCK_SKEW_SECONDS : Number(rawSkew);
  if (
    !Number.isInteger(clockToleranceSec) ||
    clockToleranceSec < 0 ||
    clockToleranceSec > MAX_CLOCK_SKEW_SECONDS
  ) {
    problems.push(
      `DEVICE_API_CLOCK_SKEW_SECONDS: expected a whole number of seconds 0–${MAX_CLOCK_SKEW_SECONDS}, got ${echoValue(String(rawSkew), 20)}`,
    );
  }

  if (problems.length > before || !tenant || !authorityHost) return undefined;
  const tenantId = tenant.toLowerCase();
  return {
    audiences,
    tenantId,
    authorityHost,
    issuers: entraIssuers(authorityHost, tenantId),
    jwksUri: entraJwksUri(authorityHost, tenantId),
    clockToleranceSec,
  };
}

function isAudience(value: string): boolean {
  if (GUID.test(value)) return true;
  if (/\s/.test(value)) return false;
  try {
    const url = new URL(value);
    return url.protocol.length > 1 && (url.host.length > 0 || url.pathname.length > 0);
  } catch {
    return false;
  }
}
