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
import type { LookupPathMode } from '../domain/lookup-path.js';
import { echoValue } from '../errors.js';

export const CLIENT_STATE_SETTING_SPECS = [
  {
    name: 'CLIENT_STATE_KEYS',
    secret: true,
    description: `Keys that sign new subscriptions' clientState so the webhook rejects forged notifications without a storage read: \`<key id>:<base64 of at least ${MIN_CLIENT_STATE_KEY_BYTES} random bytes>\`, comma-separated (e.g. \`k2:…,k1:…\`). The first signs, all verify: to rotate, put a new key first and keep the old ones until every subscription they signed has been recreated (renewal keeps a subscription's clientState). Unset: random clientStates checked against the stored subscription only.`,
  },
  {
    name: 'CLIENT_STATE_LOOKUP',
    secret: false,
    default: 'auto',
    description:
      "Whether the webhook still looks up old-style clientStates (unsigned, or `v1.` ones, whose lifecycle events cannot be verified without the stored subscription). `auto`: while the maintenance timer's census may find such subscriptions (it recreates them as `v2.` when they are renewed); off for good once a whole renewal cycle found none, and then forged traffic costs no storage request. `on`: always look them up (e.g. while doubting the census). `off`: never (e.g. after recreating every subscription by hand). Status shows which applies. Only with CLIENT_STATE_KEYS: without keys every notification is looked up.",
  },
  {
    name: 'CLIENT_STATE_LOOKUP_REFRESH_SECONDS',
    secret: false,
    default: '60',
    description:
      'How long a webhook instance trusts the census it read while the lookup path is on (1–3600): it reads the one control document only when an old-style clientState arrives, at most once per this many seconds, and never again once it read off.',
  },
] as const;

export function readClientStateLookupRefreshMs(
  get: (name: string) => string | undefined,
  problems: string[],
): number {
  const raw = get('CLIENT_STATE_LOOKUP_REFRESH_SECONDS') ?? '60';
  const seconds = /^\d{1,4}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(seconds >= 1 && seconds <= 3600)) {
    problems.push(
      `CLIENT_STATE_LOOKUP_REFRESH_SECONDS: expected a whole number from 1 to 3600, got ${echoValue(raw)}`,
    );
    return 60_000;
  }
  return seconds * 1000;
}

export function readClientStateLookupMode(
  get: (name: string) => string | undefined,
  problems: string[],
): LookupPathMode {
  const raw = (get('CLIENT_STATE_LOOKUP') ?? 'auto').toLowerCase();
  if (raw === 'auto' || raw === 'on' || raw === 'off') return raw;
  problems.push(`CLIENT_STATE_LOOKUP: expected auto, on or off, got ${echoValue(raw)}`);
  return 'auto';
}

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
