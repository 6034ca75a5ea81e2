import { ConfigError } from '../errors.js';

/**
 * National clouds: where tokens come from (Entra ID authority host) and where Graph lives.
 * Scope for app-only Graph tokens is always `<graph origin>/.default`.
 */
export type NationalCloud = 'global' | 'usgov' | 'usgovdod' | 'china';

export interface GraphEndpoints {
  /** Entra ID authority host, e.g. `https://login.microsoftonline.com` (no tenant, no trailing slash). */
  authorityHost: string;
  /** Graph root, e.g. `https://graph.microsoft.com` (no version segment, no trailing slash). */
  graphEndpoint: string;
}

export interface ResolvedGraphEndpoints extends GraphEndpoints {
  cloud: NationalCloud;
  /** True when at least one URL came from an explicit override (e.g. the local Graph simulator). */
  overridden: boolean;
}

export const NATIONAL_CLOUDS: Readonly<Record<NationalCloud, Readonly<GraphEndpoints>>> = Object.freeze({
  global: Object.freeze({
    authorityHost: 'https://login.microsoftonline.com',
    graphEndpoint: 'https://graph.microsoft.com',
  }),
  usgov: Object.freeze({
    authorityHost: 'https://login.microsoftonline.us',
    graphEndpoint: 'https://graph.microsoft.us',
  }),
  usgovdod: Object.freeze({
    authorityHost: 'https://login.microsoftonline.us',
    graphEndpoint: 'https://dod-graph.microsoft.us',
  }),
  china: Object.freeze({
    authorityHost: 'https://login.chinacloudapi.cn',
    graphEndpoint: 'https://microsoftgraph.chinacloudapi.cn',
  }),
});

export const NATIONAL_CLOUD_NAMES = Object.keys(NATIONAL_CLOUDS) as readonly NationalCloud[];

/**
 * Accepted spellings (case-insensitive). Azure CLI names are accepted because operators copy them
 * from `az cloud list`. Note: US Government "GCC" (moderate) uses the *global* endpoints, so there is
 * deliberately no `gcc` alias.
 */
const CLOUD_ALIASES: Readonly<Record<string, NationalCloud>> = {
  global: 'global',
  public: 'global',
  azurecloud: 'global',
  usgov: 'usgov',
  gcchigh: 'usgov',
  azureusgovernment: 'usgov',
  usgovdod: 'usgovdod',
  dod: 'usgovdod',
  china: 'china',
  azurechinacloud: 'china',
};

/** The authority hosts MSAL's public instance discovery knows about. */
export const PUBLIC_AUTHORITY_HOSTS: readonly string[] = [
  ...new Set(Object.values(NATIONAL_CLOUDS).map((c) => c.authorityHost)),
];

export function parseCloudName(value: string): NationalCloud | undefined {
  return CLOUD_ALIASES[value.trim().toLowerCase()];
}

export interface GraphEndpointsInput {
  /** One of {@link NATIONAL_CLOUD_NAMES} (or an alias); empty/undefined means `global`. */
  cloud?: string | undefined;
  /** Overrides the cloud's authority host (must be https). Empty means "not set". */
  authorityHost?: string | undefined;
  /** Overrides the cloud's Graph endpoint (must be https). Empty means "not set". */
  graphEndpoint?: string | undefined;
}

/**
 * Checks an https base URL and returns it normalised (origin + path, no trailing slash), or a
 * problem. The value itself is never echoed: a mis-pasted setting could hold a secret.
 */
export function checkHttpsBaseUrl(
  label: string,
  value: string,
  example: string,
): { url: string; problem?: undefined } | { url?: undefined; problem: string } {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return { problem: `${label} is not a valid URL (expected something like ${example})` };
  }
  if (url.protocol !== 'https:') {
    return {
      problem: `${label} must use https (got ${url.protocol.replace(/:$/, '')}); @azure/identity and Graph only accept https endpoints`,
    };
  }
  if (url.username || url.password) {
    return { problem: `${label} must not contain a user name or password` };
  }
  if (url.search || url.hash) {
    return {
      problem: `${label} must not contain a query string or fragment (expected something like ${example})`,
    };
  }
  return { url: `${url.origin}${url.pathname.replace(/\/+$/, '')}` };
}

function isPublicOrigin(url: string, hosts: readonly string[]): boolean {
  try {
    const parsed = new URL(url);
    return hosts.includes(parsed.origin) && (parsed.pathname === '/' || parsed.pathname === '');
  } catch {
    return false;
  }
}

/** True for the authority hosts of the four national clouds (host only, no path). */
export function isPublicAuthorityHost(authorityHost: string): boolean {
  return isPublicOrigin(authorityHost, PUBLIC_AUTHORITY_HOSTS);
}

const PUBLIC_GRAPH_ORIGINS = Object.values(NATIONAL_CLOUDS).map((c) => c.graphEndpoint);

/** Non-throwing form for a config module that collects every problem before failing. */
export function validateGraphEndpoints(
  input: GraphEndpointsInput,
): { endpoints: ResolvedGraphEndpoints; problems: [] } | { endpoints?: undefined; problems: string[] } {
  const problems: string[] = [];
  let cloud: NationalCloud = 'global';
  const cloudInput = input.cloud?.trim();
  if (cloudInput) {
    const parsed = parseCloudName(cloudInput);
    if (parsed) cloud = parsed;
    else problems.push(`cloud must be one of ${NATIONAL_CLOUD_NAMES.join(', ')}`);
  }
  const defaults = NATIONAL_CLOUDS[cloud];

  let authorityHost = defaults.authorityHost;
  let graphEndpoint = defaults.graphEndpoint;
  let overridden = false;

  if (input.authorityHost?.trim()) {
    const checked = checkHttpsBaseUrl(
      'authorityHost',
      input.authorityHost,
      NATIONAL_CLOUDS.global.authorityHost,
    );
    if (checked.problem !== undefined) problems.push(checked.problem);
    else if (
      checked.url !== new URL(checked.url).origin &&
      PUBLIC_AUTHORITY_HOSTS.includes(new URL(checked.url).origin)
    ) {
      problems.push(
        'authorityHost must be the host only (e.g. https://login.microsoftonline.com); the tenant is a separate setting',
      );
    } else {
      authorityHost = checked.url;
      overridden = true;
    }
  }

  if (input.graphEndpoint?.trim()) {
    const checked = checkHttpsBaseUrl(
      'graphEndpoint',
      input.graphEndpoint,
      NATIONAL_CLOUDS.global.graphEndpoint,
    );
    if (checked.problem !== undefined) problems.push(checked.problem);
    else if (/\/(v1\.0|beta)$/i.test(checked.url)) {
      problems.push(
        'graphEndpoint must be the Graph root without a version segment (e.g. https://graph.microsoft.com, not .../v1.0)',
      );
    } else {
      graphEndpoint = checked.url;
      overridden = true;
    }
  }

  if (problems.length > 0) return { problems };
  return { endpoints: { cloud, authorityHost, graphEndpoint, overridden }, problems: [] };
}

/**
 * Picks the authority host and Graph endpoint for a cloud; explicit URLs (e.g. the local Graph
 * simulator) override the cloud's. Throws {@link ConfigError} listing every problem.
 */
export function resolveGraphEndpoints(input: GraphEndpointsInput = {}): ResolvedGraphEndpoints {
  const result = validateGraphEndpoints(input);
  if (result.endpoints === undefined) throw new ConfigError(result.problems);
  return result.endpoints;
}

/** `${origin}/.default`: the scope for app-only tokens, e.g. `https://graph.microsoft.com/.default`. */
export function graphScope(graphEndpoint: string): string {
  let url: URL;
  try {
    url = new URL(graphEndpoint);
  } catch {
    throw new ConfigError(['graphEndpoint is not a valid URL']);
  }
  return `${url.origin}/.default`;
}

/** True when the Graph endpoint is one of the four national clouds' (not a simulator). */
export function isPublicGraphEndpoint(graphEndpoint: string): boolean {
  return isPublicOrigin(graphEndpoint, PUBLIC_GRAPH_ORIGINS);
}
