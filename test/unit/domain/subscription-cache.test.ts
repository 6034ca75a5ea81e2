import { describe, expect, it } from 'vitest';
import { CachedSubscriptionLookup } from '../../../shared/domain/subscription-cache.js';
import { InMemorySubscriptionLookup, subscriptionRecord } from '../../support/fakes.js';

function setup(options: Partial<{ knownTtlMs: number; unknownTtlMs: number; maxEntries: number }> = {}) {
  let now = 0;
  const inner = new InMemorySubscriptionLookup()
    .add(subscriptionRecord({ subscriptionId: 'a' }))
    .add(subscriptionRecord({ subscriptionId: 'b' }));
  const cache = new CachedSubscriptionLookup(inner, {
    knownTtlMs: 1000,
    unknownTtlMs: 100,
    maxEntries: 10,
    now: () => now,
    ...options,
  });
  return { inner, cache, advance: (ms: number) => (now += ms) };
}

describe('CachedSubscriptionLookup', () => {
  it('answers repeated lookups from memory until the TTL passes', async () => {
    const { inner, cache, advance } = setup();
    await cache.getSubscription('a');
    await cache.getSubscription('a');
    expect(inner.reads).toBe(1);
    advance(1000);
    await cache.getSubscription('a');
    expect(inner.reads).toBe(2);
  });

  it('remembers unknown ids for the shorter TTL', async () => {
    const { inner, cache, advance } = setup();
    expect(await cache.getSubscription('zzz')).toBeUndefined();
    expect(await cache.getSubscription('zzz')).toBeUndefined();
    expect(inner.reads).toBe(1);
    advance(100);
    await cache.getSubscription('zzz');
    expect(inner.reads).toBe(2);
  });

  it('shares one read between concurrent misses', async () => {
    const { inner, cache } = setup();
    const results = await Promise.all([
      cache.getSubscription('a'),
      cache.getSubscription('a'),
      cache.getSubscription('a'),
    ]);
    expect(inner.reads).toBe(1);
    expect(results.every((r) => r?.subscriptionId === 'a')).toBe(true);
  });

  it('does not cache failures', async () => {
    const { inner, cache } = setup();
    inner.failWith = new Error('down');
    await expect(cache.getSubscription('a')).rejects.toThrow('down');
    inner.failWith = undefined;
    expect((await cache.getSubscription('a'))?.subscriptionId).toBe('a');
  });

  it('evicts the oldest entries beyond maxEntries', async () => {
    const { inner, cache } = setup({ maxEntries: 2 });
    await cache.getSubscription('a');
    await cache.getSubscription('b');
    await cache.getSubscription('c');
    expect(cache.size).toBe(2);
    await cache.getSubscription('a');
    expect(inner.reads).toBe(4);
  });

  it('forget drops an entry', async () => {
    const { inner, cache } = setup();
    await cache.getSubscription('a');
    cache.forget('a');
    await cache.getSubscription('a');
    expect(inner.reads).toBe(2);
  });

  it('with a zero TTL always reads storage', async () => {
    const { inner, cache } = setup({ knownTtlMs: 0 });
    await cache.getSubscription('a');
    await cache.getSubscription('a');
    expect(inner.reads).toBe(2);
  });

  it('refreshes a hot entry in the background before it expires, without blocking', async () => {
    const { inner, cache, advance } = setup({ knownTtlMs: 1000 });
    await cache.getSubscription('a');
    advance(800); // past 75% of the TTL
    inner.records.set('a', subscriptionRecord({ subscriptionId: 'a', clientState: 'rotated' }));
    const served = await cache.getSubscription('a');
    expect(served?.clientState).not.toBe('rotated'); // answered from memory
    await new Promise((r) => setImmediate(r));
    expect(inner.reads).toBe(2);
    advance(500); // beyond the original expiry, before the refreshed entry is due for refresh
    expect((await cache.getSubscription('a'))?.clientState).toBe('rotated');
    expect(inner.reads).toBe(2);
  });

  it('drops an entry when a background refresh finds the subscription deleted', async () => {
    const { inner, cache, advance } = setup({ knownTtlMs: 1000, unknownTtlMs: 100 });
    await cache.getSubscription('a');
    advance(800);
    inner.records.delete('a');
    await cache.getSubscription('a');
    await new Promise((r) => setImmediate(r));
    expect(await cache.getSubscription('a')).toBeUndefined();
  });
});
