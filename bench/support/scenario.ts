/** The simulated world both contenders face: the same tenants, mailboxes and creation times. */
import { seededRandom, zipfSizes } from './random.js';

export interface Scenario {
  mailboxes: number;
  tenants: number;
  zipfExponent: number;
  /** All subscriptions are created within this time from the start (a bulk enrolment). */
  bunchMs: number;
  days: number;
  timerMs: number;
  start: number;
  seed: number;
  /** Graph's limit that the simulated Graph enforces. */
  graphWritesPerWindow: number;
  graphWindowMs: number;
  graphLatencyMs: number;
  failureRate: number;
  maxLifetimeMs: number;
  expirySafetyMs: number;
  windowMs: number;
}

export interface Population {
  tenantSizes: number[];
  /** Per subscription: its tenant and creation time, in creation order. */
  tenant: Uint16Array;
  createdAt: Float64Array;
}

export function buildPopulation(s: Scenario): Population {
  const random = seededRandom(s.seed);
  const tenantSizes = zipfSizes(s.mailboxes, s.tenants, s.zipfExponent);
  const tenant = new Uint16Array(s.mailboxes);
  let i = 0;
  tenantSizes.forEach((size, t) => {
    for (let k = 0; k < size; k++) tenant[i++] = t;
  });
  // Interleave tenants (Fisher-Yates), as a bulk enrolment would.
  for (let k = tenant.length - 1; k > 0; k--) {
    const j = Math.floor(random() * (k + 1));
    const tmp = tenant[k]!;
    tenant[k] = tenant[j]!;
    tenant[j] = tmp;
  }
  const createdAt = new Float64Array(s.mailboxes);
  for (let k = 0; k < s.mailboxes; k++) createdAt[k] = s.start + Math.floor(random() * s.bunchMs);
  return { tenantSizes, tenant, createdAt };
}

export const tenantName = (t: number): string => `tenant-${String(t).padStart(3, '0')}`;
export const tenantIndex = (name: string): number => Number(name.slice(7));
export const subscriptionName = (id: number): string => `s${id}`;
export const subscriptionIndex = (name: string): number => Number(name.slice(1));
