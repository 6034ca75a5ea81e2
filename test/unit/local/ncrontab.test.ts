import { describe, expect, it } from 'vitest';
import { parseNcrontab } from '../../../dev/local/ncrontab.js';

const at = (iso: string) => new Date(iso);

describe('parseNcrontab', () => {
  it('fires every five minutes on the minute for the maintenance schedule', () => {
    const schedule = parseNcrontab('0 */5 * * * *');
    expect(schedule.next(at('2026-11-23T10:02:31Z')).toISOString()).toBe('2026-11-23T10:05:00.000Z');
    expect(schedule.next(at('2026-11-23T10:05:00Z')).toISOString()).toBe('2026-11-23T10:10:00.000Z');
    expect(schedule.next(at('2026-11-23T23:59:00Z')).toISOString()).toBe('2026-11-24T00:00:00.000Z');
  });
  it('handles lists, ranges and day-of-week', () => {
    const schedule = parseNcrontab('30 0 9-17/4 * * 1-5');
    // 2026-11-28 is a Saturday: the next weekday 09:00:30 is Monday 30th.
    expect(schedule.next(at('2026-11-27T17:00:31Z')).toISOString()).toBe('2026-11-30T09:00:30.000Z');
    expect(schedule.next(at('2026-11-30T09:00:30Z')).toISOString()).toBe('2026-11-30T13:00:30.000Z');
  });
  it.each(['* * * * *', '61 * * * * *', '*/0 * * * * *', 'a * * * * *', '5-1 * * * * *'])(
    'rejects "%s"',
    (expr) => {
      expect(() => parseNcrontab(expr)).toThrow(/NCRONTAB/);
    },
  );
});
