import { describe, expect, it } from 'vitest';
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity';
import { cachedTokenCredential } from '../../../shared/auth/token-cache.js';

const HOUR = 3_600_000;

function countingCredential(now: () => number, lifetimeMs = HOUR) {
  const calls: { scopes: string | string[]; options: GetTokenOptions | undefined }[] = [];
  let fail = false;
  let gate: Promise<void> | undefined;
  const credential: TokenCredential = {
    async getToken(scopes, options) {
      calls.push({ scopes, options });
      if (gate) await gate;
      if (fail) throw new Error('AADSTS7000215: Invalid client secret provided.');
      return { token: `token-${calls.length}`, expiresOnTimestamp: now() + lifetimeMs };
    },
  };
  return {
    credential,
    calls,
    failNext: (value: boolean) => (fail = value),
    hold: () => {
      let release!: () => void;
      gate = new Promise<void>((r) => (release = r));
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

describe('cachedTokenCredential', () => {
  it('re-uses a token until five minutes before it expires, then fetches a new one', async () => {
    let t = 1_000_000;
    const inner = countingCredential(() => t);
    const cached = cachedTokenCredential(inner.credential, { now: () => t });
    const first = await cached.getToken('https://graph.microsoft.com/.default');
    t += 54 * 60_000;
    expect(await cached.getToken('https://graph.microsoft.com/.default')).toBe(first);
    expect(inner.calls).toHaveLength(1);
    t += 2 * 60_000; // 4 minutes left: inside the margin
    const second = await cached.getToken('https://graph.microsoft.com/.default');
    expect(second?.token).toBe('token-2');
    expect(inner.calls).toHaveLength(2);
  });

  it('honours refreshAfterTimestamp when Identity sets one', async () => {
    let t = 0;
    let n = 0;
    const inner: TokenCredential = {
      getToken: async (): Promise<AccessToken> => ({
        token: `t${++n}`,
        expiresOnTimestamp: t + HOUR,
        refreshAfterTimestamp: t + 10 * 60_000,
      }),
    };
    const cached = cachedTokenCredential(inner, { now: () => t });
    expect((await cached.getToken('s'))?.token).toBe('t1');
    t = 9 * 60_000;
    expect((await cached.getToken('s'))?.token).toBe('t1');
    t = 10 * 60_000;
    expect((await cached.getToken('s'))?.token).toBe('t2');
  });

  it('keeps one token per scope set, whatever the order of scopes', async () => {
    const t = 0;
    const inner = countingCredential(() => t);
    const cached = cachedTokenCredential(inner.credential, { now: () => t });
    const a = await cached.getToken(['a', 'b']);
    expect(await cached.getToken(['b', 'a'])).toBe(a);
    const other = await cached.getToken('https://graph.microsoft.us/.default');
    expect(other).not.toBe(a);
    expect(inner.calls).toHaveLength(2);
  });

  it('shares one fetch among concurrent callers', async () => {
    const t = 0;
    const inner = countingCredential(() => t);
    const cached = cachedTokenCredential(inner.credential, { now: () => t });
    const release = inner.hold();
    const pending = Array.from({ length: 10 }, () => cached.getToken('s'));
    release();
    const tokens = await Promise.all(pending);
    expect(new Set(tokens.map((x) => x?.token))).toEqual(new Set(['token-1']));
    expect(inner.calls).toHaveLength(1);
  });

  it('does not cache a failure: the next call asks again', async () => {
    const t = 0;
    const inner = countingCredential(() => t);
    const cached = cachedTokenCredential(inner.credential, { now: () => t });
    inner.failNext(true);
    await expect(cached.getToken('s')).rejects.toThrow(/AADSTS7000215/);
    inner.failNext(false);
    expect((await cached.getToken('s'))?.token).toBe('token-2');
  });

  it('passes claims challenges and tenant-specific asks straight through', async () => {
    const t = 0;
    const inner = countingCredential(() => t);
    const cached = cachedTokenCredential(inner.credential, { now: () => t });
    await cached.getToken('s');
    await cached.getToken('s', { claims: '{"access_token":{"nbf":{"essential":true}}}' });
    await cached.getToken('s', { tenantId: 'contoso.onmicrosoft.com' });
    expect(inner.calls).toHaveLength(3);
  });
});
