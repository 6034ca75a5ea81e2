/**
 * Push settings: which provider, and its connection. Read once at start-up with the app's
 * `get` (trimmed, empty = unset); every problem is pushed onto `problems` naming the setting and
 * what is expected, never a secret's value.
 */
import { LocalSinkPushProvider } from './local-sink.js';
import { NotificationHubsPushProvider } from './notification-hubs.js';
import { MIN_WEBHOOK_SECRET_LENGTH, SignedWebhookPushProvider, webhookUrlProblem } from './gateway.js';
import type { PushProvider } from '../domain/ports.js';
import { meterPushProvider } from '../telemetry/recorders.js';
import { echoValue } from '../errors.js';

export type PushProviderKind = 'notification-hubs' | 'webhook' | 'local';

export type PushSettings =
  | { provider: 'notification-hubs'; notificationHubs: { connectionString: string; hubName: string } }
  | { provider: 'webhook'; webhook: { url: string; secret: string } }
  | { provider: 'local'; localSinkFile: string };

export const DEFAULT_LOCAL_PUSH_SINK_FILE = '.local/pushes.jsonl';
const PROVIDERS: readonly PushProviderKind[] = ['notification-hubs', 'webhook', 'local'];

export const PUSH_SETTING_SPECS = [
  {
    name: 'PUSH_PROVIDER',
    secret: false,
    default: 'local',
    description:
      '`notification-hubs`, `webhook` or `local` (records pushes in a file; refused in Azure, where WEBSITE_INSTANCE_ID is set).',
  },
  {
    name: 'NOTIFICATION_HUB_CONNECTION_STRING',
    secret: true,
    description:
      'Notification Hubs access policy connection string (`Endpoint=sb://<namespace>.servicebus.windows.net/;SharedAccessKeyName=…;SharedAccessKey=…`) with Listen and Send rights, e.g. DefaultFullSharedAccessSignature. Required for `notification-hubs`.',
  },
  {
    name: 'NOTIFICATION_HUB_NAME',
    secret: false,
    description: 'Name of the notification hub in that namespace. Required for `notification-hubs`.',
  },
  {
    name: 'PUSH_WEBHOOK_URL',
    secret: false,
    description:
      'https URL of the push gateway that receives signed pushes (plain http only on loopback). Required for `webhook`.',
  },
  {
    name: 'PUSH_WEBHOOK_SECRET',
    secret: true,
    description: `HMAC-SHA256 key shared with the push gateway, at least ${MIN_WEBHOOK_SECRET_LENGTH} characters. Required for \`webhook\`.`,
  },
  {
    name: 'LOCAL_PUSH_SINK_FILE',
    secret: false,
    default: DEFAULT_LOCAL_PUSH_SINK_FILE,
    description: 'JSON-lines file the `local` provider appends each push to.',
  },
] as const;

/** Notification Hubs: letters, digits, '.', '-', '_'; starts and ends with a letter or digit; ≤ 260. */
const HUB_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,258}[A-Za-z0-9])?$/;

export function readPushSettings(
  get: (name: string) => string | undefined,
  problems: string[],
): PushSettings | undefined {
  const before = problems.length;
  const explicit = get('PUSH_PROVIDER');
  const provider = (explicit ?? 'local').toLowerCase();
  if (!PROVIDERS.includes(provider as PushProviderKind)) {
    problems.push(
      `PUSH_PROVIDER: expected notification-hubs, webhook or local, got ${echoValue(provider, 40)}`,
    );
    return undefined;
  }

  switch (provider as PushProviderKind) {
    case 'local': {
      if (get('WEBSITE_INSTANCE_ID') !== undefined) {
        problems.push(
          `PUSH_PROVIDER: ${explicit ? '"local"' : 'not set, so "local"'}, which only records pushes in a file, is refused when running in Azure (WEBSITE_INSTANCE_ID is set); set PUSH_PROVIDER to notification-hubs or webhook`,
        );
      }
      const localSinkFile = get('LOCAL_PUSH_SINK_FILE') ?? DEFAULT_LOCAL_PUSH_SINK_FILE;
      return problems.length > before ? undefined : { provider: 'local', localSinkFile };
    }

    case 'notification-hubs': {
      const connectionString = get('NOTIFICATION_HUB_CONNECTION_STRING');
      if (!connectionString) {
        problems.push(
          'NOTIFICATION_HUB_CONNECTION_STRING: required when PUSH_PROVIDER is notification-hubs (Endpoint=sb://<namespace>.servicebus.windows.net/;SharedAccessKeyName=…;SharedAccessKey=…)',
        );
      } else {
        const problem = connectionStringProblem(connectionString);
        if (problem) problems.push(`NOTIFICATION_HUB_CONNECTION_STRING: ${problem} (value not shown)`);
      }
      const hubName = get('NOTIFICATION_HUB_NAME');
      if (!hubName) {
        problems.push('NOTIFICATION_HUB_NAME: required when PUSH_PROVIDER is notification-hubs');
      } else if (!HUB_NAME.test(hubName)) {
        problems.push(
          `NOTIFICATION_HUB_NAME: expected letters, digits, '.', '-' or '_' (starting and ending with a letter or digit), got ${echoValue(hubName, 100)}`,
        );
      }
      if (problems.length > before || !connectionString || !hubName) return undefined;
      return { provider: 'notification-hubs', notificationHubs: { connectionString, hubName } };
    }

    case 'webhook': {
      const url = get('PUSH_WEBHOOK_URL');
      if (!url) {
        problems.push(
          'PUSH_WEBHOOK_URL: required when PUSH_PROVIDER is webhook (https URL of the push gateway)',
        );
      } else {
        const problem = webhookUrlProblem(url);
        if (problem) problems.push(`PUSH_WEBHOOK_URL: ${problem}`);
      }
      const secret = get('PUSH_WEBHOOK_SECRET');
      if (!secret) {
        problems.push(
          `PUSH_WEBHOOK_SECRET: required when PUSH_PROVIDER is webhook (at least ${MIN_WEBHOOK_SECRET_LENGTH} characters, shared with the gateway)`,
        );
      } else if (secret.length < MIN_WEBHOOK_SECRET_LENGTH) {
        problems.push(
          `PUSH_WEBHOOK_SECRET: too short, expected at least ${MIN_WEBHOOK_SECRET_LENGTH} characters (value not shown); e.g. \`openssl rand -hex 32\``,
        );
      }
      if (problems.length > before || !url || !secret) return undefined;
      return { provider: 'webhook', webhook: { url, secret } };
    }
  }
}

/**
 * What is wrong with a Notification Hubs connection string, without quoting it. Parsed like the
 * SDK does (`;`-separated `Key=Value`, keys case-sensitive).
 */
function connectionStringProblem(value: string): string | undefined {
  const parts = new Map<string, string>();
  for (const part of value.split(';')) {
    const trimmed = part.trim();
    if (!trimmed) continue;
    const eq = trimmed.indexOf('=');
    if (eq <= 0) return 'expected Key=Value parts separated by ";"';
    parts.set(trimmed.slice(0, eq).trim(), trimmed.slice(eq + 1).trim());
  }
  const endpoint = parts.get('Endpoint');
  if (!endpoint) return 'Endpoint=sb://<namespace>.servicebus.windows.net/ is missing';
  let url: URL | undefined;
  try {
    url = new URL(endpoint);
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== 'sb:' || !url.hostname) {
    return 'Endpoint must look like sb://<namespace>.servicebus.windows.net/';
  }
  if (!parts.get('SharedAccessKeyName') || !parts.get('SharedAccessKey')) {
    return 'SharedAccessKeyName and SharedAccessKey are both required (copy the connection string of an access policy)';
  }
  if (parts.get('SharedAccessKeyName') === 'DefaultListenSharedAccessSignature') {
    return 'the DefaultListenSharedAccessSignature policy cannot send; use a policy with Listen and Send rights, e.g. DefaultFullSharedAccessSignature';
  }
  return undefined;
}

/** Builds the configured provider (production: the SDK's default transport). */
export function createPushProvider(settings: PushSettings): PushProvider {
  switch (settings.provider) {
    case 'notification-hubs':
      return meterPushProvider(new NotificationHubsPushProvider(settings.notificationHubs));
    case 'webhook':
      return meterPushProvider(new SignedWebhookPushProvider(settings.webhook));
    case 'local':
      return meterPushProvider(new LocalSinkPushProvider({ filePath: settings.localSinkFile }));
  }
}
