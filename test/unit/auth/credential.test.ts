import { describe, expect, it } from 'vitest';

// Pure validation and description only. Building real credentials and getting tokens is
// covered against the Graph/Entra simulator in test/integration (no SDK module mocks).
import {
  describeCredential,
  isTenantDomain,
  validateGraphCredentialOptions,
  createGraphCredential,
} from '../../../shared/auth/index.js';
import { ConfigError } from '../../../shared/errors.js';

const SECRET = 'Zk8Q~abcDEF123ghiJKL456mnoPQR789stuVWX0yz';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = '3f1a2b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b';
const valid = {
  tenant: TENANT,
  clientId: CLIENT,
  authorityHost: 'https://login.microsoftonline.com',
  secret: SECRET,
};

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const problems = [...(error as InstanceType<typeof ConfigError>).problems];
    expect((error as Error).message).not.toContain(SECRET);
    return problems;
  }
  throw new Error('expected a ConfigError');
}

describe('validateGraphCredentialOptions', () => {
  it('accepts a GUID tenant or a tenant domain', () => {
    expect(validateGraphCredentialOptions(valid)).toEqual([]);
    expect(validateGraphCredentialOptions({ ...valid, tenant: 'contoso.onmicrosoft.com' })).toEqual([]);
    expect(validateGraphCredentialOptions({ ...valid, tenant: 'Mail-Push.Contoso.com' })).toEqual([]);
  });

  it.each([
    ['contoso', false],
    ['contoso.onmicrosoft.com', true],
    ['-bad.example.com', false],
    ['bad-.example.com', false],
    ['10.0.0.1', false],
    ['a..b.com', false],
    ['contoso.onmicrosoft.com/', false],
    ['white space.com', false],
  ])('isTenantDomain(%j) = %s', (value, expected) => {
    expect(isTenantDomain(value)).toBe(expected);
  });

  it('lists every problem at once and never the secret', () => {
    const problems = problemsOf(() =>
      createGraphCredential({
        tenant: 'not a tenant!',
        clientId: 'my-app',
        authorityHost: 'http://login.local',
        secret: SECRET,
        certificate: { pem: '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n' },
      }),
    );
    expect(problems).toEqual([
      'tenant must be a directory (tenant) id GUID or a domain such as contoso.onmicrosoft.com',
      'clientId must be the application (client) id, a GUID',
      'authorityHost must use https (got http); @azure/identity and Graph only accept https endpoints',
      'set either a client secret or a client certificate, not both',
    ]);
    expect(problems.join('\n')).not.toContain(SECRET);
  });

  it('reports missing values', () => {
    expect(problemsOf(() => createGraphCredential({ tenant: '', clientId: '', authorityHost: '' }))).toEqual([
      'tenant is required (directory (tenant) id GUID or a domain such as contoso.onmicrosoft.com)',
      'clientId is required (application (client) id GUID)',
      'authorityHost is required (e.g. https://login.microsoftonline.com)',
      'no credential: set a client secret or a client certificate',
    ]);
  });

  it('treats empty secret and empty PEM as not set', () => {
    expect(validateGraphCredentialOptions({ ...valid, secret: '', certificate: { pem: '' } })).toEqual([
      'no credential: set a client secret or a client certificate',
    ]);
  });

  it('rejects multi-tenant aliases: app-only tokens need one tenant', () => {
    expect(validateGraphCredentialOptions({ ...valid, tenant: 'common' })).toEqual([
      "tenant must be a specific tenant, not 'common': app-only Graph tokens are issued by one tenant",
    ]);
    expect(validateGraphCredentialOptions({ ...valid, tenant: 'Organizations' })).toHaveLength(1);
  });

  it('catches the secret ID pasted instead of the secret value, without echoing it', () => {
    const secretId = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
    const problems = validateGraphCredentialOptions({ ...valid, secret: secretId });
    expect(problems).toEqual([
      'client secret looks like a GUID: that is the secret\'s ID, not its value (copy the "Value" column when the secret is created)',
    ]);
    expect(problems.join()).not.toContain(secretId);
  });

  it('catches whitespace around the secret, without echoing it', () => {
    const problems = validateGraphCredentialOptions({ ...valid, secret: `${SECRET}\n` });
    expect(problems).toEqual(['client secret has leading or trailing whitespace (a copy-and-paste slip?)']);
    expect(problems.join()).not.toContain(SECRET);
  });

  it('never echoes a secret pasted into another setting', () => {
    const problems = validateGraphCredentialOptions({
      tenant: SECRET,
      clientId: SECRET,
      authorityHost: SECRET,
      secret: SECRET,
    });
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).not.toContain(SECRET);
    expect(problems.join('\n')).not.toContain('Zk8Q');
  });

  it('names problems after the settings when told their names', () => {
    expect(
      validateGraphCredentialOptions(
        { tenant: 'x', clientId: 'y', authorityHost: 'https://login.microsoftonline.com' },
        {
          tenant: 'GRAPH_TENANT_ID',
          clientId: 'GRAPH_CLIENT_ID',
          secret: 'GRAPH_CLIENT_SECRET',
          certificate: 'GRAPH_CERTIFICATE',
        },
      ),
    ).toEqual([
      'GRAPH_TENANT_ID must be a directory (tenant) id GUID or a domain such as contoso.onmicrosoft.com',
      'GRAPH_CLIENT_ID must be the application (client) id, a GUID',
      'no credential: set a GRAPH_CLIENT_SECRET or a GRAPH_CERTIFICATE',
    ]);
  });

  it('reports an unusable certificate PEM as a problem of the certificate setting', () => {
    expect(
      validateGraphCredentialOptions(
        { ...valid, secret: undefined, certificate: { pem: 'hello' } },
        { certificate: 'GRAPH_CERTIFICATE' },
      ),
    ).toEqual([
      'GRAPH_CERTIFICATE: the certificate is not PEM text (expected -----BEGIN CERTIFICATE----- and -----BEGIN PRIVATE KEY----- blocks)',
    ]);
  });
});

describe('describeCredential', () => {
  it('shows that a secret is set, never the secret', () => {
    const description = describeCredential({ ...valid, graphEndpoint: 'https://graph.microsoft.us' });
    expect(description).toEqual({
      kind: 'client_secret',
      tenant: TENANT,
      clientId: CLIENT,
      authorityHost: 'https://login.microsoftonline.com',
      instanceDiscovery: true,
      graphEndpoint: 'https://graph.microsoft.us',
      scope: 'https://graph.microsoft.us/.default',
      secretSet: true,
    });
    expect(JSON.stringify(description)).not.toContain(SECRET);
  });

  it('throws the same ConfigError as createGraphCredential for unusable options', () => {
    expect(
      problemsOf(() =>
        describeCredential({ ...valid, clientId: 'x', graphEndpoint: 'https://graph.microsoft.com' }),
      ),
    ).toEqual(['clientId must be the application (client) id, a GUID']);
  });
});
