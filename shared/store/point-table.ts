/**
 * One record per partition (PartitionKey = the record's key, RowKey = ''), so every lookup is a
 * point read. Writes are ETag-conditional; errors are mapped to the app's error classes.
 */
import type { TableClient } from '@azure/data-tables';
import { AlreadyExistsError, ConcurrencyError, ValidationError } from '../errors.js';
import { EntityReader, ROW_KEY, type EntityProperties } from './entity.js';
import { describeTableError, isEntityNotFound, storageError } from './table-errors.js';

export interface PointTableCodec<R extends { etag?: string }> {
  /** Noun for messages, e.g. `mailbox` (followed by the key, never by other fields). */
  kind: string;
  /** Validates/normalises a key given by a caller (throws ValidationError). */
  key(raw: unknown): string;
  /** Validates a record and returns its key and the properties to store (no undefined values). */
  toEntity(record: R): { key: string; properties: EntityProperties };
  /** Builds the record (with etag) from a stored entity; throws DependencyError if malformed. */
  fromEntity(key: string, entity: EntityReader): R;
}

export class PointTable<R extends { etag?: string }> {
  constructor(
    readonly client: TableClient,
    private readonly codec: PointTableCodec<R>,
  ) {}

  get tableName(): string {
    return this.client.tableName;
  }

  async get(rawKey: unknown): Promise<R | undefined> {
    const key = this.codec.key(rawKey);
    let entity: Record<string, unknown>;
    try {
      entity = await this.client.getEntity<Record<string, unknown>>(key, ROW_KEY);
    } catch (err) {
      if (isEntityNotFound(err)) return undefined;
      throw storageError(`reading ${this.label(key)}`, err);
    }
    return this.read(key, entity);
  }

  async insert(record: R): Promise<R> {
    const { key, properties } = this.codec.toEntity(record);
    let etag: string | undefined;
    try {
      ({ etag } = await this.client.createEntity({ ...properties, partitionKey: key, rowKey: ROW_KEY }));
    } catch (err) {
      const { status, code } = describeTableError(err);
      if (status === 409 && (code === undefined || code === 'EntityAlreadyExists')) {
        throw new AlreadyExistsError(this.label(key), { cause: err });
      }
      throw storageError(`inserting ${this.label(key)}`, err);
    }
    return this.stored(key, properties, etag);
  }

  async update(record: R): Promise<R> {
    const { key, properties } = this.codec.toEntity(record);
    const ifMatch = this.etagOf(record.etag, key, 'updating');
    if (ifMatch === undefined) {
      throw new ValidationError(
        `updating ${this.label(key)} needs the etag from a previous read`,
        'etag_required',
      );
    }
    let etag: string | undefined;
    try {
      ({ etag } = await this.client.updateEntity(
        { ...properties, partitionKey: key, rowKey: ROW_KEY },
        'Replace',
        {
          etag: ifMatch,
        },
      ));
    } catch (err) {
      // 412: changed since read; 404: deleted since read. Either way our read is stale.
      if (describeTableError(err).status === 412 || isEntityNotFound(err)) {
        throw new ConcurrencyError(this.label(key), { cause: err });
      }
      throw storageError(`updating ${this.label(key)}`, err);
    }
    return this.stored(key, properties, etag);
  }

  async delete(rawKey: unknown, etag?: string): Promise<void> {
    const key = this.codec.key(rawKey);
    const ifMatch = this.etagOf(etag, key, 'deleting');
    try {
      await this.client.deleteEntity(key, ROW_KEY, ifMatch === undefined ? {} : { etag: ifMatch });
    } catch (err) {
      if (isEntityNotFound(err)) return;
      if (describeTableError(err).status === 412) throw new ConcurrencyError(this.label(key), { cause: err });
      throw storageError(`deleting ${this.label(key)}`, err);
    }
  }

  private label(key: string): string {
    return `${this.codec.kind} ${key}`;
  }

  private etagOf(etag: unknown, key: string, verb: string): string | undefined {
    if (etag === undefined) return undefined;
    if (typeof etag !== 'string' || etag.length === 0) {
      throw new ValidationError(`${verb} ${this.label(key)}: etag must be a non-empty string`);
    }
    return etag;
  }

  /** A record from an entity a query returned (its PartitionKey is the key). */
  fromStored(entity: Record<string, unknown>): R {
    return this.read(String(entity['partitionKey']), entity);
  }

  private read(key: string, entity: Record<string, unknown>): R {
    return this.codec.fromEntity(key, new EntityReader(entity, this.label(key)));
  }

  /** The record as now stored. The service always returns an ETag; if not, read it back. */
  private async stored(key: string, properties: EntityProperties, etag: string | undefined): Promise<R> {
    if (etag) return this.read(key, { ...properties, etag });
    const current = await this.get(key);
    if (!current) throw new ConcurrencyError(this.label(key));
    return current;
  }
}
