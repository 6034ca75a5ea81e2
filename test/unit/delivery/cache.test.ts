import { describe, expect, it } from 'vitest';
import { TtlCache } from '../../../shared/delivery/cache.js';

describe('TtlCache', () => {
  it('shares one load between concurrent misses and caches it', async () => {
    const cache = new TtlCache<number>(1_000, 10, () => 0);
    let loads = 0;
    const load = async () => ++loads;
    const [a, b] = await Promise.all([cache.get('k', load), cache.get('k', load)]);
    expect([a, b, loads]).toEqual([1, 1, 1]);
    expect(await cache.get('k', load)).toBe(1);
  });

  it('does not cache a load that was forgotten while in flight', async () => {
    const cache = new TtlCache<string>(1_000, 10, () => 0);
    let release!: (value: string) => void;
    const stale = cache.get('k', () => new Promise<string>((resolve) => (release = resolve)));
    cache.forget('k');
    release('before');
    expect(await stale).toBe('before');
    expect(await cache.get('k', async () => 'after')).toBe('after');
    expect(await cache.get('k', async () => 'again')).toBe('after');
  });

  it('passes a synchronous throw of the loader through', async () => {
    const cache = new TtlCache<string>(1_000, 10, () => 0);
    const boom = () => {
      throw new Error('boom');
    };
    await expect(cache.get('k', boom)).rejects.toThrow('boom');
    expect(await cache.get('k', async () => 'ok')).toBe('ok');
  });
});
