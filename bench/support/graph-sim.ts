/**
 * A simulated Graph for many tenants, compact enough for a million subscriptions: enforces the
 * per-tenant subscription-write limit (429 + Retry-After when exceeded), counts HTTP requests,
 * injects random member failures, and tracks which subscriptions expired.
 */

export interface GraphSimConfig {
  tenants: number;
  /** Graph's published limit: 1,000 subscription writes per 20 s per app per tenant. */
  writesPerWindow: number;
  windowMs: number;
  maxLifetimeMs: number;
  /** Share of members failing at random, split evenly into 429, 503 and 404. */
  failureRate: number;
  /** Retry-After of an injected 429, uniform in [min, max]. */
  injectedRetryAfterMs: [number, number];
  random: () => number;
}

export type MemberAnswer =
  | { status: 200; expiresAt: number }
  | { status: 429; retryAfterMs: number; injected: boolean }
  | { status: 400 | 404 | 503 };

/** Sliding-window write log of one tenant: accepted write times, oldest first. */
class WriteLog {
  private times: number[] = [];
  private head = 0;
  peak = 0;

  /** Writes in (now − window, now]. */
  count(now: number, windowMs: number): number {
    while (this.head < this.times.length && (this.times[this.head] ?? 0) <= now - windowMs) this.head++;
    if (this.head > 4096 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return this.times.length - this.head;
  }

  oldest(): number {
    return this.times[this.head] ?? 0;
  }

  add(now: number, windowMs: number): void {
    this.times.push(now);
    this.peak = Math.max(this.peak, this.count(now, windowMs));
  }
}

export class GraphSim {
  /** HTTP requests received ($batch = 1). */
  httpRequests = 0;
  /** Subscription writes accepted (renewals and creations). */
  writes = 0;
  renewed = 0;
  created = 0;
  /** 429s for exceeding the per-tenant limit. */
  throttledByLimit = 0;
  injected429 = 0;
  injected503 = 0;
  injected404 = 0;
  /** Subscriptions whose expiry passed before they were renewed. */
  expired = 0;

  private expiresAt = new Float64Array(1 << 20);
  private tenantOf = new Uint16Array(1 << 20);
  private alive = new Uint8Array(1 << 20);
  private nextId = 0;
  private readonly logs: WriteLog[];

  constructor(private readonly config: GraphSimConfig) {
    this.logs = Array.from({ length: config.tenants }, () => new WriteLog());
  }

  get subscriptionCount(): number {
    return this.nextId;
  }

  /**
   * Creates a subscription (a write, counted in the tenant's window; creation is not throttled
   * here). Returns its index.
   */
  create(tenant: number, now: number, expiresAt: number): number {
    const id = this.seed(tenant, expiresAt);
    this.created++;
    this.writes++;
    this.logs[tenant]?.add(now, this.config.windowMs);
    return id;
  }

  /**
   * One subscription write of a tenant (a creation, a deletion) at `now`, under Graph's limit: the
   * Retry-After in ms when the tenant's window is full (a 429), else undefined (counted).
   */
  tryWrite(tenant: number, now: number): number | undefined {
    const log = this.logs[tenant]!;
    if (log.count(now, this.config.windowMs) >= this.config.writesPerWindow) {
      this.throttledByLimit++;
      return Math.max(1, log.oldest() + this.config.windowMs - now);
    }
    this.writes++;
    log.add(now, this.config.windowMs);
    return undefined;
  }

  /** A subscription that exists before the simulation starts (the initial population). */
  seed(tenant: number, expiresAt: number): number {
    const id = this.nextId++;
    if (id >= this.expiresAt.length) this.grow();
    this.expiresAt[id] = expiresAt;
    this.tenantOf[id] = tenant;
    this.alive[id] = 1;
    return id;
  }

  tenant(id: number): number {
    return this.tenantOf[id] ?? 0;
  }

  /** One PATCH /subscriptions/{id} (a $batch member or a single request), at `now`. */
  renew(id: number, now: number, requested: number): MemberAnswer {
    const tenant = this.tenantOf[id] ?? 0;
    const log = this.logs[tenant]!;
    const { windowMs, writesPerWindow, failureRate, random } = this.config;
    if (log.count(now, windowMs) >= writesPerWindow) {
      this.throttledByLimit++;
      return { status: 429, retryAfterMs: Math.max(1, log.oldest() + windowMs - now), injected: false };
    }
    const roll = random();
    if (roll < failureRate) {
      const kind = Math.floor((roll / failureRate) * 3);
      if (kind === 0) {
        this.injected429++;
        const [min, max] = this.config.injectedRetryAfterMs;
        return { status: 429, retryAfterMs: Math.round(min + random() * (max - min)), injected: true };
      }
      if (kind === 1) {
        this.injected503++;
        return { status: 503 };
      }
      // Gone for good (deleted by an admin, mailbox removed…): the caller must recreate.
      this.injected404++;
      this.kill(id);
      return { status: 404 };
    }
    this.writes++;
    log.add(now, windowMs);
    if (this.alive[id] !== 1) return { status: 404 };
    if ((this.expiresAt[id] ?? 0) <= now) {
      this.expired++;
      this.kill(id);
      return { status: 404 };
    }
    if (requested <= now || requested > now + this.config.maxLifetimeMs) return { status: 400 };
    this.expiresAt[id] = requested;
    this.renewed++;
    return { status: 200, expiresAt: requested };
  }

  /** Counts live subscriptions whose expiry has passed by `now` (at the end of the run). */
  countExpiredAt(now: number): number {
    let n = 0;
    for (let id = 0; id < this.nextId; id++) {
      if (this.alive[id] === 1 && (this.expiresAt[id] ?? 0) <= now) {
        n++;
        this.kill(id);
      }
    }
    this.expired += n;
    return n;
  }

  isAlive(id: number): boolean {
    return this.alive[id] === 1;
  }

  /** Highest number of writes any tenant saw in one window, and the tenant. */
  peakWrites(): { peak: number; tenant: number } {
    let peak = 0;
    let tenant = 0;
    this.logs.forEach((log, i) => {
      if (log.peak > peak) {
        peak = log.peak;
        tenant = i;
      }
    });
    return { peak, tenant };
  }

  private kill(id: number): void {
    this.alive[id] = 0;
  }

  private grow(): void {
    const size = this.expiresAt.length * 2;
    const e = new Float64Array(size);
    e.set(this.expiresAt);
    this.expiresAt = e;
    const t = new Uint16Array(size);
    t.set(this.tenantOf);
    this.tenantOf = t;
    const a = new Uint8Array(size);
    a.set(this.alive);
    this.alive = a;
  }
}
