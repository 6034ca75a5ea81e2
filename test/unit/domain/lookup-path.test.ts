import { describe, expect, it } from 'vitest';
import {
  CENSUS_CYCLE_MS,
  LookupPathGate,
  advanceCensus,
  freshCensus,
  lookupPathStatus,
  type ClientStateCensus,
} from '../../../shared/domain/lookup-path.js';

const T0 = Date.parse('2026-12-01T00:00:00Z');
const HOUR = 3_600_000;
const run = (overrides: Partial<Parameters<typeof advanceCensus>[1]> = {}) => ({
  oldStyle: 0,
  upgraded: 0,
  unclassified: 0,
  passComplete: true,
  ...overrides,
});

describe('clientState census', () => {
  it('is a whole subscription lifetime (10,080 minutes) plus an hour', () => {
    expect(CENSUS_CYCLE_MS).toBe(10_080 * 60_000 + HOUR);
  });

  it('adds runs up within a cycle and keeps the path on', () => {
    let census = advanceCensus(undefined, run({ oldStyle: 3, upgraded: 2 }), T0, CENSUS_CYCLE_MS);
    census = advanceCensus(census, run({ oldStyle: 1, unclassified: 1 }), T0 + HOUR, CENSUS_CYCLE_MS);
    expect(census).toMatchObject({ lookupPath: 'on', oldStyle: 4, upgraded: 2, unclassified: 1 });
    expect(census.lastCycle).toBeUndefined();
  });

  it('closes a cycle with old-style subscriptions left: on, with the count, and a new cycle', () => {
    const start = freshCensus(T0);
    const mid = advanceCensus(start, run({ oldStyle: 2, upgraded: 5 }), T0 + HOUR, CENSUS_CYCLE_MS);
    const closed = advanceCensus(mid, run(), T0 + CENSUS_CYCLE_MS, CENSUS_CYCLE_MS);
    expect(closed).toMatchObject({ lookupPath: 'on', oldStyle: 0, upgraded: 0 });
    expect(closed.lastCycle).toMatchObject({ oldStyle: 2, upgraded: 5, unclassified: 0 });
    expect(closed.cycleStartedAt).toBe(new Date(T0 + CENSUS_CYCLE_MS).toISOString());
  });

  it('switches off after a cycle that left nothing old-style and classified everything, and stays off', () => {
    const mid = advanceCensus(freshCensus(T0), run({ upgraded: 7 }), T0 + HOUR, CENSUS_CYCLE_MS);
    const off = advanceCensus(mid, run(), T0 + CENSUS_CYCLE_MS, CENSUS_CYCLE_MS);
    expect(off).toMatchObject({ lookupPath: 'off', lastCycle: { oldStyle: 0, upgraded: 7 } });
    expect(advanceCensus(off, run({ oldStyle: 9 }), T0 + 2 * CENSUS_CYCLE_MS, CENSUS_CYCLE_MS)).toBe(off);
  });

  it.each([
    ['an unclassified renewal', run({ unclassified: 1 }), T0 + CENSUS_CYCLE_MS],
    ['a pass that left renewals due (the cycle waits)', run({ passComplete: false }), T0 + CENSUS_CYCLE_MS],
    ['a cycle not over yet', run(), T0 + CENSUS_CYCLE_MS - 1],
  ])('does not switch off after %s', (_name, last, at) => {
    expect(advanceCensus(freshCensus(T0), last, at, CENSUS_CYCLE_MS).lookupPath).toBe('on');
  });
});

describe('lookupPathStatus', () => {
  const off: ClientStateCensus = {
    ...freshCensus(T0),
    lookupPath: 'off',
    offSince: '2026-12-08T01:00:00.000Z',
    lastCycle: { startedAt: 'a', endedAt: 'b', oldStyle: 0, upgraded: 4, unclassified: 0 },
  };
  const options = { mode: 'auto' as const, keysConfigured: true, cycleMs: CENSUS_CYCLE_MS };

  it('says off, since when, and that forged traffic costs no storage request', () => {
    const status = lookupPathStatus(off, options);
    expect(status).toMatchObject({ on: false, oldStyleSubscriptions: 0, offSince: off.offSince });
    expect(status.reason).toMatch(/without a storage request/);
  });

  it('says on with the last cycle’s count, or that the first cycle is running', () => {
    const counted = { ...freshCensus(T0), lastCycle: { ...off.lastCycle!, oldStyle: 12 } };
    expect(lookupPathStatus(counted, options)).toMatchObject({ on: true, oldStyleSubscriptions: 12 });
    expect(lookupPathStatus(counted, options).reason).toMatch(/12 old-style subscription/);
    const first = lookupPathStatus(undefined, options);
    expect(first).toMatchObject({ on: true, oldStyleSubscriptions: null });
    expect(first.reason).toMatch(/first census cycle/);
  });

  it('follows CLIENT_STATE_LOOKUP and CLIENT_STATE_KEYS over the census', () => {
    expect(lookupPathStatus(off, { ...options, mode: 'on' }).on).toBe(true);
    expect(lookupPathStatus(undefined, { ...options, mode: 'off' }).on).toBe(false);
    expect(lookupPathStatus(off, { ...options, keysConfigured: false }).on).toBe(true);
  });
});

describe('LookupPathGate', () => {
  function gate(answers: (boolean | Error)[], mode: 'auto' | 'on' | 'off' = 'auto') {
    let now = 0;
    let reads = 0;
    const g = new LookupPathGate({
      mode,
      read: () => {
        const answer = answers[Math.min(reads++, answers.length - 1)]!;
        return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
      },
      refreshMs: 60_000,
      now: () => now,
    });
    return { g, advance: (ms: number) => (now += ms), reads: () => reads };
  }

  it('reads at most once per interval, one read for concurrent askers', async () => {
    const { g, advance, reads } = gate([true, true]);
    expect(await Promise.all([g.isOn(), g.isOn(), g.isOn()])).toEqual([true, true, true]);
    advance(59_000);
    expect(await g.isOn()).toBe(true);
    expect(reads()).toBe(1);
    advance(2_000);
    expect(await g.isOn()).toBe(true);
    expect(reads()).toBe(2);
  });

  it('once it read off, never reads again', async () => {
    const { g, advance, reads } = gate([true, false, true]);
    await g.isOn();
    advance(61_000);
    expect(await g.isOn()).toBe(false);
    advance(10 * 60_000);
    expect(await g.isOn()).toBe(false);
    expect(reads()).toBe(2);
    expect(g.readsMade).toBe(2);
  });

  it('counts a failed read as on until the next interval', async () => {
    const { g, advance, reads } = gate([new Error('table down'), false]);
    expect(await g.isOn()).toBe(true);
    expect(await g.isOn()).toBe(true);
    expect(reads()).toBe(1);
    advance(61_000);
    expect(await g.isOn()).toBe(false);
  });

  it('never reads with an override', async () => {
    expect(await gate([false], 'on').g.isOn()).toBe(true);
    const off = gate([true], 'off');
    expect(await off.g.isOn()).toBe(false);
    expect(off.reads()).toBe(0);
  });
});
