/**
 * Leases table: PartitionKey = lease name, RowKey = ''. One row per lease with its owner and
 * expiry. Taking a lease is an insert (exactly one concurrent insert succeeds) or, if the lease
 * expired, a replace with the ETag read (exactly one concurrent replace succeeds). Expiry times
 * come from the callers' clocks, so leases must be much longer than the clock skew between
 * instances (seconds at most; our leases last minutes).
 */
import type { TableClient } from '@azure/data-tables';
import type { Lease, LeasePort } from '../domain/ports.js';
import { ValidationError } from '../errors.js';
import { ROW_KEY } from './entity.js';
import { assertValidKey } from './keys.js';
import { describeTableError, isEntityNotFound, storageError } from './table-errors.js';

export const LEASES_TABLE_SUFFIX = 'leases';

const MAX_OWNER_LENGTH = 256;

export class TableLeaseStore implements LeasePort {
  constructor(private readonly client: TableClient) {}

  get tableName(): string {
    return this.client.tableName;
  }

  async acquire(name: string, owner: string, durationMs: number, now: number): Promise<Lease | undefined> {
    const key = assertValidKey(name, 'lease name');
    validateOwner(owner);
    const expiresAt = expiry(now, durationMs);
    const current = await this.read(key);
    if (!current) {
      try {
        const { etag } = await this.client.createEntity(entity(key, owner, expiresAt));
        return this.held(key, owner, expiresAt, etag);
      } catch (err) {
        const { status } = describeTableError(err);
        if (status === 409) return undefined; // someone else inserted it first
        throw storageError(`taking lease ${key}`, err);
      }
    }
    if (current.expiresAt > now && current.owner !== owner) return undefined;
    return this.replace(key, owner, expiresAt, current.etag, 'taking over');
  }

  async renew(lease: Lease, durationMs: number, now: number): Promise<Lease | undefined> {
    const key = assertValidKey(lease.name, 'lease name');
    validateOwner(lease.owner);
    return this.replace(key, lease.owner, expiry(now, durationMs), lease.etag, 'renewing');
  }

  async release(lease: Lease): Promise<void> {
    const key = assertValidKey(lease.name, 'lease name');
    try {
      await this.client.deleteEntity(key, ROW_KEY, { etag: lease.etag });
    } catch (err) {
      // Already gone, or taken over by someone else: not ours to release.
      if (isEntityNotFound(err) || describeTableError(err).status === 412) return;
      throw storageError(`releasing lease ${key}`, err);
    }
  }

  /** The current row, for status pages and tests. */
  async read(name: string): Promise<Lease | undefined> {
    const key = assertValidKey(name, 'lease name');
    let row: Record<string, unknown>;
    try {
      row = await this.client.getEntity<Record<string, unknown>>(key, ROW_KEY);
    } catch (err) {
      if (isEntityNotFound(err)) return undefined;
      throw storageError(`reading lease ${key}`, err);
    }
    const owner = row['owner'];
    const expiresAt = typeof row['expiresAt'] === 'string' ? Date.parse(row['expiresAt']) : Number.NaN;
    const etag = row['etag'];
    if (typeof etag !== 'string' || etag.length === 0) {
      throw storageError(`reading lease ${key}`, new Error('entity without etag'));
    }
    // A malformed row is treated as expired, so it can be taken over rather than block forever.
    return {
      name: key,
      owner: typeof owner === 'string' ? owner : '',
      expiresAt: Number.isFinite(expiresAt) ? expiresAt : Number.NEGATIVE_INFINITY,
      etag,
    };
  }

  private async replace(
    key: string,
    owner: string,
    expiresAt: number,
    ifMatch: string,
    verb: string,
  ): Promise<Lease | undefined> {
    if (typeof ifMatch !== 'string' || ifMatch.length === 0) {
      throw new ValidationError(`${verb} lease ${key} needs the etag read`, 'etag_required');
    }
    try {
      const { etag } = await this.client.updateEntity(entity(key, owner, expiresAt), 'Replace', {
        etag: ifMatch,
      });
      return this.held(key, owner, expiresAt, etag);
    } catch (err) {
      // 412: someone else wrote it since; 404: released or deleted since. Either way not ours.
      if (describeTableError(err).status === 412 || isEntityNotFound(err)) return undefined;
      throw storageError(`${verb} lease ${key}`, err);
    }
  }

  private async held(
    key: string,
    owner: string,
    expiresAt: number,
    etag: string | undefined,
  ): Promise<Lease> {
    if (etag) return { name: key, owner, expiresAt, etag };
    const current = await this.read(key);
    if (!current || current.owner !== owner) {
      throw storageError(`reading back lease ${key}`, new Error('lease row changed'));
    }
    return current;
  }
}

function entity(key: string, owner: string, expiresAt: number) {
  return { partitionKey: key, rowKey: ROW_KEY, owner, expiresAt: new Date(expiresAt).toISOString() };
}

function expiry(now: number, durationMs: number): number {
  if (!Number.isFinite(now) || !Number.isFinite(durationMs) || durationMs <= 0) {
    throw new ValidationError('a lease needs a finite now and a positive duration');
  }
  return Math.ceil(now + durationMs);
}

function validateOwner(owner: unknown): void {
  if (typeof owner !== 'string' || owner.length === 0 || owner.length > MAX_OWNER_LENGTH) {
    throw new ValidationError(`lease owner must be 1-${MAX_OWNER_LENGTH} characters`);
  }
}
