import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SETTINGS, describeSettings, loadSettings } from '../../../shared/config/settings.js';
import { ConfigError } from '../../../shared/errors.js';

const local = {
  TABLES_CONNECTION_STRING:
    'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=c2VjcmV0LWtleQ==;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;',
  ServiceBusConnection:
    'Endpoint=sb://127.0.0.1:5672;SharedAccessKeyName=Root;SharedAccessKey=topsecretkey;UseDevelopmentEmulator=true',
  GRAPH_TENANT_ID: '84bd8158-6d4d-4958-8b9f-9d6445542f95',
  GRAPH_CLIENT_ID: '6731de76-14a6-49ae-97bc-6eba6914391e',
  GRAPH_CLIENT_SECRET: 'Zk8Q~graph-secret-value-1234567890',
  PUBLIC_BASE_URL: 'https://func-mailpush.azurewebsites.net/',
  DEVICE_API_AUDIENCE: 'api://mailpush-devices',
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadSettings(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('loadSettings', () => {
  it('applies defaults', () => {
    const settings = loadSettings(local);
    expect(settings).toMatchObject({
      notificationQueueName: 'mail-notifications',
      subscriptionCacheSeconds: 60,
      unknownSubscriptionCacheSeconds: 10,
      logLevel: 'info',
      tables: { kind: 'connectionString', tablePrefix: 'mailpush' },
      serviceBus: { kind: 'connectionString' },
    });
  });

  it('MAINTENANCE_LEASE_SECONDS: 300 by default, 30 to 600', () => {
    expect(loadSettings(local).maintenance.leaseDurationMs).toBe(300_000);
    expect(loadSettings({ ...local, MAINTENANCE_LEASE_SECONDS: '30' }).maintenance.leaseDurationMs).toBe(
      30_000,
    );
    for (const bad of ['29', '601', 'soon']) {
      expect(problemsOf({ ...local, MAINTENANCE_LEASE_SECONDS: bad }).join()).toMatch(
        /^MAINTENANCE_LEASE_SECONDS/,
      );
    }
  });

  it('a list setting never echoes an item of a value that may carry a key (found by the settings fuzz)', () => {
    for (const name of ['DEVICE_API_AUDIENCE', 'ENROLMENT_GROUP_IDS']) {
      const message = problemsOf({ ...local, [name]: '-----BEGIN PRIVATE KEY-----MIIEv,=' }).join('\n');
      expect(message).toContain(name);
      expect(message).not.toContain('MIIEv');
      // Without "=" or ";" anywhere, the wrong item is quoted, as before.
      expect(problemsOf({ ...local, [name]: 'api:/x y,not-a-guid' }).join('\n')).toMatch(/"/);
    }
  });

  it('never echoes a value with a PEM marker, whatever its case (found by the settings fuzz)', () => {
    for (const [name, value] of [
      ['SUBSCRIPTION_WRITES_PER_20_SECONDS', '-----BEGIN PRIVATE KEY-----MIIEv'],
      ['PUSH_PROVIDER', '-----BEGIN PRIVATE KEY-----MIIEv'],
    ] as const) {
      const message = problemsOf({ ...local, [name]: value }).join('\n');
      expect(message).toContain(name);
      expect(message.toLowerCase()).not.toContain('miiev');
    }
  });

  it('reads the Azure (managed identity) form', () => {
    const settings = loadSettings({
      ...local,
      TABLES_CONNECTION_STRING: '',
      ServiceBusConnection: '',
      TABLES_ENDPOINT: 'https://stabc.table.core.windows.net/',
      ServiceBusConnection__fullyQualifiedNamespace: 'sb-abc.servicebus.windows.net',
      AZURE_CLIENT_ID: '11111111-1111-1111-1111-111111111111',
    });
    expect(settings.tables).toEqual({
      kind: 'endpoint',
      endpoint: 'https://stabc.table.core.windows.net',
      tablePrefix: 'mailpush',
    });
    expect(settings.serviceBus).toEqual({
      kind: 'namespace',
      fullyQualifiedNamespace: 'sb-abc.servicebus.windows.net',
    });
    expect(settings.managedIdentityClientId).toBe('11111111-1111-1111-1111-111111111111');
  });

  it('lists every problem at once, naming each setting', () => {
    const problems = problemsOf({
      TABLE_NAME_PREFIX: '1bad-prefix',
      SUBSCRIPTION_CACHE_SECONDS: 'soon',
      LOG_LEVEL: 'loud',
      NOTIFICATION_QUEUE_NAME: 'bad queue',
    });
    expect(problems.map((p) => p.split(':')[0])).toEqual([
      'TABLE_NAME_PREFIX',
      'TABLES_CONNECTION_STRING or TABLES_ENDPOINT',
      'ServiceBusConnection or ServiceBusConnection__fullyQualifiedNamespace',
      'NOTIFICATION_QUEUE_NAME',
      'SUBSCRIPTION_CACHE_SECONDS',
      'LOG_LEVEL',
      'GRAPH_TENANT_ID',
      'GRAPH_CLIENT_ID',
      'GRAPH_CLIENT_SECRET, GRAPH_CLIENT_CERTIFICATE_PATH or GRAPH_CLIENT_CERTIFICATE_BASE64',
      'PUBLIC_BASE_URL',
      'DEVICE_API_AUDIENCE',
      'DEVICE_API_TENANT_ID',
    ]);
  });

  it('refuses both forms of one connection', () => {
    expect(problemsOf({ ...local, TABLES_ENDPOINT: 'https://x.table.core.windows.net' }).join()).toMatch(
      /set only one/,
    );
  });

  it('refuses a plain-http table endpoint', () => {
    expect(
      problemsOf({ ...local, TABLES_CONNECTION_STRING: '', TABLES_ENDPOINT: 'http://x' }).join(),
    ).toMatch(/https URL/);
  });

  it('never echoes secret values in its errors', () => {
    const problems = problemsOf({
      TABLES_CONNECTION_STRING: 'AccountKey=verysecret-no-account',
      ServiceBusConnection: 'SharedAccessKey=sbsecret',
      GRAPH_CLIENT_SECRET: ' graphsecret-with-space ',
      GRAPH_CLIENT_CERTIFICATE_PASSWORD: 'pfxpassword',
    });
    const text = problems.join('\n');
    expect(text).toMatch(/TABLES_CONNECTION_STRING/);
    expect(text).not.toContain('verysecret');
    expect(text).not.toContain('sbsecret');
    expect(text).not.toContain('graphsecret');
    expect(text).not.toContain('pfxpassword');
  });

  it('reads the Graph settings and resolves national clouds', () => {
    expect(loadSettings(local).graph).toMatchObject({
      tenantId: local.GRAPH_TENANT_ID,
      credential: { kind: 'secret' },
      authorityHost: 'https://login.microsoftonline.com',
      graphEndpoint: 'https://graph.microsoft.com',
      publicBaseUrl: 'https://func-mailpush.azurewebsites.net',
    });
    expect(loadSettings({ ...local, GRAPH_CLOUD: 'usgovdod' }).graph).toMatchObject({
      authorityHost: 'https://login.microsoftonline.us',
      graphEndpoint: 'https://dod-graph.microsoft.us',
    });
    expect(loadSettings({ ...local, GRAPH_CLOUD: 'china' }).graph.graphEndpoint).toBe(
      'https://microsoftgraph.chinacloudapi.cn',
    );
  });

  it('refuses a plain-http public URL except on loopback (the local simulator)', () => {
    expect(problemsOf({ ...local, PUBLIC_BASE_URL: 'http://func.example.com' }).join()).toMatch(
      /PUBLIC_BASE_URL/,
    );
    expect(loadSettings({ ...local, PUBLIC_BASE_URL: 'http://127.0.0.1:7071' }).graph.publicBaseUrl).toBe(
      'http://127.0.0.1:7071',
    );
  });

  it('refuses two Graph credentials at once and a missing certificate file', () => {
    expect(problemsOf({ ...local, GRAPH_CLIENT_CERTIFICATE_PATH: '/nope.pfx' }).join()).toMatch(
      /set exactly one/,
    );
    expect(
      problemsOf({
        ...local,
        GRAPH_CLIENT_SECRET: '',
        GRAPH_CLIENT_CERTIFICATE_PATH: '/nonexistent/cert.pfx',
      }).join(),
    ).toMatch(/GRAPH_CLIENT_CERTIFICATE_PATH: file not found/);
  });
});

describe('CLIENT_STATE_KEYS', () => {
  const k1 = Buffer.alloc(32, 0x5a).toString('base64');
  const k2 = Buffer.alloc(32, 0xa5).toString('base64');

  it('is optional: unset means unsigned clientStates, as before', () => {
    expect(loadSettings(local).clientStateKeys).toBeUndefined();
  });

  it('reads the keys, the first one signing', () => {
    const keys = loadSettings({ ...local, CLIENT_STATE_KEYS: `k2:${k2},k1:${k1}` }).clientStateKeys;
    expect(keys?.signingKeyId).toBe('k2');
    expect([...(keys?.keys.keys() ?? [])]).toEqual(['k2', 'k1']);
  });

  it.each([
    ['a short key', `k1:${Buffer.alloc(16, 0x5a).toString('base64')}`],
    ['a key without an id', k1],
    ['a duplicate key id', `k1:${k1},k1:${k2}`],
    ['a garbled key', `k1:${k1.slice(0, 20)}!!!${k1.slice(23)}`],
  ])('refuses %s with a ConfigError naming the setting, never the value', (_name, value) => {
    const problems = problemsOf({ ...local, CLIENT_STATE_KEYS: value });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^CLIENT_STATE_KEYS: /);
    const text = problems.join('\n');
    expect(text).not.toContain(value);
    expect(text).not.toContain(k1.slice(0, 12));
    expect(text).not.toContain(k2.slice(0, 12));
  });

  it('is a secret: the effective configuration hides it', () => {
    expect(describeSettings({ ...local, CLIENT_STATE_KEYS: `k1:${k1}` }).CLIENT_STATE_KEYS).toBe(
      '(set, hidden)',
    );
  });
});

describe('describeSettings', () => {
  it('hides secret values and marks defaults', () => {
    const described = describeSettings(local);
    expect(JSON.stringify(described)).not.toContain('topsecretkey');
    expect(JSON.stringify(described)).not.toContain('c2VjcmV0LWtleQ');
    expect(described.ServiceBusConnection).toBe('(set, hidden)');
    expect(described.NOTIFICATION_QUEUE_NAME).toBe('mail-notifications (default)');
  });
});

describe('documentation', () => {
  it('docs/settings.md and local.settings.example.json name every setting; the README links to it', () => {
    const page = readFileSync(new URL('../../../docs/settings.md', import.meta.url), 'utf8');
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const example = readFileSync(new URL('../../../local.settings.example.json', import.meta.url), 'utf8');
    for (const spec of SETTINGS) {
      expect(page, `docs/settings.md lacks ${spec.name}: run \`npm run docs:settings\``).toContain(
        `\`${spec.name}\``,
      );
    }
    expect(readme).toContain('docs/settings.md');
    expect(example).toContain('ServiceBusConnection');
    expect(example).toContain('TABLES_CONNECTION_STRING');
  });
});
