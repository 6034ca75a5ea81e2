/**
 * NCRONTAB (six fields: second minute hour day month day-of-week), as the Functions timer
 * trigger uses, for the local runner. Supports `*`, `*\/n`, `a-b`, `a-b/n` and lists.
 * Times are UTC, like WEBSITE_TIME_ZONE's default.
 */
export interface CronSchedule {
  next(after: Date): Date;
}

const FIELDS = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day-of-week', min: 0, max: 6 },
] as const;

export function parseNcrontab(expression: string): CronSchedule {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 6) {
    throw new Error(`NCRONTAB "${expression}" must have 6 fields: second minute hour day month day-of-week`);
  }
  const sets = parts.map((part, i) => parseField(part, FIELDS[i]!, expression));
  const [seconds, minutes, hours, days, months, weekdays] = sets as [
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
  ];
  return {
    next(after: Date): Date {
      const t = new Date(Math.floor(after.getTime() / 1000) * 1000 + 1000);
      // A bounded search: at most ~4 years of candidate minutes, far beyond any schedule we use.
      for (let guard = 0; guard < 4 * 366 * 24 * 60 * 60; guard++) {
        if (!months.has(t.getUTCMonth() + 1) || !days.has(t.getUTCDate()) || !weekdays.has(t.getUTCDay())) {
          t.setUTCHours(0, 0, 0, 0);
          t.setUTCDate(t.getUTCDate() + 1);
          continue;
        }
        if (!hours.has(t.getUTCHours())) {
          t.setUTCMinutes(0, 0, 0);
          t.setUTCHours(t.getUTCHours() + 1);
          continue;
        }
        if (!minutes.has(t.getUTCMinutes())) {
          t.setUTCSeconds(0, 0);
          t.setUTCMinutes(t.getUTCMinutes() + 1);
          continue;
        }
        if (!seconds.has(t.getUTCSeconds())) {
          t.setUTCSeconds(t.getUTCSeconds() + 1);
          continue;
        }
        return t;
      }
      throw new Error(`NCRONTAB "${expression}" never fires`);
    },
  };
}

function parseField(part: string, field: (typeof FIELDS)[number], expression: string): Set<number> {
  const values = new Set<number>();
  for (const item of part.split(',')) {
    const match = /^(\*|\d+(?:-\d+)?)(?:\/(\d+))?$/.exec(item);
    if (!match) throw new Error(`NCRONTAB "${expression}": bad ${field.name} field "${part}"`);
    const [, range = '', stepText] = match;
    const step = stepText ? Number(stepText) : 1;
    let from: number = field.min;
    let to: number = field.max;
    if (range !== '*') {
      const [a, b] = range.split('-').map(Number);
      from = a!;
      to = b ?? (stepText ? field.max : a!);
    }
    if (step < 1 || from < field.min || to > field.max || from > to) {
      throw new Error(
        `NCRONTAB "${expression}": ${field.name} field "${part}" is out of range ${field.min}-${field.max}`,
      );
    }
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return values;
}
