/**
 * Fault injection and Graph's throttling limits.
 *
 * - `injectStatus`: answer matching requests with a status (429/5xx/403/404) `times` times.
 * - Subscription write budget per app per tenant. Graph rule: subscription create, renew and
 *   delete are throttled per app per tenant (published figure 1,000 per 20 s); over it → 429 with
 *   Retry-After. Modelled as a sliding 20 s window of accepted writes.
 * - Outlook limits per app per mailbox: 4 concurrent requests and 10,000 requests per 10 minutes;
 *   over either → 429 `ApplicationThrottled` with Retry-After.
 */

export type InjectableStatus = 429 | 500 | 503 | 504 | 403 | 404;

export interface FaultMatch {
  /** HTTP method, case-insensitive. Any when absent. */
  method?: string;
  /** Substring of the request path + query (raw or percent-decoded), e.g. '/subscriptions'.
   * A `$batch` member's path is '/v1.0' + its relative url. */
  pathIncludes?: string;
}

export interface InjectOptions {
  /** How many matching requests fail. Default 1; `Infinity` for every one. */
  times?: number;
  /** `Retry-After` seconds. Default 1 for 429 (Graph always sends one with 429); none otherwise. */
  retryAfterSeconds?: number;
  /** true: the fault hits `$batch` members only (the envelope stays 200). false (default): it hits
   * top-level requests only (a rule matching '/$batch' fails the whole envelope). */
  inBatchMembers?: boolean;
}

export interface GraphSimulatorFaults {
  /** Added to every request (Graph and token endpoint) before it is processed. */
  latencyMs: number;
  /** Outlook: concurrent requests per app per mailbox. Default 4; 0 = unlimited. */
  mailboxConcurrency: number;
  /** Outlook: requests per app per mailbox in 10 minutes. Default 10,000; 0 = unlimited. */
  mailboxRequestsPer10Minutes: number;
  injectStatus(match: FaultMatch, status: InjectableStatus, opts?: InjectOptions): void;
  /** Drops every injected rule and write budget override, and resets latency to 0. */
  clear(): void;
  /** Subscription writes (create, renew, delete) per app in this tenant per 20 s. Default 1,000.
   * Starts a fresh window for the tenant. */
  setSubscriptionWriteBudget(tenantId: string, writesPer20s: number): void;
}

interface Rule {
  method?: string;
  pathIncludes?: string;
  status: InjectableStatus;
  remaining: number;
  retryAfterSeconds?: number;
  inBatchMembers: boolean;
}

export interface InjectedFault {
  status: InjectableStatus;
  retryAfterSeconds?: number;
}

export const DEFAULT_WRITE_BUDGET_PER_20S = 1000;
const WRITE_WINDOW_MS = 20_000;
const MAILBOX_WINDOW_MS = 10 * 60_000;

export class FaultInjector implements GraphSimulatorFaults {
  latencyMs = 0;
  mailboxConcurrency = 4;
  mailboxRequestsPer10Minutes = 10_000;
  private rules: Rule[] = [];
  private readonly budgets = new Map<string, number>();
  private readonly writes = new Map<string, number[]>();
  private readonly mailboxInFlight = new Map<string, number>();
  private readonly mailboxRequests = new Map<string, number[]>();

  injectStatus(match: FaultMatch, status: InjectableStatus, opts: InjectOptions = {}): void {
    const times = opts.times ?? 1;
    if (!(times > 0)) throw new Error('injectStatus: times must be > 0');
    const rule: Rule = { status, remaining: times, inBatchMembers: opts.inBatchMembers ?? false };
    if (match.method) rule.method = match.method.toUpperCase();
    if (match.pathIncludes) rule.pathIncludes = match.pathIncludes;
    const retryAfter = opts.retryAfterSeconds ?? (status === 429 ? 1 : undefined);
    if (retryAfter !== undefined) rule.retryAfterSeconds = retryAfter;
    this.rules.push(rule);
  }

  clear(): void {
    this.rules = [];
    this.latencyMs = 0;
    this.budgets.clear();
    this.writes.clear();
  }

  setSubscriptionWriteBudget(tenantId: string, writesPer20s: number): void {
    if (!(writesPer20s >= 0)) throw new Error('setSubscriptionWriteBudget: writesPer20s must be >= 0');
    const tenant = tenantId.toLowerCase();
    this.budgets.set(tenant, writesPer20s);
    // A new budget starts a fresh window, so a test sees exactly `writesPer20s` writes pass.
    for (const key of [...this.writes.keys()]) if (key.startsWith(`${tenant}|`)) this.writes.delete(key);
  }

  /**
   * The first live rule matching the request, consumed. `where`: 'graph' (a top-level Graph
   * request), 'member' (a `$batch` member) or 'entra' (token endpoint and discovery: only rules
   * whose `pathIncludes` explicitly matches).
   */
  take(where: 'graph' | 'member' | 'entra', method: string, pathAndQuery: string): InjectedFault | undefined {
    let decoded = pathAndQuery;
    try {
      decoded = decodeURIComponent(pathAndQuery);
    } catch {
      // keep raw
    }
    for (const rule of this.rules) {
      if (rule.remaining <= 0) continue;
      if (rule.inBatchMembers !== (where === 'member')) continue;
      if (where === 'entra' && !rule.pathIncludes) continue;
      if (rule.method && rule.method !== method.toUpperCase()) continue;
      if (
        rule.pathIncludes &&
        !pathAndQuery.includes(rule.pathIncludes) &&
        !decoded.includes(rule.pathIncludes)
      ) {
        continue;
      }
      rule.remaining -= 1;
      return rule.retryAfterSeconds === undefined
        ? { status: rule.status }
        : { status: rule.status, retryAfterSeconds: rule.retryAfterSeconds };
    }
    return undefined;
  }

  /** Takes one subscription write from the app's budget in this tenant, or says when to retry. */
  takeSubscriptionWrite(
    tenantId: string,
    appId: string,
    now = Date.now(),
  ): { retryAfterSeconds: number } | undefined {
    const budget = this.budgets.get(tenantId.toLowerCase()) ?? DEFAULT_WRITE_BUDGET_PER_20S;
    const key = `${tenantId.toLowerCase()}|${appId.toLowerCase()}`;
    const log = (this.writes.get(key) ?? []).filter((t) => t > now - WRITE_WINDOW_MS);
    this.writes.set(key, log);
    if (log.length >= budget) {
      const oldest = log[0] ?? now;
      return { retryAfterSeconds: Math.max(1, Math.ceil((oldest + WRITE_WINDOW_MS - now) / 1000)) };
    }
    log.push(now);
    return undefined;
  }

  /**
   * Enters a mailbox request for (app, mailbox). Returns a release function, or the throttle
   * answer when the app is over a mailbox limit.
   */
  enterMailbox(
    appId: string,
    userId: string,
    now = Date.now(),
  ): { release: () => void } | { retryAfterSeconds: number; reason: string } {
    const key = `${appId.toLowerCase()}|${userId.toLowerCase()}`;
    if (this.mailboxRequestsPer10Minutes > 0) {
      const log = (this.mailboxRequests.get(key) ?? []).filter((t) => t > now - MAILBOX_WINDOW_MS);
      this.mailboxRequests.set(key, log);
      if (log.length >= this.mailboxRequestsPer10Minutes) {
        const oldest = log[0] ?? now;
        return {
          retryAfterSeconds: Math.max(1, Math.ceil((oldest + MAILBOX_WINDOW_MS - now) / 1000)),
          reason: 'Application is over its MailboxRequests limit.',
        };
      }
      log.push(now);
    }
    const inFlight = this.mailboxInFlight.get(key) ?? 0;
    if (this.mailboxConcurrency > 0 && inFlight >= this.mailboxConcurrency) {
      return { retryAfterSeconds: 1, reason: 'Application is over its MailboxConcurrency limit.' };
    }
    this.mailboxInFlight.set(key, inFlight + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const n = (this.mailboxInFlight.get(key) ?? 1) - 1;
        if (n <= 0) this.mailboxInFlight.delete(key);
        else this.mailboxInFlight.set(key, n);
      },
    };
  }
}
