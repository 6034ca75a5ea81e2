import { createHmac, timingSafeEqual } from 'node:crypto';
import { MAX_CLIENT_STATE_LENGTH } from './notifications.js';

/**
 * Signed clientStates. The webhook is anonymous, so it checks the MAC of a notification's
 * clientState against its tenant and mailbox user before it looks the subscription up: a forged
 * notification then costs no storage read. Pure: the randomness is injected, there is no clock (a
 * subscription is renewed, never re-signed, so a clientState lives as long as its subscription).
 *
 * - `v2.<key id>.<user object id>.<nonce>.<mac>` (what new subscriptions get), mac =
 *   HMAC-SHA256(key, `v2|<tenant id>|<user object id>|<nonce>`) in base64url. It carries the user,
 *   so a lifecycle notification (which names only the subscription and tenant, not the user) is
 *   verified as fully as a change notification. At most 123 characters (Graph allows 128).
 * - `v1.<key id>.<nonce>.<mac>`, mac over `v1|<tenant id>|<user object id>|<nonce>`: the first
 *   signed format. Still verified for change notifications; a lifecycle event of a v1 subscription
 *   can only be checked for shape, so v1 subscriptions count as old-style (lookup path) like
 *   unsigned ones, and the renewal pass recreates them as v2.
 */

export const SIGNED_CLIENT_STATE_PREFIX = 'v1.';
export const V2_CLIENT_STATE_PREFIX = 'v2.';
/** Graph user object ids are GUIDs; this also bounds the clientState to 123 characters. */
const USER_ID = /^[A-Za-z0-9-]{1,36}$/;

/** `v2`: verifiable without a lookup for every notification; `v1`, `unsigned`: old-style. */
export type ClientStateKind = 'v2' | 'v1' | 'unsigned';

/** The format a clientState claims to have (by its prefix only: nothing is verified here). */
export function clientStateKind(clientState: string | undefined): ClientStateKind {
  if (clientState?.startsWith(V2_CLIENT_STATE_PREFIX)) return 'v2';
  if (clientState?.startsWith(SIGNED_CLIENT_STATE_PREFIX)) return 'v1';
  return 'unsigned';
}
/** Key ids are short names (`k1`, `2026-11`): they travel in every clientState. */
export const KEY_ID = /^[A-Za-z0-9_-]{1,16}$/;
export const MIN_CLIENT_STATE_KEY_BYTES = 32;
export const NONCE_BYTES = 16;
const NONCE_CHARS = 22; // 16 bytes in base64url, unpadded
const MAC_CHARS = 43; // 32 bytes in base64url, unpadded
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9_-]+)$/;

/** The keys that verify signed clientStates; the first one signs new ones. */
export interface ClientStateKeyring {
  readonly signingKeyId: string;
  readonly keys: ReadonlyMap<string, Buffer>;
}

/** Who a clientState is bound to: the subscription's tenant and mailbox user (Graph object ids). */
export interface ClientStateSubject {
  tenantId: string;
  userId: string;
}

/**
 * Parses `k2:<base64>,k1:<base64>` (the first signs, all verify). Returns the keyring or the
 * problems found; problems name key ids and positions, never key material.
 */
export function parseClientStateKeys(raw: string): ClientStateKeyring | { problems: string[] } {
  const problems: string[] = [];
  const keys = new Map<string, Buffer>();
  const entries = raw.split(',').map((entry) => entry.trim());
  entries.forEach((entry, index) => {
    const position = `key ${index + 1}`;
    const colon = entry.indexOf(':');
    if (colon < 0) {
      problems.push(`${position}: expected <key id>:<base64 key>`);
      return;
    }
    const id = entry.slice(0, colon).trim();
    const material = entry.slice(colon + 1).trim();
    if (!KEY_ID.test(id)) {
      problems.push(`${position}: key id must be 1–16 letters, digits, '-' or '_'`);
      return;
    }
    if (keys.has(id)) {
      problems.push(`${position}: key id "${id}" appears twice`);
      return;
    }
    const secret = BASE64.test(material) ? Buffer.from(material, 'base64') : undefined;
    if (!secret || secret.length < MIN_CLIENT_STATE_KEY_BYTES) {
      problems.push(
        `${position} ("${id}"): expected base64 of at least ${MIN_CLIENT_STATE_KEY_BYTES} random bytes (e.g. \`openssl rand -base64 32\`)`,
      );
      return;
    }
    keys.set(id, secret);
  });
  const signingKeyId = keys.keys().next().value;
  if (problems.length > 0 || signingKeyId === undefined) {
    return { problems: problems.length > 0 ? problems : ['expected at least one <key id>:<base64 key>'] };
  }
  return { signingKeyId, keys };
}

export function isKeyring(value: ClientStateKeyring | { problems: string[] }): value is ClientStateKeyring {
  return 'keys' in value;
}

/** True when the clientState claims to be signed, v1 or v2 (and so must pass `verifyClientState`). */
export function isSignedClientState(clientState: string | undefined): boolean {
  return clientStateKind(clientState) !== 'unsigned';
}

/**
 * A new signed clientState for a subscription of `subject`, with the keyring's signing key: v2,
 * or v1 for a user id that is not GUID-like (Graph's never are; v1 still verifies).
 */
export function signClientState(
  keyring: ClientStateKeyring,
  subject: ClientStateSubject,
  randomBytes: (size: number) => Uint8Array,
  /** `v1` only to reproduce subscriptions of the first format (tests, the benchmark). */
  version: 'v1' | 'v2' = 'v2',
): string {
  const key = keyring.keys.get(keyring.signingKeyId);
  if (!key) throw new Error('the signing key is not in the keyring');
  const nonce = Buffer.from(randomBytes(NONCE_BYTES)).toString('base64url');
  if (nonce.length !== NONCE_CHARS) throw new Error(`randomBytes must return ${NONCE_BYTES} bytes`);
  if (version === 'v1' || !USER_ID.test(subject.userId)) {
    const mac = macOf(key, subject, nonce, 'v1');
    return `${SIGNED_CLIENT_STATE_PREFIX}${keyring.signingKeyId}.${nonce}.${mac}`;
  }
  const mac = macOf(key, subject, nonce, 'v2');
  return `${V2_CLIENT_STATE_PREFIX}${keyring.signingKeyId}.${subject.userId}.${nonce}.${mac}`;
}

/**
 * Checks a signed clientState (v1 or v2) against the tenant and user a notification is about.
 * False for anything malformed, an unknown key id, a v2 naming another user, or a MAC that does
 * not match (compared in constant time).
 */
export function verifyClientState(
  keyring: ClientStateKeyring,
  clientState: string | undefined,
  subject: ClientStateSubject,
): boolean {
  const v2 = splitV2ClientState(keyring, clientState);
  if (v2) {
    if (v2.userId.toLowerCase() !== subject.userId.toLowerCase()) return false;
    return macHolds(v2, subject, 'v2');
  }
  const parts = splitSignedClientState(keyring, clientState);
  if (!parts) return false;
  return macHolds(parts, subject, 'v1');
}

/**
 * A lifecycle notification names its subscription and tenant but not the user: a v2 clientState
 * carries the user, so its MAC is checked in full. False for anything else (v1 and unsigned
 * cannot be verified without the stored subscription).
 */
export function verifyLifecycleClientState(
  keyring: ClientStateKeyring,
  clientState: string | undefined,
  tenantId: string | undefined,
): boolean {
  if (tenantId === undefined) return false;
  const v2 = splitV2ClientState(keyring, clientState);
  return v2 !== undefined && macHolds(v2, { tenantId, userId: v2.userId }, 'v2');
}

function macHolds(
  parts: { key: Buffer; nonce: string; mac: string },
  subject: ClientStateSubject,
  version: 'v1' | 'v2',
): boolean {
  const expected = Buffer.from(macOf(parts.key, subject, parts.nonce, version), 'ascii');
  const received = Buffer.from(parts.mac, 'ascii');
  return received.length === expected.length && timingSafeEqual(received, expected);
}

function splitV2ClientState(
  keyring: ClientStateKeyring,
  clientState: string | undefined,
): { key: Buffer; userId: string; nonce: string; mac: string } | undefined {
  if (clientState === undefined || clientState.length > MAX_CLIENT_STATE_LENGTH) return undefined;
  if (!clientState.startsWith(V2_CLIENT_STATE_PREFIX)) return undefined;
  const parts = clientState.slice(V2_CLIENT_STATE_PREFIX.length).split('.');
  if (parts.length !== 4) return undefined;
  const [keyId, userId, nonce, mac] = parts as [string, string, string, string];
  const key = keyring.keys.get(keyId);
  if (!key || !USER_ID.test(userId)) return undefined;
  if (nonce.length !== NONCE_CHARS || !BASE64URL.test(nonce)) return undefined;
  if (mac.length !== MAC_CHARS || !BASE64URL.test(mac)) return undefined;
  return { key, userId, nonce, mac };
}

/**
 * Only the shape and the key id of a v1 clientState (for lifecycle events, which do not name their
 * user): well-formed under one of our keys. Not proof of anything by itself.
 */
export function hasSignedClientStateShape(
  keyring: ClientStateKeyring,
  clientState: string | undefined,
): boolean {
  return splitSignedClientState(keyring, clientState) !== undefined;
}

function splitSignedClientState(
  keyring: ClientStateKeyring,
  clientState: string | undefined,
): { key: Buffer; nonce: string; mac: string } | undefined {
  if (clientState === undefined || clientState.length > MAX_CLIENT_STATE_LENGTH) return undefined;
  if (!clientState.startsWith(SIGNED_CLIENT_STATE_PREFIX)) return undefined;
  const parts = clientState.slice(SIGNED_CLIENT_STATE_PREFIX.length).split('.');
  if (parts.length !== 3) return undefined;
  const [keyId, nonce, mac] = parts as [string, string, string];
  const key = keyring.keys.get(keyId);
  if (!key) return undefined;
  if (nonce.length !== NONCE_CHARS || !BASE64URL.test(nonce)) return undefined;
  if (mac.length !== MAC_CHARS || !BASE64URL.test(mac)) return undefined;
  return { key, nonce, mac };
}

function macOf(key: Buffer, subject: ClientStateSubject, nonce: string, version: 'v1' | 'v2'): string {
  const message = `${version}|${subject.tenantId.toLowerCase()}|${subject.userId.toLowerCase()}|${nonce}`;
  return createHmac('sha256', key).update(message, 'utf8').digest('base64url');
}
