import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../shared/errors.js';
import { loadNotificationSettings, NOTIFICATION_SETTING_SPECS } from '../../../shared/delivery/settings.js';

const pem = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .privateKey.export({ format: 'pem', type: 'pkcs8' })
  .toString();

function problems(env: Record<string, string>): string {
  try {
    loadNotificationSettings(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

describe('notification settings', () => {
  it('has documented defaults', () => {
    const settings = loadNotificationSettings({});
    expect(settings).toEqual({
      defaultPrivacyMode: 'subject',
      claimTimeoutMs: 120_000,
      retentionDays: 7,
      maxMessageAgeMs: 48 * 3_600_000,
      maxScheduledRetries: 12,
      maxDeliveryCount: 10,
      mailboxCacheMs: 30_000,
      deviceCacheMs: 10_000,
      rich: undefined,
    });
    for (const spec of NOTIFICATION_SETTING_SPECS) {
      if ('default' in spec) expect(spec.default).toBeTruthy();
    }
  });

  it('reads every value', () => {
    const settings = loadNotificationSettings({
      DEFAULT_PRIVACY_MODE: 'minimal',
      PUSH_CLAIM_TIMEOUT_SECONDS: '60',
      DELIVERY_RECORD_RETENTION_DAYS: '3',
      PUSH_MAX_MESSAGE_AGE_HOURS: '24',
      NOTIFICATION_MAX_SCHEDULED_RETRIES: '0',
      NOTIFICATION_MAX_DELIVERY_COUNT: '5',
      PUSH_MAILBOX_CACHE_SECONDS: '0',
      PUSH_DEVICE_CACHE_SECONDS: '0',
    });
    expect(settings).toMatchObject({
      defaultPrivacyMode: 'minimal',
      claimTimeoutMs: 60_000,
      retentionDays: 3,
      maxMessageAgeMs: 24 * 3_600_000,
      maxScheduledRetries: 0,
      maxDeliveryCount: 5,
      mailboxCacheMs: 0,
      deviceCacheMs: 0,
    });
  });

  it('names every bad setting at once', () => {
    const message = problems({
      DEFAULT_PRIVACY_MODE: 'loud',
      PUSH_CLAIM_TIMEOUT_SECONDS: '5',
      NOTIFICATION_MAX_SCHEDULED_RETRIES: 'many',
    });
    expect(message).toMatch(/DEFAULT_PRIVACY_MODE: expected one of full, subject, minimal/);
    expect(message).toMatch(/PUSH_CLAIM_TIMEOUT_SECONDS: expected a whole number 30–3600/);
    expect(message).toMatch(/NOTIFICATION_MAX_SCHEDULED_RETRIES/);
  });

  it('refuses an age limit the retention cannot cover', () => {
    expect(problems({ DELIVERY_RECORD_RETENTION_DAYS: '2', PUSH_MAX_MESSAGE_AGE_HOURS: '48' })).toMatch(
      /PUSH_MAX_MESSAGE_AGE_HOURS: must be at least 24 hours below/,
    );
  });

  it('loads a rich-notification key, with the JWKS of the cloud', () => {
    const settings = loadNotificationSettings(
      { RICH_NOTIFICATION_PRIVATE_KEY: pem, RICH_NOTIFICATION_CERTIFICATE_ID: 'cert-1' },
      { authorityHost: 'https://login.microsoftonline.us/' },
    );
    expect(settings.rich?.key.certificateId).toBe('cert-1');
    expect(settings.rich?.jwksUri).toBe('https://login.microsoftonline.us/common/discovery/v2.0/keys');
  });

  it('refuses a bad key without echoing it', () => {
    const bad = '-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXZhbHVl\n-----END PRIVATE KEY-----';
    const message = problems({ RICH_NOTIFICATION_PRIVATE_KEY: bad });
    expect(message).toMatch(/RICH_NOTIFICATION_PRIVATE_KEY: not a usable RSA private key/);
    expect(message).not.toContain('c2VjcmV0LXZhbHVl');
  });

  it('refuses a certificate id without a key, and a plain-http JWKS', () => {
    expect(problems({ RICH_NOTIFICATION_CERTIFICATE_ID: 'x' })).toMatch(/RICH_NOTIFICATION_CERTIFICATE_ID/);
    expect(
      problems({ RICH_NOTIFICATION_PRIVATE_KEY: pem, RICH_NOTIFICATION_JWKS_URI: 'http://keys.example/' }),
    ).toMatch(/RICH_NOTIFICATION_JWKS_URI: must be https/);
  });
});
