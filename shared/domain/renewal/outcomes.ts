/** How a renewal member's answer is handled. Pure. */
import type { RenewalOutcome, StoredRenewalScheduleEntry } from '../ports.js';

export type OutcomeKind = 'renewed' | 'gone' | 'forbidden' | 'throttled' | 'transient' | 'failed';

/**
 * 2xx renewed; 404 gone (recreate); 403 forbidden (an operator must act); 429 throttled (honour
 * Retry-After); 5xx, 408 and "no answer" (0) transient (back off and retry); any other 4xx failed
 * (retried rarely: repeating the same request is unlikely to help).
 */
export function classifyOutcome(status: number): OutcomeKind {
  if (status >= 200 && status < 300) return 'renewed';
  if (status === 404) return 'gone';
  if (status === 403) return 'forbidden';
  if (status === 429) return 'throttled';
  if (status === 0 || status === 408 || status >= 500) return 'transient';
  return 'failed';
}

/** Exponential backoff for the n-th consecutive failure (n ≥ 1): base × 2^(n−1), capped. */
export function retryBackoffMs(attempts: number, baseMs: number, maxMs: number): number {
  const exponent = Math.min(Math.max(attempts, 1) - 1, 30);
  return Math.min(maxMs, baseMs * 2 ** exponent);
}

/** A usable Retry-After in ms (positive, finite), or undefined. */
export function retryAfterOf(outcome: RenewalOutcome | undefined): number | undefined {
  const value = outcome?.retryAfterMs;
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.ceil(value) : undefined;
}

/** What an operator should do about a 403, for the onForbidden callback. No secrets in it. */
export function forbiddenReason(
  entry: StoredRenewalScheduleEntry,
  outcome: RenewalOutcome | undefined,
  retryEveryMs: number,
): string {
  const code = outcome?.errorCode ? ` ${sanitise(outcome.errorCode)}` : '';
  const minutes = Math.round(retryEveryMs / 60_000);
  return (
    `Graph refused to renew the subscription (403${code}). The app probably lacks the Mail.Read ` +
    `application permission or admin consent in tenant ${sanitise(entry.tenantId)}, or an application ` +
    `access policy excludes this mailbox: grant consent or adjust the policy. The renewal is retried ` +
    `every ${minutes} min until the subscription expires; after that it is handed to recreation.`
  );
}

/** Graph error codes are identifiers; anything else is cut down so no payload leaks into logs. */
function sanitise(value: string): string {
  return value.replace(/[^A-Za-z0-9_.:-]/g, '').slice(0, 80);
}

/** ISO time from Graph, or undefined if absent or unparsable. */
export function parseGraphTime(value: string | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const time = Date.parse(value);
  return Number.isFinite(time) ? time : undefined;
}
