import { describe, expect, it } from 'vitest';
import { readPushSettings, PUSH_SETTING_SPECS, type PushSettings } from '../../../shared/push/settings.js';

const HUB_KEY = 'k3y/Secret+Value0123456789abcdefghijklmnopq=';
const HUB_CONNECTION = `Endpoint=sb://contoso-push.servicebus.windows.net/;SharedAccessKeyName=DefaultFullSharedAccessSignature;SharedAccessKey=${HUB_KEY}`;
const WEBHOOK_SECRET = 'wh-secret-value-0123456789abcdef0123456789';

function read(env: Record<string, string>): { settings: PushSettings | undefined; problems: string[] } {
  const problems: string[] = [];
  const get = (name: string) => {
    const value = env[name]?.trim();
    return value ? value : undefined;
  };
  return { settings: readPushSettings(get, problems), problems };
}

describe('readPushSettings', () => {
  it('defaults to the local sink writing .local/pushes.jsonl', () => {
    expect(read({})).toEqual({
      settings: { provider: 'local', localSinkFile: '.local/pushes.jsonl' },
      problems: [],
    });
    expect(read({ PUSH_PROVIDER: 'local', LOCAL_PUSH_SINK_FILE: '/tmp/p.jsonl' }).settings).toEqual({
      provider: 'local',
      localSinkFile: '/tmp/p.jsonl',
    });
  });

  it('refuses the local sink in Azure, naming WEBSITE_INSTANCE_ID, also when it is only the default', () => {
    const implicit = read({ WEBSITE_INSTANCE_ID: 'abc123' });
    expect(implicit.settings).toBeUndefined();
    expect(implicit.problems).toHaveLength(1);
    expect(implicit.problems[0]).toMatch(/^PUSH_PROVIDER: not set, so "local".*WEBSITE_INSTANCE_ID/);
    const explicit = read({ PUSH_PROVIDER: 'local', WEBSITE_INSTANCE_ID: 'abc123' });
    expect(explicit.problems[0]).toMatch(
      /^PUSH_PROVIDER: "local".*refused.*WEBSITE_INSTANCE_ID.*notification-hubs or webhook/,
    );
  });

  it('reads Notification Hubs settings', () => {
    expect(
      read({
        PUSH_PROVIDER: 'notification-hubs',
        NOTIFICATION_HUB_CONNECTION_STRING: HUB_CONNECTION,
        NOTIFICATION_HUB_NAME: 'mailpush',
        WEBSITE_INSTANCE_ID: 'abc123',
      }),
    ).toEqual({
      settings: {
        provider: 'notification-hubs',
        notificationHubs: { connectionString: HUB_CONNECTION, hubName: 'mailpush' },
      },
      problems: [],
    });
  });

  it('lists every Notification Hubs problem at once', () => {
    expect(read({ PUSH_PROVIDER: 'notification-hubs' }).problems).toEqual([
      expect.stringMatching(/^NOTIFICATION_HUB_CONNECTION_STRING: required/),
      expect.stringMatching(/^NOTIFICATION_HUB_NAME: required/),
    ]);
    const bad = read({
      PUSH_PROVIDER: 'notification-hubs',
      NOTIFICATION_HUB_CONNECTION_STRING: `Endpoint=https://x/;SharedAccessKeyName=a;SharedAccessKey=${HUB_KEY}`,
      NOTIFICATION_HUB_NAME: '-bad/name',
    });
    expect(bad.settings).toBeUndefined();
    expect(bad.problems).toEqual([
      expect.stringMatching(/^NOTIFICATION_HUB_CONNECTION_STRING: Endpoint must look like sb:\/\//),
      expect.stringMatching(/^NOTIFICATION_HUB_NAME: expected letters/),
    ]);
  });

  it.each([
    [
      'no key',
      'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=DefaultFullSharedAccessSignature',
      /SharedAccessKey are both required/,
    ],
    [
      'no endpoint',
      `SharedAccessKeyName=DefaultFullSharedAccessSignature;SharedAccessKey=${HUB_KEY}`,
      /Endpoint=sb:/,
    ],
    [
      'not key=value',
      'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=x;k3yWithoutEquals',
      /Key=Value/,
    ],
    [
      'listen-only policy',
      `Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=DefaultListenSharedAccessSignature;SharedAccessKey=${HUB_KEY}`,
      /cannot send/,
    ],
  ])('refuses a connection string with %s, without showing it', (_case, value, message) => {
    const { problems } = read({
      PUSH_PROVIDER: 'notification-hubs',
      NOTIFICATION_HUB_CONNECTION_STRING: value,
      NOTIFICATION_HUB_NAME: 'mailpush',
    });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
    expect(problems[0]).toContain('value not shown');
    expect(problems[0]).not.toContain(HUB_KEY);
    expect(problems[0]).not.toContain('k3y');
  });

  it('reads webhook settings; plain http only on loopback', () => {
    expect(
      read({
        PUSH_PROVIDER: 'webhook',
        PUSH_WEBHOOK_URL: 'https://push.contoso.example/mail',
        PUSH_WEBHOOK_SECRET: WEBHOOK_SECRET,
      }).settings,
    ).toEqual({
      provider: 'webhook',
      webhook: { url: 'https://push.contoso.example/mail', secret: WEBHOOK_SECRET },
    });
    expect(
      read({
        PUSH_PROVIDER: 'webhook',
        PUSH_WEBHOOK_URL: 'http://127.0.0.1:8080/push',
        PUSH_WEBHOOK_SECRET: WEBHOOK_SECRET,
      }).problems,
    ).toEqual([]);
  });

  it('lists every webhook problem at once and never echoes the secret', () => {
    expect(read({ PUSH_PROVIDER: 'webhook' }).problems).toEqual([
      expect.stringMatching(/^PUSH_WEBHOOK_URL: required/),
      expect.stringMatching(/^PUSH_WEBHOOK_SECRET: required/),
    ]);
    const shortSecret = 'tooShortSecretValue';
    const bad = read({
      PUSH_PROVIDER: 'webhook',
      PUSH_WEBHOOK_URL: 'http://push.contoso.example/mail',
      PUSH_WEBHOOK_SECRET: shortSecret,
    });
    expect(bad.settings).toBeUndefined();
    expect(bad.problems).toEqual([
      expect.stringMatching(/^PUSH_WEBHOOK_URL: expected https/),
      expect.stringMatching(
        /^PUSH_WEBHOOK_SECRET: too short, expected at least 32 characters \(value not shown\)/,
      ),
    ]);
    expect(bad.problems.join('\n')).not.toContain(shortSecret);
  });

  it('refuses credentials in the webhook URL without echoing them', () => {
    const { problems } = read({
      PUSH_PROVIDER: 'webhook',
      PUSH_WEBHOOK_URL: 'https://svc:hunter2@push.contoso.example/mail',
      PUSH_WEBHOOK_SECRET: WEBHOOK_SECRET,
    });
    expect(problems).toEqual([expect.stringMatching(/^PUSH_WEBHOOK_URL: must not contain credentials/)]);
    expect(problems[0]).not.toContain('hunter2');
  });

  it('refuses an unknown provider, listing the valid ones', () => {
    expect(read({ PUSH_PROVIDER: 'apns-direct' }).problems).toEqual([
      'PUSH_PROVIDER: expected notification-hubs, webhook or local, got "apns-direct"',
    ]);
  });

  it('never puts a secret value in any problem, whatever else is wrong', () => {
    const { problems } = read({
      PUSH_PROVIDER: 'notification-hubs',
      NOTIFICATION_HUB_CONNECTION_STRING: `garbage;${HUB_KEY}`,
      PUSH_WEBHOOK_SECRET: WEBHOOK_SECRET,
    });
    const text = problems.join('\n');
    expect(problems.length).toBeGreaterThan(0);
    expect(text).not.toContain(HUB_KEY);
    expect(text).not.toContain(WEBHOOK_SECRET);
  });
});

describe('PUSH_SETTING_SPECS', () => {
  it('declares every setting the reader uses, secrets marked', () => {
    expect(PUSH_SETTING_SPECS.map((s) => s.name)).toEqual([
      'PUSH_PROVIDER',
      'NOTIFICATION_HUB_CONNECTION_STRING',
      'NOTIFICATION_HUB_NAME',
      'PUSH_WEBHOOK_URL',
      'PUSH_WEBHOOK_SECRET',
      'LOCAL_PUSH_SINK_FILE',
    ]);
    expect(PUSH_SETTING_SPECS.filter((s) => s.secret).map((s) => s.name)).toEqual([
      'NOTIFICATION_HUB_CONNECTION_STRING',
      'PUSH_WEBHOOK_SECRET',
    ]);
    const defaults = Object.fromEntries(
      PUSH_SETTING_SPECS.flatMap((s) => ('default' in s ? [[s.name, s.default]] : [])),
    );
    expect(defaults).toEqual({ PUSH_PROVIDER: 'local', LOCAL_PUSH_SINK_FILE: '.local/pushes.jsonl' });
  });
});
