/**
 * Which due renewals to send this run, grouped by tenant into `$batch`es, in what order. Pure.
 *
 * - Due means `dueAt ≤ now` (normally: expires within the window). Entries read from the current
 *   bucket but due later in it are left alone.
 * - Soonest expiry first, within a tenant and across tenants, so with a capped run the renewals
 *   closest to expiring go first; an already expired subscription sorts first of all. It is still
 *   renewed rather than recreated: our expiry may be stale (renewed elsewhere) and Graph's 404 is
 *   the only reliable sign that it is gone, so recreation waits for that answer.
 * - Each tenant's due renewals are cut into full batches. A last, partial batch waits (up to
 *   `maxBatchWaitMs` past its due time) for more renewals to fill it; small tenants therefore
 *   send full batches instead of one request every run for one or two renewals.
 * - At most `maxRenewalsPerRun`, cut item by item by expiry across tenants; what does not fit
 *   stays due for the next run.
 * - Two rows for one subscription (left by an interrupted move) are renewed once.
 */
import type { StoredRenewalScheduleEntry } from '../ports.js';

export interface PlannedRenewal {
  entry: StoredRenewalScheduleEntry;
  /** Other due rows for the same subscription; removed together with `entry`. */
  duplicates: StoredRenewalScheduleEntry[];
}

export interface PlannedBatch {
  tenantId: string;
  items: PlannedRenewal[];
}

export interface RenewalPlan {
  /** In dispatch order. */
  batches: PlannedBatch[];
  /** Renewals in `batches`. */
  planned: number;
  /** Read but not due yet. */
  notDue: number;
  /** Due, waiting to fill a tenant's partial batch. */
  heldForBatching: number;
  /** Due, beyond `maxRenewalsPerRun`. */
  overCap: number;
  /** Extra rows for subscriptions that appear more than once. */
  duplicates: number;
}

export interface PlanOptions {
  windowMs: number;
  maxBatchSize: number;
  maxBatchWaitMs: number;
  maxRenewalsPerRun: number;
}

/** Soonest expiry first; ties broken so the order is total and reproducible. */
export function comparePriority(a: StoredRenewalScheduleEntry, b: StoredRenewalScheduleEntry): number {
  return (
    a.expiresAt - b.expiresAt ||
    a.dueAt - b.dueAt ||
    (a.subscriptionId < b.subscriptionId ? -1 : a.subscriptionId > b.subscriptionId ? 1 : 0) ||
    (a.bucket < b.bucket ? -1 : a.bucket > b.bucket ? 1 : 0)
  );
}

/**
 * True if a partial batch holding this renewal must go now rather than wait for company: it has
 * been due for `maxBatchWaitMs` (measured on the expiry, so a retried entry does not restart the
 * wait).
 */
export function mustSendAlone(entry: StoredRenewalScheduleEntry, now: number, options: PlanOptions): boolean {
  return entry.expiresAt <= now + options.windowMs - options.maxBatchWaitMs;
}

export function planRenewals(
  entries: readonly StoredRenewalScheduleEntry[],
  now: number,
  options: PlanOptions,
): RenewalPlan {
  let notDue = 0;
  const due: StoredRenewalScheduleEntry[] = [];
  for (const entry of entries) {
    if (entry.dueAt <= now) due.push(entry);
    else notDue++;
  }
  due.sort(comparePriority);

  // One renewal per subscription, represented by its most urgent row.
  let duplicates = 0;
  const bySubscription = new Map<string, PlannedRenewal>();
  const byTenant = new Map<string, PlannedRenewal[]>();
  for (const entry of due) {
    const existing = bySubscription.get(entry.subscriptionId);
    if (existing) {
      existing.duplicates.push(entry);
      duplicates++;
      continue;
    }
    const item: PlannedRenewal = { entry, duplicates: [] };
    bySubscription.set(entry.subscriptionId, item);
    let list = byTenant.get(entry.tenantId);
    if (!list) byTenant.set(entry.tenantId, (list = []));
    list.push(item);
  }

  // What each tenant may send: its full batches, plus the partial rest if that must go now.
  let heldForBatching = 0;
  const sendCount = new Map<string, number>();
  for (const [tenantId, items] of byTenant) {
    const full = items.length - (items.length % options.maxBatchSize);
    const rest = items[full];
    const count = rest && !mustSendAlone(rest.entry, now, options) ? full : items.length;
    heldForBatching += items.length - count;
    sendCount.set(tenantId, count);
  }

  // The cap cuts the soonest-expiring renewals across all tenants (item by item, not batch by
  // batch). `due` is already in priority order, and so is each tenant's list.
  const taken: PlannedRenewal[] = [];
  let sendable = 0;
  const position = new Map<string, number>();
  for (const entry of due) {
    const item = bySubscription.get(entry.subscriptionId);
    if (!item || item.entry !== entry) continue; // a duplicate row
    const tenantId = entry.tenantId;
    const index = position.get(tenantId) ?? 0;
    position.set(tenantId, index + 1);
    if (index >= (sendCount.get(tenantId) ?? 0)) continue;
    sendable++;
    if (taken.length < options.maxRenewalsPerRun) taken.push(item);
  }
  const overCap = sendable - taken.length;

  const perTenant = new Map<string, PlannedRenewal[]>();
  for (const item of taken) {
    let list = perTenant.get(item.entry.tenantId);
    if (!list) perTenant.set(item.entry.tenantId, (list = []));
    list.push(item);
  }
  const batches: PlannedBatch[] = [];
  for (const [tenantId, items] of perTenant) {
    for (let i = 0; i < items.length; i += options.maxBatchSize) {
      batches.push({ tenantId, items: items.slice(i, i + options.maxBatchSize) });
    }
  }
  // Items are unique and comparePriority is total, so batch heads never tie.
  batches.sort((a, b) => comparePriority(a.items[0]!.entry, b.items[0]!.entry));
  const planned = taken.length;

  return { batches, planned, notDue, heldForBatching, overCap, duplicates };
}
