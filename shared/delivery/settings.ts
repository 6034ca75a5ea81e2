/**
 * Settings of the notification-to-push pipeline. Read once at start-up with the others; every
 * problem names the setting and what is expected, and secret values are never echoed.
 */
import type { PrivacyMode } from '../domain/model.js';
import { ConfigError } from '../errors.js';
import { DEFAULT_PRIVACY_MODE, PRIVACY_MODES } from './content.js';
import { DEFAULT_CLAIM_TIMEOUT_MS, DEFAULT_RETENTION_DAYS } from '../domain/idempotency.js';
import { loadRichNotificationKey, type RichNotificationKey } from './rich.js';
import { echoValue } from '../errors.js';

export interface NotificationSettings {
  defaultPrivacyMode: PrivacyMode;
  claimTimeoutMs: number;
  /** Delivery records are kept this many days (the maintenance timer purges older days). */
  retentionDays: number;
  /** 0 = no limit. */
  maxMessageAgeMs: number;
  maxScheduledRetries: number;
  /** The queue's MaxDeliveryCount (infra): on that delivery a failure is final. */
  maxDeliveryCount: number;
  mailboxCacheMs: number;
  deviceCacheMs: number;
  /** Set when a rich-notification key is configured. */
  rich: { key: RichNotificationKey; jwksUri: string } | undefined;
}

export const DEFAULT_MAX_DELIVERY_COUNT = 10;

export const NOTIFICATION_SETTING_SPECS = [
  {
    name: 'DEFAULT_PRIVACY_MODE',
    secret: false,
    default: DEFAULT_PRIVACY_MODE,
    description:
      'What a push shows for mailboxes without their own mode: `full` (sender, subject, preview), `subject` (sender, subject) or `minimal` (“New mail”).',
  },
  {
    name: 'PUSH_CLAIM_TIMEOUT_SECONDS',
    secret: false,
    default: String(DEFAULT_CLAIM_TIMEOUT_MS / 1000),
    description:
      'A push claimed but not confirmed for this long (30–3600) is taken to have crashed and is sent again by a redelivery.',
  },
  {
    name: 'DELIVERY_RECORD_RETENTION_DAYS',
    secret: false,
    default: String(DEFAULT_RETENTION_DAYS),
    description:
      'Days the per-device delivery records (duplicate suppression) are kept (2–90); must exceed PUSH_MAX_MESSAGE_AGE_HOURS by a day.',
  },
  {
    name: 'PUSH_MAX_MESSAGE_AGE_HOURS',
    secret: false,
    default: '48',
    description: 'Mail received longer ago than this is not pushed (0 = no limit, else 1–720).',
  },
  {
    name: 'NOTIFICATION_MAX_SCHEDULED_RETRIES',
    secret: false,
    default: '12',
    description:
      'Retries of a throttled or failed notification scheduled on the queue after Retry-After/backoff (0–50; 0 = only immediate redelivery).',
  },
  {
    name: 'NOTIFICATION_MAX_DELIVERY_COUNT',
    secret: false,
    default: String(DEFAULT_MAX_DELIVERY_COUNT),
    description: 'The queue’s MaxDeliveryCount (infra); a failure on that delivery is logged as final.',
  },
  {
    name: 'PUSH_MAILBOX_CACHE_SECONDS',
    secret: false,
    default: '30',
    description: 'How long the processor reuses a mailbox read (0–600).',
  },
  {
    name: 'PUSH_DEVICE_CACHE_SECONDS',
    secret: false,
    default: '10',
    description:
      'How long the processor reuses a mailbox’s device list (0–600); a new device waits at most this.',
  },
  {
    name: 'RICH_NOTIFICATION_PRIVATE_KEY',
    secret: true,
    description:
      'RSA private key (PEM, or PEM as base64; may be followed by its certificate) for rich notifications’ encryptedContent. Unset: content is read from Graph.',
  },
  {
    name: 'RICH_NOTIFICATION_CERTIFICATE_ID',
    secret: false,
    description: 'The encryptionCertificateId given to Graph for that key.',
  },
  {
    name: 'RICH_NOTIFICATION_JWKS_URI',
    secret: false,
    description:
      'Signing keys of rich notifications’ validationTokens. Default: `<authority host>/common/discovery/v2.0/keys`.',
  },
] as const;

/**
 * Reads the settings, pushing every problem onto `problems`. `authorityHost` is the Graph
 * cloud's Entra authority (for the default JWKS URI).
 */
export function readNotificationSettings(
  get: (name: string) => string | undefined,
  problems: string[],
  defaults: { authorityHost?: string } = {},
): NotificationSettings | undefined {
  const before = problems.length;
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
      problems.push(`${name}: expected a whole number ${min}–${max}, got ${echoValue(raw, 20)}`);
      return fallback;
    }
    return value;
  };

  const rawMode = get('DEFAULT_PRIVACY_MODE') ?? DEFAULT_PRIVACY_MODE;
  if (!(PRIVACY_MODES as readonly string[]).includes(rawMode)) {
    problems.push(
      `DEFAULT_PRIVACY_MODE: expected one of ${PRIVACY_MODES.join(', ')}, got ${echoValue(rawMode, 20)}`,
    );
  }
  const claimTimeoutSeconds = integer(
    'PUSH_CLAIM_TIMEOUT_SECONDS',
    DEFAULT_CLAIM_TIMEOUT_MS / 1000,
    30,
    3600,
  );
  const retentionDays = integer('DELIVERY_RECORD_RETENTION_DAYS', DEFAULT_RETENTION_DAYS, 2, 90);
  const maxAgeHours = integer('PUSH_MAX_MESSAGE_AGE_HOURS', 48, 0, 720);
  // Otherwise a record could be purged while its message can still be redelivered, and the push
  // would go out again. (0 = no age limit: the operator's choice.)
  if (maxAgeHours !== 0 && maxAgeHours + 24 > retentionDays * 24) {
    problems.push(
      `PUSH_MAX_MESSAGE_AGE_HOURS: must be at least 24 hours below DELIVERY_RECORD_RETENTION_DAYS (${retentionDays} days)`,
    );
  }
  const maxScheduledRetries = integer('NOTIFICATION_MAX_SCHEDULED_RETRIES', 12, 0, 50);
  const maxDeliveryCount = integer('NOTIFICATION_MAX_DELIVERY_COUNT', DEFAULT_MAX_DELIVERY_COUNT, 1, 2000);
  const mailboxCacheSeconds = integer('PUSH_MAILBOX_CACHE_SECONDS', 30, 0, 600);
  const deviceCacheSeconds = integer('PUSH_DEVICE_CACHE_SECONDS', 10, 0, 600);

  let rich: NotificationSettings['rich'];
  const rawKey = get('RICH_NOTIFICATION_PRIVATE_KEY');
  const certificateId = get('RICH_NOTIFICATION_CERTIFICATE_ID');
  const authority = (defaults.authorityHost ?? 'https://login.microsoftonline.com').replace(/\/+$/, '');
  const jwksUri = get('RICH_NOTIFICATION_JWKS_URI') ?? `${authority}/common/discovery/v2.0/keys`;
  if (rawKey !== undefined) {
    try {
      const url = new URL(jwksUri);
      if (url.protocol !== 'https:') problems.push('RICH_NOTIFICATION_JWKS_URI: must be https');
    } catch {
      problems.push('RICH_NOTIFICATION_JWKS_URI: not a valid URL');
    }
    try {
      rich = { key: loadRichNotificationKey(rawKey, certificateId), jwksUri };
    } catch (error) {
      // The key's own text is never echoed.
      const reason = error instanceof TypeError ? `: ${error.message}` : '';
      problems.push(`RICH_NOTIFICATION_PRIVATE_KEY: not a usable RSA private key${reason}`);
    }
  } else if (certificateId !== undefined) {
    problems.push('RICH_NOTIFICATION_CERTIFICATE_ID: set, but RICH_NOTIFICATION_PRIVATE_KEY is not');
  }

  if (problems.length > before) return undefined;
  return {
    defaultPrivacyMode: rawMode as PrivacyMode,
    claimTimeoutMs: claimTimeoutSeconds * 1000,
    retentionDays,
    maxMessageAgeMs: maxAgeHours * 3_600_000,
    maxScheduledRetries,
    maxDeliveryCount,
    mailboxCacheMs: mailboxCacheSeconds * 1000,
    deviceCacheMs: deviceCacheSeconds * 1000,
    rich,
  };
}

/** Standalone: reads from an environment and throws one ConfigError naming every problem. */
export function loadNotificationSettings(
  env: Readonly<Record<string, string | undefined>>,
  defaults: { authorityHost?: string } = {},
): NotificationSettings {
  const problems: string[] = [];
  const get = (name: string) => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const settings = readNotificationSettings(get, problems, defaults);
  if (!settings) throw new ConfigError(problems);
  return settings;
}
