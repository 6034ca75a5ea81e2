import { readFileSync } from 'node:fs';
import {
  CertificateError,
  loadClientCertificate,
  validateGraphCredentialOptions,
  validateGraphEndpoints,
  type ClientCertificate,
} from '../auth/index.js';
import { echoValue } from '../errors.js';

/** How the app reaches Microsoft Graph: app registration, credential, cloud, and our public URL. */
export interface GraphSettings {
  tenantId: string;
  clientId: string;
  credential:
    | {
        kind: 'secret';
        secret: string;
        /** GRAPH_CLIENT_SECRET_EXPIRES_ON (ISO 8601): when the secret expires, for the status page. */
        expiresOn?: string;
      }
    | { kind: 'certificate'; certificate: ClientCertificate };
  cloud: string;
  authorityHost: string;
  graphEndpoint: string;
  /** Base URL Graph calls back (`<base>/api/notifications`, `<base>/api/lifecycle`). */
  publicBaseUrl: string;
}

export const GRAPH_SETTING_SPECS = [
  {
    name: 'GRAPH_TENANT_ID',
    secret: false,
    description: 'Directory (tenant) id or verified domain of the organisation whose mailboxes are served.',
  },
  { name: 'GRAPH_CLIENT_ID', secret: false, description: 'Application (client) id of the app registration.' },
  {
    name: 'GRAPH_CLIENT_SECRET',
    secret: true,
    description: 'Client secret value. Set this, or a client certificate (next settings).',
  },
  {
    name: 'GRAPH_CLIENT_SECRET_EXPIRES_ON',
    secret: false,
    description:
      'When the client secret expires (ISO 8601 date, e.g. `2027-03-31`, as the app registration shows it): the status page warns 30 days before and turns critical 7 days before. Only with GRAPH_CLIENT_SECRET.',
  },
  {
    name: 'GRAPH_CLIENT_CERTIFICATE_PATH',
    secret: false,
    description: 'Path of a PFX (or PEM with private key) client certificate.',
  },
  {
    name: 'GRAPH_CLIENT_CERTIFICATE_BASE64',
    secret: true,
    description: 'The PFX or PEM as base64, e.g. a Key Vault reference to a certificate secret.',
  },
  {
    name: 'GRAPH_CLIENT_CERTIFICATE_PASSWORD',
    secret: true,
    description: 'Password of the PFX (omit for none).',
  },
  {
    name: 'GRAPH_CLOUD',
    secret: false,
    default: 'global',
    description: '`global`, `usgov`, `usgovdod` or `china`: picks the authority host and Graph endpoint.',
  },
  {
    name: 'GRAPH_AUTHORITY_HOST',
    secret: false,
    description: 'Overrides the cloud’s authority host (https), e.g. the local Graph simulator.',
  },
  {
    name: 'GRAPH_ENDPOINT',
    secret: false,
    description: 'Overrides the cloud’s Graph endpoint (https, no /v1.0), e.g. the local Graph simulator.',
  },
  {
    name: 'PUBLIC_BASE_URL',
    secret: false,
    description:
      'Public https base URL of this function app; Graph posts to `<base>/api/notifications` and `<base>/api/lifecycle`.',
  },
] as const;

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Reads the Graph settings, pushing every problem (never a secret value) onto `problems`. */
export function readGraphSettings(
  get: (name: string) => string | undefined,
  problems: string[],
): GraphSettings | undefined {
  const before = problems.length;
  const tenantId = get('GRAPH_TENANT_ID');
  const clientId = get('GRAPH_CLIENT_ID');
  if (!tenantId)
    problems.push('GRAPH_TENANT_ID: required (tenant id GUID or domain such as contoso.onmicrosoft.com)');
  if (!clientId) problems.push('GRAPH_CLIENT_ID: required (application id GUID of the app registration)');

  const endpoints = validateGraphEndpoints({
    cloud: get('GRAPH_CLOUD'),
    authorityHost: get('GRAPH_AUTHORITY_HOST'),
    graphEndpoint: get('GRAPH_ENDPOINT'),
  });
  for (const problem of endpoints.problems)
    problems.push(`GRAPH_CLOUD/GRAPH_AUTHORITY_HOST/GRAPH_ENDPOINT: ${problem}`);

  const secret = get('GRAPH_CLIENT_SECRET');
  const certPath = get('GRAPH_CLIENT_CERTIFICATE_PATH');
  const certBase64 = get('GRAPH_CLIENT_CERTIFICATE_BASE64');
  const password = get('GRAPH_CLIENT_CERTIFICATE_PASSWORD');
  const given = [secret, certPath, certBase64].filter(Boolean).length;
  let credential: GraphSettings['credential'] | undefined;
  if (given !== 1) {
    problems.push(
      'GRAPH_CLIENT_SECRET, GRAPH_CLIENT_CERTIFICATE_PATH or GRAPH_CLIENT_CERTIFICATE_BASE64: set exactly one',
    );
  } else if (secret) {
    const expiresOn = secretExpiry(get('GRAPH_CLIENT_SECRET_EXPIRES_ON'), problems);
    credential = { kind: 'secret', secret, ...(expiresOn ? { expiresOn } : {}) };
  } else {
    const setting = certPath ? 'GRAPH_CLIENT_CERTIFICATE_PATH' : 'GRAPH_CLIENT_CERTIFICATE_BASE64';
    try {
      const bytes = certPath ? readFileSync(certPath) : Buffer.from(certBase64 ?? '', 'base64');
      const text = bytes.toString('utf8');
      const certificate = text.includes('-----BEGIN')
        ? loadClientCertificate({ pem: text, password })
        : loadClientCertificate({ pfx: bytes, password });
      credential = { kind: 'certificate', certificate };
    } catch (error) {
      if (error instanceof CertificateError) problems.push(`${setting}: ${error.problem}`);
      else if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        problems.push(`${setting}: file not found`);
      else problems.push(`${setting}: could not be read as a PFX or PEM certificate`);
    }
  }

  if (tenantId && clientId && credential && endpoints.endpoints) {
    const credentialProblems = validateGraphCredentialOptions(
      {
        tenant: tenantId,
        clientId,
        authorityHost: endpoints.endpoints.authorityHost,
        ...(credential.kind === 'secret'
          ? { secret: credential.secret }
          : { certificate: credential.certificate }),
      },
      {
        tenant: 'GRAPH_TENANT_ID',
        clientId: 'GRAPH_CLIENT_ID',
        authorityHost: 'GRAPH_AUTHORITY_HOST',
        secret: 'GRAPH_CLIENT_SECRET',
        certificate: 'GRAPH_CLIENT_CERTIFICATE_PATH',
      },
    );
    problems.push(...credentialProblems);
  }

  if (!secret && get('GRAPH_CLIENT_SECRET_EXPIRES_ON'))
    problems.push(
      'GRAPH_CLIENT_SECRET_EXPIRES_ON: only with GRAPH_CLIENT_SECRET (a certificate carries its own expiry)',
    );

  const publicBaseUrl = get('PUBLIC_BASE_URL')?.replace(/\/+$/, '');
  if (!publicBaseUrl) {
    problems.push(
      'PUBLIC_BASE_URL: required (https URL of this function app, e.g. https://func-abc.azurewebsites.net)',
    );
  } else {
    let url: URL | undefined;
    try {
      url = new URL(publicBaseUrl);
    } catch {
      url = undefined;
    }
    // Graph only calls https notification URLs; plain http is accepted for the local simulator on loopback.
    if (!url || !(url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname)))) {
      problems.push(`PUBLIC_BASE_URL: expected an https URL, got ${echoValue(publicBaseUrl)}`);
    }
  }

  if (
    problems.length > before ||
    !tenantId ||
    !clientId ||
    !credential ||
    !endpoints.endpoints ||
    !publicBaseUrl
  ) {
    return undefined;
  }
  return {
    tenantId,
    clientId,
    credential,
    cloud: endpoints.endpoints.cloud,
    authorityHost: endpoints.endpoints.authorityHost,
    graphEndpoint: endpoints.endpoints.graphEndpoint,
    publicBaseUrl,
  };
}

/** `2027-03-31` or `2027-03-31T12:00:00Z` → ISO 8601 (UTC); a problem for anything else. */
function secretExpiry(raw: string | undefined, problems: string[]): string | undefined {
  const value = raw?.trim();
  if (!value) return undefined;
  const at = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/.test(value)
    ? Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value)
    : Number.NaN;
  if (!Number.isFinite(at)) {
    problems.push(
      `GRAPH_CLIENT_SECRET_EXPIRES_ON: expected an ISO 8601 date such as 2027-03-31, got ${echoValue(value.slice(0, 40))}`,
    );
    return undefined;
  }
  return new Date(at).toISOString();
}
