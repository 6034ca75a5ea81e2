/**
 * Property tests of loadSettings: any value for any setting gives Settings or one ConfigError that
 * names the setting, and the error never repeats the value of a secret setting, nor any value with
 * "=" or ";" (a connection string or a URL with a key pasted into the wrong setting).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SETTINGS, loadSettings, type Env } from '../../shared/config/settings.js';
import { ConfigError, mayCarryKey } from '../../shared/errors.js';
import { anyString, fuzz } from '../support/fuzz.js';

/** A valid local configuration (as test/unit/config/settings.test.ts uses). */
const LOCAL: Env = {
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
const NAMES = SETTINGS.map((s) => s.name);
const SECRET = new Set(SETTINGS.filter((s) => s.secret).map((s) => s.name));

/** A value unlikely to occur in a message by chance, sometimes shaped like a key or connection string. */
const value = fc
  .tuple(
    fc.constantFrom('', ' ', 'https://', 'Endpoint=sb://', 'AccountName=', '-----BEGIN PRIVATE KEY-----'),
    anyString,
    fc.constantFrom('', '=', ';', ';SharedAccessKey=k3y', '?sig=abc', ' '),
  )
  .map(([prefix, middle, suffix]) => `${prefix}Qx7${middle}${suffix}`);

function outcome(env: Env): ConfigError | undefined {
  try {
    loadSettings(env);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
}

function expectNoLeak(error: ConfigError, name: string, raw: string, onlyOneChanged = true): void {
  const shown = raw.trim();
  if (shown.length < 4) return;
  if (SECRET.has(name) || mayCarryKey(shown)) {
    expect(error.message).not.toContain(shown);
    expect(error.message.toLowerCase()).not.toContain(shown.toLowerCase());
    // Not even a part of it: the marker every generated value carries must not appear.
    if (onlyOneChanged) expect(error.message).not.toContain('Qx7');
  }
}

describe('loadSettings', () => {
  it('the base configuration is valid', () => {
    expect(outcome(LOCAL)).toBeUndefined();
  });

  it('any value for one setting: Settings, or a ConfigError naming it that never shows a secret', () => {
    fc.assert(
      fc.property(fc.constantFrom(...NAMES), value, (name, raw) => {
        const error = outcome({ ...LOCAL, [name]: raw });
        if (!error) return;
        expect(error.message).toContain(name);
        expectNoLeak(error, name, raw);
      }),
      fuzz(600),
    );
  });

  it('arbitrary values for many settings at once: only ConfigError, never a secret in it', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...NAMES), value, { maxKeys: 12 }), (changes) => {
        const error = outcome({ ...LOCAL, ...changes });
        if (!error) return;
        for (const [name, raw] of Object.entries(changes)) expectNoLeak(error, name, raw, false);
        for (const problem of error.problems) expect(NAMES.some((n) => problem.includes(n))).toBe(true);
      }),
      fuzz(400),
    );
  });

  it('secret settings in the base configuration never appear when another setting is wrong', () => {
    fc.assert(
      fc.property(fc.constantFrom(...NAMES.filter((n) => !SECRET.has(n))), value, (name, raw) => {
        const error = outcome({ ...LOCAL, [name]: raw });
        if (!error) return;
        for (const secretName of SECRET) {
          const secret = LOCAL[secretName];
          if (secret) expect(error.message).not.toContain(secret);
        }
        expect(error.message).not.toContain('topsecretkey');
        expect(error.message).not.toContain('c2VjcmV0LWtleQ==');
      }),
      fuzz(300),
    );
  });
});
