/**
 * Renewal schedule table.
 *
 * - Entries: PartitionKey = due-time bucket `yyyyMMddHHmm` (UTC, 5-minute slots; see
 *   shared/domain/renewal/buckets.ts), RowKey = Graph subscription id. Finding due renewals reads
 *   a few partitions (one single-partition query each), however many mailboxes there are.
 * - Cursor: PartitionKey = `cursor`, RowKey = `renewal` (never a bucket key: not 12 digits), with
 *   the oldest bucket that may still hold entries. Moved with its ETag.
 *
 * Times are stored as ISO strings, so the table is readable in Storage Explorer.
 */
import { odata, type TableClient } from '@azure/data-tables';
import { isRenewalBucket, renewalBucketOf } from '../domain/renewal/buckets.js';
import type {
  RenewalCursor,
  RenewalScheduleEntry,
  RenewalSchedulePort,
  StoredRenewalScheduleEntry,
} from '../domain/ports.js';
import { ConcurrencyError, DependencyError, ValidationError } from '../errors.js';
import { validateSubscriptionId } from './keys.js';
import { describeTableError, isEntityNotFound, storageError, TABLE_STORAGE } from './table-errors.js';

export const RENEWAL_SCHEDULE_TABLE_SUFFIX = 'renewalschedule';

const CURSOR_PARTITION = 'cursor';
const CURSOR_ROW = 'renewal';
/** Table Storage returns at most 1,000 entities per page. */
const MAX_PAGE_SIZE = 1_000;
/** Longer values are cut: the field is for operators, not a log. */
const MAX_LAST_ERROR_LENGTH = 1024;

export class TableRenewalScheduleStore implements RenewalSchedulePort {
  constructor(private readonly client: TableClient) {}

  get tableName(): string {
    return this.client.tableName;
  }

  /** One partition, page by page, stopping at `limit` (entries come in RowKey order). */
  async listBucket(bucket: string, limit = Number.POSITIVE_INFINITY): Promise<StoredRenewalScheduleEntry[]> {
    const key = validateBucket(bucket);
    if (!(limit > 0)) return [];
    const out: StoredRenewalScheduleEntry[] = [];
    try {
      const pages = this.client
        .listEntities<Record<string, unknown>>({ queryOptions: { filter: odata`PartitionKey eq ${key}` } })
        .byPage({ maxPageSize: Math.min(MAX_PAGE_SIZE, Math.ceil(limit)) });
      for await (const page of pages) {
        for (const entity of page) {
          out.push(readEntry(key, entity));
          if (out.length >= limit) return out;
        }
      }
    } catch (err) {
      if (err instanceof DependencyError) throw err;
      throw storageError(`reading renewal bucket ${key}`, err);
    }
    return out;
  }

  async upsertEntry(entry: RenewalScheduleEntry): Promise<StoredRenewalScheduleEntry> {
    const { bucket, entity } = toEntity(entry);
    let etag: string | undefined;
    try {
      ({ etag } = await this.client.upsertEntity(entity, 'Replace'));
    } catch (err) {
      throw storageError(`writing renewal entry ${entity.rowKey}`, err);
    }
    return this.stored(bucket, entity, etag);
  }

  async replaceEntry(entry: StoredRenewalScheduleEntry): Promise<StoredRenewalScheduleEntry> {
    const { bucket, entity } = toEntity(entry);
    if (bucket !== entry.bucket) {
      throw new ValidationError('replacing a renewal entry: dueAt must stay within its bucket');
    }
    const ifMatch = requireEtag(entry.etag);
    let etag: string | undefined;
    try {
      ({ etag } = await this.client.updateEntity(entity, 'Replace', { etag: ifMatch }));
    } catch (err) {
      if (describeTableError(err).status === 412 || isEntityNotFound(err)) {
        throw new ConcurrencyError(`renewal entry ${entity.rowKey}`, { cause: err });
      }
      throw storageError(`updating renewal entry ${entity.rowKey}`, err);
    }
    return this.stored(bucket, entity, etag);
  }

  async removeEntry(entry: {
    bucket: string;
    subscriptionId: string;
    etag: string;
  }): Promise<'removed' | 'missing' | 'changed'> {
    const bucket = validateBucket(entry.bucket);
    const id = validateSubscriptionId(entry.subscriptionId);
    const ifMatch = requireEtag(entry.etag);
    try {
      await this.client.deleteEntity(bucket, id, { etag: ifMatch });
      return 'removed';
    } catch (err) {
      if (isEntityNotFound(err)) return 'missing';
      if (describeTableError(err).status === 412) return 'changed';
      throw storageError(`deleting renewal entry ${id}`, err);
    }
  }

  async getCursor(): Promise<RenewalCursor | undefined> {
    let entity: Record<string, unknown>;
    try {
      entity = await this.client.getEntity<Record<string, unknown>>(CURSOR_PARTITION, CURSOR_ROW);
    } catch (err) {
      if (isEntityNotFound(err)) return undefined;
      throw storageError('reading the renewal cursor', err);
    }
    const bucket = entity['bucket'];
    const etag = entity['etag'];
    if (!isRenewalBucket(bucket) || typeof etag !== 'string' || etag.length === 0) {
      throw new DependencyError(TABLE_STORAGE, 'the renewal cursor entity is malformed');
    }
    return { bucket, etag };
  }

  async saveCursor(bucket: string, etag: string | undefined): Promise<RenewalCursor> {
    const key = validateBucket(bucket);
    const entity = { partitionKey: CURSOR_PARTITION, rowKey: CURSOR_ROW, bucket: key };
    let written: string | undefined;
    try {
      if (etag === undefined) {
        ({ etag: written } = await this.client.createEntity(entity));
      } else {
        ({ etag: written } = await this.client.updateEntity(entity, 'Replace', { etag: requireEtag(etag) }));
      }
    } catch (err) {
      const { status } = describeTableError(err);
      // 409: created by someone else first; 412/404: changed or deleted since read.
      if (status === 409 || status === 412 || isEntityNotFound(err)) {
        throw new ConcurrencyError('renewal cursor', { cause: err });
      }
      throw storageError('writing the renewal cursor', err);
    }
    if (written) return { bucket: key, etag: written };
    const current = await this.getCursor();
    if (!current || current.bucket !== key) throw new ConcurrencyError('renewal cursor');
    return current;
  }

  /** The stored entry; the service always returns an ETag, if not it is read back. */
  private async stored(
    bucket: string,
    entity: EntryEntity,
    etag: string | undefined,
  ): Promise<StoredRenewalScheduleEntry> {
    if (etag) return readEntry(bucket, { ...entity, etag });
    const rows = await this.listBucket(bucket);
    const row = rows.find((r) => r.subscriptionId === entity.rowKey);
    if (!row) throw new ConcurrencyError(`renewal entry ${entity.rowKey}`);
    return row;
  }
}

interface EntryEntity {
  partitionKey: string;
  rowKey: string;
  tenantId: string;
  dueAt: string;
  expiresAt: string;
  attempts: number;
  lastError?: string;
}

function toEntity(entry: RenewalScheduleEntry): { bucket: string; entity: EntryEntity } {
  if (typeof entry !== 'object' || entry === null) throw new ValidationError('renewal entry is required');
  const id = validateSubscriptionId(entry.subscriptionId);
  if (typeof entry.tenantId !== 'string' || entry.tenantId.length === 0) {
    throw new ValidationError(`renewal entry ${id}: tenantId must be a non-empty string`);
  }
  const dueAt = isoTime(entry.dueAt, 'dueAt', id);
  const expiresAt = isoTime(entry.expiresAt, 'expiresAt', id);
  if (!Number.isInteger(entry.attempts) || entry.attempts < 0 || entry.attempts > 2 ** 31 - 1) {
    throw new ValidationError(`renewal entry ${id}: attempts must be a non-negative integer`);
  }
  const bucket = renewalBucketOf(entry.dueAt);
  const entity: EntryEntity = {
    partitionKey: bucket,
    rowKey: id,
    tenantId: entry.tenantId,
    dueAt,
    expiresAt,
    attempts: entry.attempts,
  };
  if (entry.lastError !== undefined)
    entity.lastError = String(entry.lastError).slice(0, MAX_LAST_ERROR_LENGTH);
  return { bucket, entity };
}

function readEntry(bucket: string, entity: Record<string, unknown>): StoredRenewalScheduleEntry {
  const id = entity['rowKey'];
  const malformed = (field: string): DependencyError =>
    new DependencyError(
      TABLE_STORAGE,
      `renewal entry ${typeof id === 'string' ? id : '?'} in bucket ${bucket} is malformed: property ${field} is missing or invalid`,
    );
  if (typeof id !== 'string' || id.length === 0) throw malformed('RowKey');
  const tenantId = entity['tenantId'];
  if (typeof tenantId !== 'string' || tenantId.length === 0) throw malformed('tenantId');
  const time = (field: string): number => {
    const value = entity[field];
    const parsed = typeof value === 'string' ? Date.parse(value) : Number.NaN;
    if (!Number.isFinite(parsed)) throw malformed(field);
    return parsed;
  };
  const attempts = entity['attempts'];
  if (typeof attempts !== 'number' || !Number.isInteger(attempts) || attempts < 0)
    throw malformed('attempts');
  const etag = entity['etag'];
  if (typeof etag !== 'string' || etag.length === 0) throw malformed('etag');
  const entry: StoredRenewalScheduleEntry = {
    subscriptionId: id,
    tenantId,
    dueAt: time('dueAt'),
    expiresAt: time('expiresAt'),
    attempts,
    bucket,
    etag,
  };
  const lastError = entity['lastError'];
  if (typeof lastError === 'string') entry.lastError = lastError;
  return entry;
}

function isoTime(value: unknown, field: string, id: string): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ValidationError(`renewal entry ${id}: ${field} must be a finite time in ms`);
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new ValidationError(`renewal entry ${id}: ${field} is out of range`);
  return date.toISOString();
}

function validateBucket(bucket: unknown): string {
  if (!isRenewalBucket(bucket)) throw new ValidationError('renewal bucket must be yyyyMMddHHmm');
  return bucket;
}

function requireEtag(etag: unknown): string {
  if (typeof etag !== 'string' || etag.length === 0) {
    throw new ValidationError('a conditional renewal-schedule write needs the etag read', 'etag_required');
  }
  return etag;
}
