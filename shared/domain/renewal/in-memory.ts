/**
 * In-memory implementations of the renewal ports, with the same semantics as the Table Storage
 * adapters (buckets, ETags, conditional writes). For unit tests and the benchmark; they hold a
 * million entries comfortably.
 */
import { ConcurrencyError, ValidationError } from '../../errors.js';
import type {
  Lease,
  LeasePort,
  RenewalCursor,
  RenewalScheduleEntry,
  RenewalSchedulePort,
  StoredRenewalScheduleEntry,
} from '../ports.js';
import { renewalBucketOf } from './buckets.js';

/** Counts of calls, to check what a pass cost. */
export interface ScheduleOperationCounts {
  listBucket: number;
  upsertEntry: number;
  replaceEntry: number;
  removeEntry: number;
  saveCursor: number;
}

export class InMemoryRenewalSchedule implements RenewalSchedulePort {
  private readonly buckets = new Map<string, Map<string, StoredRenewalScheduleEntry>>();
  private cursor: RenewalCursor | undefined;
  private version = 0;
  private count = 0;
  readonly calls: ScheduleOperationCounts = {
    listBucket: 0,
    upsertEntry: 0,
    replaceEntry: 0,
    removeEntry: 0,
    saveCursor: 0,
  };
  /** Called before every write with the operation and subscription id; throw to simulate a failure. */
  beforeWrite: ((operation: 'upsert' | 'replace' | 'remove', subscriptionId: string) => void) | undefined;

  /** Number of entries stored. */
  get size(): number {
    return this.count;
  }

  async listBucket(bucket: string, limit = Number.POSITIVE_INFINITY): Promise<StoredRenewalScheduleEntry[]> {
    this.calls.listBucket++;
    const rows = this.buckets.get(bucket);
    const out: StoredRenewalScheduleEntry[] = [];
    if (!rows) return out;
    for (const row of rows.values()) {
      if (out.length >= limit) break;
      out.push({ ...row });
    }
    return out;
  }

  async upsertEntry(entry: RenewalScheduleEntry): Promise<StoredRenewalScheduleEntry> {
    this.calls.upsertEntry++;
    validateEntry(entry);
    this.beforeWrite?.('upsert', entry.subscriptionId);
    const bucket = renewalBucketOf(entry.dueAt);
    let rows = this.buckets.get(bucket);
    if (!rows) this.buckets.set(bucket, (rows = new Map<string, StoredRenewalScheduleEntry>()));
    if (!rows.has(entry.subscriptionId)) this.count++;
    const stored = this.stored(entry, bucket);
    rows.set(entry.subscriptionId, stored);
    return { ...stored };
  }

  async replaceEntry(entry: StoredRenewalScheduleEntry): Promise<StoredRenewalScheduleEntry> {
    this.calls.replaceEntry++;
    validateEntry(entry);
    if (renewalBucketOf(entry.dueAt) !== entry.bucket) {
      throw new ValidationError('replacing a renewal entry: dueAt must stay within its bucket');
    }
    this.beforeWrite?.('replace', entry.subscriptionId);
    const rows = this.buckets.get(entry.bucket);
    const current = rows?.get(entry.subscriptionId);
    if (!rows || !current || current.etag !== entry.etag) {
      throw new ConcurrencyError(`renewal entry ${entry.subscriptionId}`);
    }
    const stored = this.stored(entry, entry.bucket);
    rows.set(entry.subscriptionId, stored);
    return { ...stored };
  }

  async removeEntry(entry: {
    bucket: string;
    subscriptionId: string;
    etag: string;
  }): Promise<'removed' | 'missing' | 'changed'> {
    this.calls.removeEntry++;
    this.beforeWrite?.('remove', entry.subscriptionId);
    const rows = this.buckets.get(entry.bucket);
    const current = rows?.get(entry.subscriptionId);
    if (!rows || !current) return 'missing';
    if (current.etag !== entry.etag) return 'changed';
    rows.delete(entry.subscriptionId);
    this.count--;
    if (rows.size === 0) this.buckets.delete(entry.bucket);
    return 'removed';
  }

  async getCursor(): Promise<RenewalCursor | undefined> {
    return this.cursor ? { ...this.cursor } : undefined;
  }

  async saveCursor(bucket: string, etag: string | undefined): Promise<RenewalCursor> {
    this.calls.saveCursor++;
    if ((this.cursor?.etag ?? undefined) !== etag) throw new ConcurrencyError('renewal cursor');
    this.cursor = { bucket, etag: this.nextEtag() };
    return { ...this.cursor };
  }

  /** Every stored entry (for assertions; scans everything). */
  all(): StoredRenewalScheduleEntry[] {
    const out: StoredRenewalScheduleEntry[] = [];
    for (const rows of this.buckets.values()) for (const row of rows.values()) out.push({ ...row });
    return out;
  }

  /** The rows of one subscription (for assertions; scans everything). */
  find(subscriptionId: string): StoredRenewalScheduleEntry[] {
    return this.all().filter((row) => row.subscriptionId === subscriptionId);
  }

  /** Buckets that hold entries, sorted (for assertions). */
  bucketKeys(): string[] {
    return [...this.buckets.keys()].sort();
  }

  private stored(entry: RenewalScheduleEntry, bucket: string): StoredRenewalScheduleEntry {
    const stored: StoredRenewalScheduleEntry = {
      subscriptionId: entry.subscriptionId,
      tenantId: entry.tenantId,
      dueAt: entry.dueAt,
      expiresAt: entry.expiresAt,
      attempts: entry.attempts,
      bucket,
      etag: this.nextEtag(),
    };
    if (entry.lastError !== undefined) stored.lastError = entry.lastError;
    return stored;
  }

  private nextEtag(): string {
    return `W/"${++this.version}"`;
  }
}

function validateEntry(entry: RenewalScheduleEntry): void {
  if (typeof entry.subscriptionId !== 'string' || entry.subscriptionId.length === 0) {
    throw new ValidationError('renewal entry: subscriptionId must be a non-empty string');
  }
  if (typeof entry.tenantId !== 'string' || entry.tenantId.length === 0) {
    throw new ValidationError('renewal entry: tenantId must be a non-empty string');
  }
  for (const field of ['dueAt', 'expiresAt', 'attempts'] as const) {
    if (!Number.isFinite(entry[field])) {
      throw new ValidationError(`renewal entry: ${field} must be a finite number`);
    }
  }
}

export class InMemoryLeaseStore implements LeasePort {
  private readonly leases = new Map<string, Lease>();
  private version = 0;

  async acquire(name: string, owner: string, durationMs: number, now: number): Promise<Lease | undefined> {
    const current = this.leases.get(name);
    if (current && current.expiresAt > now && current.owner !== owner) return undefined;
    return this.write(name, owner, now + durationMs);
  }

  async renew(lease: Lease, durationMs: number, now: number): Promise<Lease | undefined> {
    const current = this.leases.get(lease.name);
    if (!current || current.etag !== lease.etag) return undefined;
    return this.write(lease.name, lease.owner, now + durationMs);
  }

  async release(lease: Lease): Promise<void> {
    const current = this.leases.get(lease.name);
    if (current && current.etag === lease.etag) this.leases.delete(lease.name);
  }

  /** The current holder (for assertions). */
  holder(name: string): Lease | undefined {
    const current = this.leases.get(name);
    return current ? { ...current } : undefined;
  }

  private write(name: string, owner: string, expiresAt: number): Lease {
    const lease: Lease = { name, owner, expiresAt, etag: `W/"${++this.version}"` };
    this.leases.set(name, lease);
    return { ...lease };
  }
}
