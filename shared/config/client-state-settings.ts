/**
 * The keys of signed clientStates. Read once at start-up with the app's `get` (trimmed, empty =
 * unset); problems name the setting and what is expected, never key material.
 */
import {
  MIN_CLIENT_STATE_KEY_BYTES,
  isKeyring,
  parseClientStateKeys,
  type ClientStateKeyring,
} from '../domain/client-state.js';

export const CLIENT_STATE_SETTING_SPECS = [
  {
    name: 'CLIENT_STATE_KEYS',
    secret: true,
    description: `Keys that sign new subscriptions' clientState so the webhook rejects forged notifications without a storage read: \`<key id>:<base64 of at least ${MIN_CLIENT_STATE_KEY_BYTES} random bytes>\`, comma-separated (e.g. \`k2:…,k1:…\`). The first signs, all verify: to rotate, put a new key first and keep the old ones until every subscription they signed has been recreated (renewal keeps a subscription's clientState). Unset: random clientStates checked against the stored subscription only.`,
  },
] as const;

export function readClientStateKeys(
  get: (name: string) => string | undefined,
  problems: string[],
): ClientStateKeyring | undefined {
  const raw = get('CLIENT_STATE_KEYS');
  if (raw === undefined) return undefined;
  const parsed = parseClientStateKeys(raw);
  if (isKeyring(parsed)) return parsed;
  for (const problem of parsed.problems) {
    problems.push(`CLIENT_STATE_KEYS: ${problem} (value not shown)`);
  }
  return undefined;
}
