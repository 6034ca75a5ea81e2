/**
 * The webhook's lookup path for old-style clientStates (unsigned, or v1, whose lifecycle events
 * cannot be verified without the stored subscription), and the census the maintenance timer keeps
 * to decide when it can be switched off. Pure: the clock and the control-document reads are
 * injected.
 *
 * Why a census over renewal cycles instead of a count kept on every write: subscriptions created
 * before v2 clientStates existed carry no marker anywhere but their stored clientState, and
 * finding them would mean scanning the subscriptions table, which grows with mailboxes (DESIGN:
 * no timer path scans such a table). The renewal pass, though, renews every live subscription once
 * per lifetime (at most 10,080 minutes) from its due buckets. So after each run the timer point-reads
 * the subscriptions it just renewed, counts the old-style ones (and recreates them as v2 within
 * the write budget), and adds them to the current cycle. A cycle lasts a subscription lifetime
 * plus an hour: every live subscription comes due in it. A cycle that closes with no old-style
 * subscription left (none seen, or all of them recreated) proves there are none: with
 * CLIENT_STATE_KEYS set no old-style subscription is ever created again. From then on the lookup
 * path is off and stays off, and the census reads nothing more.
 */

import { DEFAULT_RENEWAL_OPTIONS } from './renewal/options.js';

/** A census cycle: a subscription's longest lifetime plus an hour, so every live one comes due in it. */
export const CENSUS_CYCLE_MS = DEFAULT_RENEWAL_OPTIONS.maxLifetimeMs + 3_600_000;

/** The census control document. */
export const CLIENT_STATE_CENSUS = 'client-state-census';

/** Operator override (`CLIENT_STATE_LOOKUP`): `auto` follows the census. */
export type LookupPathMode = 'auto' | 'on' | 'off';

export interface ClientStateCensus {
  /** `on` while old-style subscriptions may exist; `off` once a whole cycle found none left. */
  lookupPath: 'on' | 'off';
  offSince?: string;
  /** Why it is on when that is not simply "cycle in progress" (e.g. keys unset). */
  note?: string;
  cycleStartedAt: string;
  /** Old-style subscriptions renewed in this cycle and still old-style (not recreated yet). */
  oldStyle: number;
  /** Old-style subscriptions recreated as v2 in this cycle. */
  upgraded: number;
  /** Renewed subscriptions not classified in this cycle (read failed, out of time): the cycle cannot prove zero. */
  unclassified: number;
  /** The last completed cycle: its `oldStyle` is the count status reports. */
  lastCycle?: {
    startedAt: string;
    endedAt: string;
    oldStyle: number;
    upgraded: number;
    unclassified: number;
  };
  updatedAt: string;
}

/** What one maintenance run found among the subscriptions its renewal pass renewed. */
export interface CensusRun {
  /** Old-style subscriptions renewed and left old-style. */
  oldStyle: number;
  upgraded: number;
  unclassified: number;
  /** The renewal pass held the lease and finished every due renewal (no backlog). */
  passComplete: boolean;
}

export function freshCensus(now: number, note?: string): ClientStateCensus {
  const at = new Date(now).toISOString();
  return {
    lookupPath: 'on',
    ...(note ? { note } : {}),
    cycleStartedAt: at,
    oldStyle: 0,
    upgraded: 0,
    unclassified: 0,
    updatedAt: at,
  };
}

/**
 * Adds one run to the census; closes the cycle when it has lasted `cycleMs` and this run's pass
 * left nothing due. A closed cycle with nothing old-style left and nothing unclassified switches
 * the lookup path off, for good.
 */
export function advanceCensus(
  census: ClientStateCensus | undefined,
  run: CensusRun,
  now: number,
  cycleMs: number,
): ClientStateCensus {
  const current = census ?? freshCensus(now);
  if (current.lookupPath === 'off') return current;
  const at = new Date(now).toISOString();
  const next: ClientStateCensus = {
    ...current,
    oldStyle: current.oldStyle + run.oldStyle,
    upgraded: current.upgraded + run.upgraded,
    unclassified: current.unclassified + run.unclassified,
    updatedAt: at,
  };
  delete next.note;
  const started = Date.parse(current.cycleStartedAt);
  if (!run.passComplete || !(now - started >= cycleMs)) return next;
  const lastCycle = {
    startedAt: current.cycleStartedAt,
    endedAt: at,
    oldStyle: next.oldStyle,
    upgraded: next.upgraded,
    unclassified: next.unclassified,
  };
  if (lastCycle.oldStyle === 0 && lastCycle.unclassified === 0) {
    return {
      lookupPath: 'off',
      offSince: at,
      cycleStartedAt: at,
      oldStyle: 0,
      upgraded: 0,
      unclassified: 0,
      lastCycle,
      updatedAt: at,
    };
  }
  return { ...freshCensus(now), lastCycle };
}

/** The census as status shows it. */
export interface LookupPathStatus {
  /** Whether the webhook looks up old-style (unsigned or v1) clientStates. */
  on: boolean;
  mode: LookupPathMode;
  /** Why, in words. */
  reason: string;
  /** Old-style subscriptions left at the end of the last complete cycle; null before one completed. */
  oldStyleSubscriptions: number | null;
  /** This cycle so far: old-style renewed and not yet recreated, recreated as v2. */
  thisCycle?: { startedAt: string; endsAt: string; oldStyle: number; upgraded: number; unclassified: number };
  offSince?: string;
}

export function lookupPathStatus(
  census: ClientStateCensus | undefined,
  options: { mode: LookupPathMode; keysConfigured: boolean; cycleMs: number },
): LookupPathStatus {
  const oldStyleSubscriptions = census?.lastCycle ? census.lastCycle.oldStyle : null;
  const thisCycle =
    census && census.lookupPath === 'on'
      ? {
          startedAt: census.cycleStartedAt,
          endsAt: new Date(Date.parse(census.cycleStartedAt) + options.cycleMs).toISOString(),
          oldStyle: census.oldStyle,
          upgraded: census.upgraded,
          unclassified: census.unclassified,
        }
      : undefined;
  const base = {
    mode: options.mode,
    oldStyleSubscriptions,
    ...(thisCycle ? { thisCycle } : {}),
    ...(census?.offSince ? { offSince: census.offSince } : {}),
  };
  if (!options.keysConfigured) {
    return {
      ...base,
      on: true,
      reason: 'CLIENT_STATE_KEYS is not set: every notification is checked against its stored subscription.',
    };
  }
  if (options.mode === 'on') {
    return { ...base, on: true, reason: 'CLIENT_STATE_LOOKUP=on: old-style clientStates are looked up.' };
  }
  if (options.mode === 'off') {
    return {
      ...base,
      on: false,
      reason: 'CLIENT_STATE_LOOKUP=off: old-style clientStates are dropped without a lookup.',
    };
  }
  if (census?.lookupPath === 'off') {
    return {
      ...base,
      on: false,
      reason: `No old-style subscription is left (since ${census.offSince ?? census.updatedAt}): old-style clientStates are dropped without a storage request.`,
    };
  }
  const counted =
    oldStyleSubscriptions === null
      ? 'the first census cycle is still running'
      : `${oldStyleSubscriptions} old-style subscription(s) were left at the end of the last cycle`;
  return {
    ...base,
    on: true,
    reason: `Old-style (unsigned or v1) subscriptions may remain (${counted}): they are looked up, one cached storage read each; the timer recreates them as v2 when they are renewed.`,
  };
}

/**
 * What the webhook asks before it looks up an old-style clientState. Reads the census document
 * only when asked (i.e. only when an old-style item arrives), at most once per `refreshMs` per
 * instance, one read at a time; once it has seen `off` it never reads again. A failed read counts
 * as `on` until the next refresh (genuine old-style traffic keeps working).
 */
export class LookupPathGate {
  private value: boolean | undefined;
  private readAt = Number.NEGATIVE_INFINITY;
  private pending: Promise<boolean> | undefined;
  private reads = 0;

  constructor(
    private readonly options: {
      mode: LookupPathMode;
      /** Resolves true while the lookup path is on (the census document says so). */
      read: () => Promise<boolean>;
      refreshMs: number;
      now: () => number;
    },
  ) {}

  /** Census reads made so far (for tests and the benchmark). */
  get readsMade(): number {
    return this.reads;
  }

  isOn(): Promise<boolean> | boolean {
    if (this.options.mode !== 'auto') return this.options.mode === 'on';
    if (this.value === false) return false;
    if (this.value !== undefined && this.options.now() - this.readAt < this.options.refreshMs)
      return this.value;
    this.pending ??= this.refresh();
    return this.pending;
  }

  private async refresh(): Promise<boolean> {
    this.reads++;
    let on: boolean;
    try {
      on = await this.options.read();
    } catch {
      on = true;
    }
    this.value = on;
    this.readAt = this.options.now();
    this.pending = undefined;
    return on;
  }
}
