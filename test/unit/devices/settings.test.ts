import { describe, expect, it } from 'vitest';
import {
  DEVICE_SETTING_SPECS,
  readDeviceApiSettings,
  type DeviceApiSettings,
} from '../../../shared/devices/settings.js';

const TENANT = '72F988BF-86F1-41AF-91AB-2D7CD011DB47';
const tenant = TENANT.toLowerCase();

function read(env: Record<string, string>, graphTenantId: string | null = TENANT) {
  const problems: string[] = [];
  const settings = readDeviceApiSettings((name) => env[name], problems, {
    graphTenantId: graphTenantId ?? undefined,
  });
  return { settings, problems };
}

describe('readDeviceApiSettings', () => {
  it('needs only the audience; tenant from GRAPH_TENANT_ID, global authority, 120 s skew', () => {
    const { settings, problems } = read({ DEVICE_API_AUDIENCE: 'api://mailpush' });
    expect(problems).toEqual([]);
    expect(settings).toEqual<DeviceApiSettings>({
      audiences: ['api://mailpush'],
      tenantId: tenant,
      authorityHost: 'https://login.microsoftonline.com',
      issuers: [`https://login.microsoftonline.com/${tenant}/v2.0`, `https://sts.windows.net/${tenant}/`],
      jwksUri: `https://login.microsoftonline.com/${tenant}/discovery/v2.0/keys`,
      clockToleranceSec: 120,
    });
  });

  it('takes several audiences (App ID URI and client id)', () => {
    const { settings } = read({
      DEVICE_API_AUDIENCE: ' api://mailpush , 6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b ',
    });
    expect(settings?.audiences).toEqual(['api://mailpush', '6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b']);
  });

  it('DEVICE_API_TENANT_ID overrides GRAPH_TENANT_ID', () => {
    const other = '0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a';
    const { settings } = read({ DEVICE_API_AUDIENCE: 'api://x', DEVICE_API_TENANT_ID: other });
    expect(settings?.tenantId).toBe(other);
  });

  it('needs a GUID tenant when GRAPH_TENANT_ID is a domain, and says which setting to set', () => {
    const { settings, problems } = read({ DEVICE_API_AUDIENCE: 'api://x' }, 'contoso.onmicrosoft.com');
    expect(settings).toBeUndefined();
    expect(problems).toEqual([expect.stringMatching(/^DEVICE_API_TENANT_ID: .*domain name/)]);
  });

  it('reports a non-GUID DEVICE_API_TENANT_ID', () => {
    const { problems } = read({ DEVICE_API_AUDIENCE: 'api://x', DEVICE_API_TENANT_ID: 'contoso.example' });
    expect(problems).toEqual([expect.stringMatching(/^DEVICE_API_TENANT_ID: expected .*GUID/)]);
  });

  it('reports a missing tenant when there is no GRAPH_TENANT_ID either', () => {
    const { problems } = read({ DEVICE_API_AUDIENCE: 'api://x' }, null);
    expect(problems).toEqual([expect.stringMatching(/^DEVICE_API_TENANT_ID: required/)]);
  });

  it('reports every problem at once', () => {
    const { settings, problems } = read({
      DEVICE_API_AUTHORITY_HOST: 'http://login.example',
      DEVICE_API_CLOCK_SKEW_SECONDS: '9999',
    });
    expect(settings).toBeUndefined();
    expect(problems.map((p) => p.split(':')[0])).toEqual([
      'DEVICE_API_AUDIENCE',
      'DEVICE_API_AUTHORITY_HOST',
      'DEVICE_API_CLOCK_SKEW_SECONDS',
    ]);
  });

  it.each(['not a uri', 'mailpush', 'api:// spaced'])('refuses audience %j', (audience) => {
    expect(read({ DEVICE_API_AUDIENCE: audience }).problems).toEqual([
      expect.stringMatching(/^DEVICE_API_AUDIENCE: .*neither/),
    ]);
  });

  it.each([
    'https://login.example/tenant',
    'https://login.example?x=1',
    'not a url',
    'http://127.0.0.1:9999',
  ])('refuses authority host %j', (host) => {
    expect(read({ DEVICE_API_AUDIENCE: 'api://x', DEVICE_API_AUTHORITY_HOST: host }).problems).toEqual([
      expect.stringMatching(/^DEVICE_API_AUTHORITY_HOST: /),
    ]);
  });

  it('a local authority host: issuers and keys on that host, trailing slash trimmed', () => {
    const { settings } = read({
      DEVICE_API_AUDIENCE: 'api://x',
      DEVICE_API_AUTHORITY_HOST: 'https://127.0.0.1:8443/',
    });
    expect(settings?.issuers).toEqual([
      `https://127.0.0.1:8443/${tenant}/v2.0`,
      `https://127.0.0.1:8443/${tenant}/`,
    ]);
    expect(settings?.jwksUri).toBe(`https://127.0.0.1:8443/${tenant}/discovery/v2.0/keys`);
  });

  it('national clouds use their own v1 issuer', () => {
    const china = read({
      DEVICE_API_AUDIENCE: 'api://x',
      DEVICE_API_AUTHORITY_HOST: 'https://login.chinacloudapi.cn',
    });
    expect(china.settings?.issuers).toContain(`https://sts.chinacloudapi.cn/${tenant}/`);
    const usgov = read({
      DEVICE_API_AUDIENCE: 'api://x',
      DEVICE_API_AUTHORITY_HOST: 'https://login.microsoftonline.us',
    });
    expect(usgov.settings?.issuers).toContain(`https://login.microsoftonline.us/${tenant}/v2.0`);
  });

  it.each([
    ['0', 0],
    ['600', 600],
  ])('accepts a clock skew of %s', (raw, expected) => {
    expect(
      read({ DEVICE_API_AUDIENCE: 'api://x', DEVICE_API_CLOCK_SKEW_SECONDS: raw }).settings
        ?.clockToleranceSec,
    ).toBe(expected);
  });

  it.each(['-1', '601', '1.5', 'ten'])('refuses a clock skew of %s', (raw) => {
    expect(
      read({ DEVICE_API_AUDIENCE: 'api://x', DEVICE_API_CLOCK_SKEW_SECONDS: raw }).problems,
    ).toHaveLength(1);
  });
});

describe('DEVICE_SETTING_SPECS', () => {
  it('lists every setting the reader reads, none secret, with the defaults it applies', () => {
    const read: string[] = [];
    readDeviceApiSettings((name) => (read.push(name), undefined), [], { graphTenantId: TENANT });
    expect(DEVICE_SETTING_SPECS.map((s) => s.name).sort()).toEqual([...new Set(read)].sort());
    expect(DEVICE_SETTING_SPECS.every((s) => !s.secret)).toBe(true);
    const defaults = Object.fromEntries(
      DEVICE_SETTING_SPECS.map((s) => [s.name, 'default' in s ? s.default : undefined]),
    );
    expect(defaults).toMatchObject({
      DEVICE_API_AUTHORITY_HOST: 'https://login.microsoftonline.com',
      DEVICE_API_CLOCK_SKEW_SECONDS: '120',
    });
  });
});
