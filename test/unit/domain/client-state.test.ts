import { describe, expect, it } from 'vitest';
import {
  MIN_CLIENT_STATE_KEY_BYTES,
  NONCE_BYTES,
  hasSignedClientStateShape,
  isKeyring,
  isSignedClientState,
  parseClientStateKeys,
  clientStateKind,
  signClientState,
  verifyClientState,
  verifyLifecycleClientState,
  type ClientStateKeyring,
} from '../../../shared/domain/client-state.js';
import { MAX_CLIENT_STATE_LENGTH } from '../../../shared/domain/notifications.js';

const key1 = Buffer.alloc(32, 1).toString('base64');
const key2 = Buffer.alloc(48, 2).toString('base64');
const subject = {
  tenantId: '84BD8158-6D4D-4958-8B9F-9D6445542F95',
  userId: '0f5c8a7e-5b0f-4a43-9b1e-3a1a6b4c2d10',
};

/** Deterministic "randomness": each call returns the next counter value repeated. */
function counterBytes() {
  let n = 0;
  return (size: number) => new Uint8Array(size).fill(++n);
}

function keyring(raw: string): ClientStateKeyring {
  const parsed = parseClientStateKeys(raw);
  if (!isKeyring(parsed)) throw new Error(parsed.problems.join('; '));
  return parsed;
}

/** The first format, as subscriptions created before v2 carry it. */
const signV1: typeof signClientState = (ring, who, random) => signClientState(ring, who, random, 'v1');

describe('signed clientState v1 (the first format, still verified for change notifications)', () => {
  const keys = keyring(`k1:${key1}`);
  const signClientState = signV1;

  it('round-trips: what is signed for a tenant and user verifies for them', () => {
    const state = signClientState(keys, subject, counterBytes());
    expect(state).toMatch(/^v1\.k1\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    expect(isSignedClientState(state)).toBe(true);
    expect(verifyClientState(keys, state, subject)).toBe(true);
  });

  it('binds tenant and user case-insensitively (Graph may change the case of ids)', () => {
    const state = signClientState(keys, subject, counterBytes());
    expect(
      verifyClientState(keys, state, {
        tenantId: subject.tenantId.toLowerCase(),
        userId: subject.userId.toUpperCase(),
      }),
    ).toBe(true);
  });

  it('uses a fresh nonce per subscription', () => {
    const random = counterBytes();
    expect(signClientState(keys, subject, random)).not.toBe(signClientState(keys, subject, random));
  });

  it('stays within Graph’s 128 characters with the longest key id', () => {
    const long = keyring(`${'k'.repeat(16)}:${key1}`);
    const state = signClientState(long, subject, counterBytes());
    expect(state.length).toBeLessThanOrEqual(MAX_CLIENT_STATE_LENGTH);
    expect(state.length).toBe(86);
  });

  it('rotates: the first key signs, older keys still verify, a removed key no longer does', () => {
    const old = signClientState(keyring(`k1:${key1}`), subject, counterBytes());
    const rotated = keyring(`k2:${key2},k1:${key1}`);
    const fresh = signClientState(rotated, subject, counterBytes());
    expect(fresh.startsWith('v1.k2.')).toBe(true);
    expect(verifyClientState(rotated, fresh, subject)).toBe(true);
    expect(verifyClientState(rotated, old, subject)).toBe(true);
    const retired = keyring(`k2:${key2}`);
    expect(verifyClientState(retired, old, subject)).toBe(false);
    expect(verifyClientState(retired, fresh, subject)).toBe(true);
  });

  describe('fails for', () => {
    const state = signClientState(keys, subject, counterBytes());
    const [prefix, keyId, nonce, mac] = state.split('.') as [string, string, string, string];
    const flip = (s: string) => (s.startsWith('A') ? `B${s.slice(1)}` : `A${s.slice(1)}`);
    const twoKeys = keyring(`k1:${key1},k2:${key2}`);
    const cases: [string, string | undefined, typeof subject, ClientStateKeyring][] = [
      ['another tenant', state, { ...subject, tenantId: '11111111-2222-3333-4444-555555555555' }, keys],
      ['another user', state, { ...subject, userId: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee' }, keys],
      ['another nonce', [prefix, keyId, flip(nonce), mac].join('.'), subject, keys],
      ['an unknown key id', [prefix, 'k9', nonce, mac].join('.'), subject, keys],
      [
        'the MAC presented under another known key id',
        [prefix, 'k2', nonce, mac].join('.'),
        subject,
        twoKeys,
      ],
      ['a truncated MAC', state.slice(0, -1), subject, keys],
      ['a garbled MAC', [prefix, keyId, nonce, flip(mac)].join('.'), subject, keys],
      [
        'a character outside base64url',
        [prefix, keyId, nonce, `${mac.slice(0, -1)}+`].join('.'),
        subject,
        keys,
      ],
      ['an extra part', `${state}.x`, subject, keys],
      ['a missing part', [prefix, keyId, mac].join('.'), subject, keys],
      ['another version', `v2${state.slice(2)}`, subject, keys],
      ['an over-long value', `${state}${'A'.repeat(128)}`, subject, keys],
      ['nothing', undefined, subject, keys],
      ['an empty string', '', subject, keys],
    ];
    it.each(cases)('%s', (_name, candidate, who, ring) => {
      expect(verifyClientState(ring, candidate, who)).toBe(false);
    });
  });

  it('cannot be verified from a lifecycle event (which does not name the user)', () => {
    const state = signClientState(keys, subject, counterBytes());
    expect(verifyLifecycleClientState(keys, state, subject.tenantId)).toBe(false);
    expect(clientStateKind(state)).toBe('v1');
  });

  it('checks only shape and key id for events that do not name their user', () => {
    const state = signClientState(keys, subject, counterBytes());
    expect(hasSignedClientStateShape(keys, state)).toBe(true);
    expect(hasSignedClientStateShape(keys, state.replace('v1.k1.', 'v1.k9.'))).toBe(false);
    expect(hasSignedClientStateShape(keys, 'v1.k1.short.short')).toBe(false);
  });

  it('treats anything not starting with v1. as unsigned', () => {
    expect(isSignedClientState('cs-3f9a1c2b7d8e4f60a1b2c3d4e5f60718')).toBe(false);
    expect(isSignedClientState(undefined)).toBe(false);
    expect(isSignedClientState('v1.')).toBe(true);
  });

  it('refuses randomness of the wrong size', () => {
    expect(() => signClientState(keys, subject, () => new Uint8Array(NONCE_BYTES - 1))).toThrow(/16 bytes/);
  });
});

describe('signed clientState v2 (carries the user: lifecycle events verify too)', () => {
  const keys = keyring(`k1:${key1}`);

  it('is what new subscriptions get, and round-trips for change and lifecycle notifications', () => {
    const state = signClientState(keys, subject, counterBytes());
    expect(state).toMatch(/^v2\.k1\.[0-9a-f-]{36}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    expect(clientStateKind(state)).toBe('v2');
    expect(verifyClientState(keys, state, subject)).toBe(true);
    expect(verifyLifecycleClientState(keys, state, subject.tenantId.toLowerCase())).toBe(true);
  });

  it('stays within Graph’s 128 characters with the longest key id', () => {
    const state = signClientState(keyring(`${'k'.repeat(16)}:${key1}`), subject, counterBytes());
    expect(state.length).toBe(123);
    expect(state.length).toBeLessThanOrEqual(MAX_CLIENT_STATE_LENGTH);
  });

  it('falls back to v1 for a user id that is not GUID-like (Graph’s always are)', () => {
    const state = signClientState(keys, { ...subject, userId: 'x'.repeat(40) }, counterBytes());
    expect(clientStateKind(state)).toBe('v1');
  });

  describe('fails for', () => {
    const state = signClientState(keys, subject, counterBytes());
    const [prefix, keyId, user, nonce, mac] = state.split('.') as [string, string, string, string, string];
    const flip = (s: string) => (s.startsWith('A') ? `B${s.slice(1)}` : `A${s.slice(1)}`);
    const otherUser = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
    it.each([
      ['another tenant', state, '11111111-2222-3333-4444-555555555555'],
      ['another user written into it', [prefix, keyId, otherUser, nonce, mac].join('.'), subject.tenantId],
      ['an unknown key id', [prefix, 'k9', user, nonce, mac].join('.'), subject.tenantId],
      ['a garbled MAC', [prefix, keyId, user, nonce, flip(mac)].join('.'), subject.tenantId],
      ['another nonce', [prefix, keyId, user, flip(nonce), mac].join('.'), subject.tenantId],
      ['a missing part', [prefix, keyId, nonce, mac].join('.'), subject.tenantId],
      ['the v1 prefix', `v1${state.slice(2)}`, subject.tenantId],
      ['no tenant', state, undefined],
    ])('%s', (_name, candidate, tenantId) => {
      expect(verifyLifecycleClientState(keys, candidate, tenantId)).toBe(false);
      if (tenantId)
        expect(verifyClientState(keys, candidate, { tenantId, userId: subject.userId })).toBe(false);
    });
    it('a change notification about another user than the one it names', () => {
      expect(verifyClientState(keys, state, { ...subject, userId: otherUser })).toBe(false);
    });
  });
});

describe('parseClientStateKeys', () => {
  it('reads several keys, the first one signing', () => {
    const ring = keyring(` k2:${key2} , k1:${Buffer.alloc(32, 1).toString('base64url')}`);
    expect(ring.signingKeyId).toBe('k2');
    expect([...ring.keys.keys()]).toEqual(['k2', 'k1']);
    expect(ring.keys.get('k1')).toEqual(Buffer.alloc(32, 1));
  });

  const short = Buffer.alloc(MIN_CLIENT_STATE_KEY_BYTES - 1, 7).toString('base64');
  it.each([
    ['a short key', `k1:${short}`, /key 1 \("k1"\): expected base64 of at least 32/],
    ['no key id', key1, /key 1: expected <key id>:<base64 key>/],
    ['a bad key id', `k.1:${key1}`, /key 1: key id must be/],
    ['a duplicate key id', `k1:${key1},k1:${key2}`, /key 2: key id "k1" appears twice/],
    ['not base64', `k1:${'!'.repeat(44)}`, /key 1 \("k1"\): expected base64/],
    ['an empty entry', `k1:${key1},`, /key 2: expected <key id>:<base64 key>/],
  ])('reports %s without the key material', (_name, raw, problem) => {
    const parsed = parseClientStateKeys(raw);
    expect(isKeyring(parsed)).toBe(false);
    const text = isKeyring(parsed) ? '' : parsed.problems.join('\n');
    expect(text).toMatch(problem);
    for (const material of [key1, key2, short]) expect(text).not.toContain(material);
  });
});
