import { describe, expect, it } from 'vitest';
import {
  NATIONAL_CLOUDS,
  PUBLIC_AUTHORITY_HOSTS,
  graphScope,
  isPublicAuthorityHost,
  isPublicGraphEndpoint,
  resolveGraphEndpoints,
  validateGraphEndpoints,
} from '../../../shared/auth/index.js';
import { ConfigError } from '../../../shared/errors.js';

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('national clouds', () => {
  it('has the published authority hosts and Graph endpoints', () => {
    expect(NATIONAL_CLOUDS).toEqual({
      global: {
        authorityHost: 'https://login.microsoftonline.com',
        graphEndpoint: 'https://graph.microsoft.com',
      },
      usgov: {
        authorityHost: 'https://login.microsoftonline.us',
        graphEndpoint: 'https://graph.microsoft.us',
      },
      usgovdod: {
        authorityHost: 'https://login.microsoftonline.us',
        graphEndpoint: 'https://dod-graph.microsoft.us',
      },
      china: {
        authorityHost: 'https://login.chinacloudapi.cn',
        graphEndpoint: 'https://microsoftgraph.chinacloudapi.cn',
      },
    });
    expect([...PUBLIC_AUTHORITY_HOSTS].sort()).toEqual([
      'https://login.chinacloudapi.cn',
      'https://login.microsoftonline.com',
      'https://login.microsoftonline.us',
    ]);
  });

  it.each([
    ['global', 'https://login.microsoftonline.com', 'https://graph.microsoft.com'],
    ['usgov', 'https://login.microsoftonline.us', 'https://graph.microsoft.us'],
    ['usgovdod', 'https://login.microsoftonline.us', 'https://dod-graph.microsoft.us'],
    ['china', 'https://login.chinacloudapi.cn', 'https://microsoftgraph.chinacloudapi.cn'],
  ])('resolves %s', (cloud, authorityHost, graphEndpoint) => {
    expect(resolveGraphEndpoints({ cloud })).toEqual({
      cloud,
      authorityHost,
      graphEndpoint,
      overridden: false,
    });
  });

  it('defaults to global (also for empty strings, as unset app settings arrive)', () => {
    expect(resolveGraphEndpoints()).toMatchObject(NATIONAL_CLOUDS.global);
    expect(resolveGraphEndpoints({ cloud: '', authorityHost: '', graphEndpoint: '  ' })).toEqual({
      cloud: 'global',
      ...NATIONAL_CLOUDS.global,
      overridden: false,
    });
  });

  it('accepts case-insensitive names and Azure CLI aliases', () => {
    expect(resolveGraphEndpoints({ cloud: 'USGov' }).cloud).toBe('usgov');
    expect(resolveGraphEndpoints({ cloud: 'AzureUSGovernment' }).cloud).toBe('usgov');
    expect(resolveGraphEndpoints({ cloud: 'AzureChinaCloud' }).cloud).toBe('china');
    expect(resolveGraphEndpoints({ cloud: 'AzureCloud' }).cloud).toBe('global');
    expect(resolveGraphEndpoints({ cloud: 'dod' }).cloud).toBe('usgovdod');
  });

  it('rejects an unknown cloud, naming the valid ones', () => {
    expect(problemsOf(() => resolveGraphEndpoints({ cloud: 'mars' }))).toEqual([
      'cloud must be one of global, usgov, usgovdod, china',
    ]);
    // GCC (moderate) uses the global endpoints: no alias that would silently pick GCC High.
    expect(validateGraphEndpoints({ cloud: 'gcc' }).problems).toHaveLength(1);
  });
});

describe('endpoint overrides', () => {
  it('explicit URLs override the cloud (local Graph simulator)', () => {
    expect(
      resolveGraphEndpoints({
        cloud: 'usgov',
        authorityHost: 'https://127.0.0.1:8443/',
        graphEndpoint: 'https://localhost:9443/graph/',
      }),
    ).toEqual({
      cloud: 'usgov',
      authorityHost: 'https://127.0.0.1:8443',
      graphEndpoint: 'https://localhost:9443/graph',
      overridden: true,
    });
  });

  it('overrides one URL and keeps the cloud default for the other', () => {
    expect(resolveGraphEndpoints({ cloud: 'china', graphEndpoint: 'https://graph.local:4443' })).toEqual({
      cloud: 'china',
      authorityHost: 'https://login.chinacloudapi.cn',
      graphEndpoint: 'https://graph.local:4443',
      overridden: true,
    });
  });

  it('rejects http for both, listing every problem', () => {
    expect(
      problemsOf(() =>
        resolveGraphEndpoints({
          authorityHost: 'http://127.0.0.1:8080',
          graphEndpoint: 'http://127.0.0.1:8081',
        }),
      ),
    ).toEqual([
      'authorityHost must use https (got http); @azure/identity and Graph only accept https endpoints',
      'graphEndpoint must use https (got http); @azure/identity and Graph only accept https endpoints',
    ]);
  });

  it('collects the cloud problem together with URL problems', () => {
    expect(
      problemsOf(() =>
        resolveGraphEndpoints({ cloud: 'nope', authorityHost: 'not a url', graphEndpoint: 'ftp://x' }),
      ),
    ).toHaveLength(3);
  });

  it('rejects malformed URLs without echoing them', () => {
    const pasted = 'Zk8Q~s3cr3t-value-pasted-into-the-wrong-setting';
    const problems = problemsOf(() => resolveGraphEndpoints({ authorityHost: pasted }));
    expect(problems).toEqual([
      'authorityHost is not a valid URL (expected something like https://login.microsoftonline.com)',
    ]);
    expect(problems.join('\n')).not.toContain(pasted);
  });

  it('rejects credentials, queries and fragments in URLs without echoing them', () => {
    const problems = problemsOf(() =>
      resolveGraphEndpoints({
        authorityHost: 'https://user:hunter2@login.local',
        graphEndpoint: 'https://g.local/?a=1',
      }),
    );
    expect(problems).toEqual([
      'authorityHost must not contain a user name or password',
      'graphEndpoint must not contain a query string or fragment (expected something like https://graph.microsoft.com)',
    ]);
    expect(problems.join('\n')).not.toContain('hunter2');
  });

  it('rejects a Graph endpoint with a version segment', () => {
    expect(
      problemsOf(() => resolveGraphEndpoints({ graphEndpoint: 'https://graph.microsoft.com/v1.0/' })),
    ).toEqual([
      'graphEndpoint must be the Graph root without a version segment (e.g. https://graph.microsoft.com, not .../v1.0)',
    ]);
  });

  it('rejects a public authority host with a tenant path', () => {
    expect(
      problemsOf(() =>
        resolveGraphEndpoints({ authorityHost: 'https://login.microsoftonline.com/contoso.com' }),
      ),
    ).toEqual([
      'authorityHost must be the host only (e.g. https://login.microsoftonline.com); the tenant is a separate setting',
    ]);
  });

  it('validateGraphEndpoints does not throw', () => {
    expect(validateGraphEndpoints({ authorityHost: 'http://x' })).toEqual({
      problems: [
        'authorityHost must use https (got http); @azure/identity and Graph only accept https endpoints',
      ],
    });
    expect(validateGraphEndpoints({}).problems).toEqual([]);
  });
});

describe('graphScope', () => {
  it.each([
    ['https://graph.microsoft.com', 'https://graph.microsoft.com/.default'],
    ['https://graph.microsoft.com/', 'https://graph.microsoft.com/.default'],
    ['https://dod-graph.microsoft.us', 'https://dod-graph.microsoft.us/.default'],
    ['https://microsoftgraph.chinacloudapi.cn', 'https://microsoftgraph.chinacloudapi.cn/.default'],
    ['https://localhost:9443/graph', 'https://localhost:9443/.default'],
  ])('%s → %s', (endpoint, scope) => {
    expect(graphScope(endpoint)).toBe(scope);
  });

  it('rejects a non-URL', () => {
    expect(problemsOf(() => graphScope('graph'))).toEqual(['graphEndpoint is not a valid URL']);
  });
});

describe('public host detection', () => {
  it('knows the public authority hosts and Graph endpoints', () => {
    expect(isPublicAuthorityHost('https://login.microsoftonline.com')).toBe(true);
    expect(isPublicAuthorityHost('https://login.microsoftonline.us/')).toBe(true);
    expect(isPublicAuthorityHost('https://login.chinacloudapi.cn')).toBe(true);
    expect(isPublicAuthorityHost('https://127.0.0.1:8443')).toBe(false);
    expect(isPublicAuthorityHost('https://login.microsoftonline.com.evil.example')).toBe(false);
    expect(isPublicAuthorityHost('https://login.microsoftonline.com/sim')).toBe(false);
    expect(isPublicGraphEndpoint('https://dod-graph.microsoft.us')).toBe(true);
    expect(isPublicGraphEndpoint('https://localhost:9443')).toBe(false);
  });
});
