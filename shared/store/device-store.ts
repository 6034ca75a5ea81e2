/**
 * Devices table: PartitionKey = lower-cased mailbox SMTP address, RowKey = device id. The push
 * path lists a mailbox's devices with a single-partition query; registration is a point read and
 * an upsert. The push token is stored as is; it is never put in an error message.
 */
import { odata, type TableClient } from '@azure/data-tables';
import type { DeviceRecord, DeviceStore, PushPlatform } from '../domain/ports.js';
import { DEVICE_ID_PATTERN, PUSH_PLATFORMS } from '../domain/model.js';
import { ValidationError } from '../errors.js';
import { EntityReader, definedProperties, requireOneOf, requireString } from './entity.js';
import { normaliseEmail } from './keys.js';
import { describeTableError, isEntityNotFound, storageError } from './table-errors.js';
import { TableClients, type TableStoreOptions } from './tables.js';

export const DEVICES_TABLE_SUFFIX = 'devices';

/** FCM tokens are at most 4 KiB; a little headroom, far below the 64 KiB property limit. */
const MAX_TOKEN_LENGTH = 8192;

export function validateDeviceKey(deviceId: unknown): string {
  if (typeof deviceId !== 'string' || !DEVICE_ID_PATTERN.test(deviceId)) {
    throw new ValidationError(
      'device id must be 1-64 characters of letters, digits, ".", "_" or "-"',
      'invalid_device_id',
    );
  }
  return deviceId;
}

export class TableDeviceStore implements DeviceStore {
  constructor(private readonly client: TableClient) {}

  get tableName(): string {
    return this.client.tableName;
  }

  /** All devices of a mailbox (a single-partition query), ordered by device id. */
  async listDevices(mailboxEmail: string): Promise<DeviceRecord[]> {
    const partition = normaliseEmail(mailboxEmail);
    const rows: Record<string, unknown>[] = [];
    try {
      const pages = this.client.listEntities<Record<string, unknown>>({
        queryOptions: { filter: odata`PartitionKey eq ${partition}` },
      });
      for await (const row of pages) rows.push(row);
    } catch (err) {
      throw storageError(`listing devices of mailbox ${partition}`, err);
    }
    return rows.map((row) => readDevice(partition, row));
  }

  async getDevice(mailboxEmail: string, deviceId: string): Promise<DeviceRecord | undefined> {
    const partition = normaliseEmail(mailboxEmail);
    const rowKey = validateDeviceKey(deviceId);
    let row: Record<string, unknown>;
    try {
      row = await this.client.getEntity<Record<string, unknown>>(partition, rowKey);
    } catch (err) {
      if (isEntityNotFound(err)) return undefined;
      throw storageError(`reading ${label(partition, rowKey)}`, err);
    }
    return readDevice(partition, row);
  }

  /** Inserts or replaces the whole entity (a re-registration replaces the token). */
  async upsertDevice(record: DeviceRecord): Promise<DeviceRecord> {
    const { partition, rowKey, properties } = toEntity(record);
    let etag: string | undefined;
    try {
      ({ etag } = await this.client.upsertEntity(
        { ...properties, partitionKey: partition, rowKey },
        'Replace',
      ));
    } catch (err) {
      throw storageError(`writing ${label(partition, rowKey)}`, err);
    }
    if (etag) return readDevice(partition, { ...properties, rowKey, etag });
    const current = await this.getDevice(partition, rowKey);
    if (!current) throw storageError(`reading back ${label(partition, rowKey)}`, new Error('row vanished'));
    return current;
  }

  async deleteDeviceIfUnchanged(device: DeviceRecord): Promise<boolean> {
    const partition = normaliseEmail(device.mailboxEmail);
    const rowKey = validateDeviceKey(device.deviceId);
    let etag = device.etag;
    if (!etag) {
      const current = await this.getDevice(partition, rowKey);
      if (!current || current.token !== device.token || !current.etag) return false;
      etag = current.etag;
    }
    try {
      await this.client.deleteEntity(partition, rowKey, { etag });
      return true;
    } catch (err) {
      // 412: re-registered since it was read; 404: already gone.
      if (isEntityNotFound(err) || describeTableError(err).status === 412) return false;
      throw storageError(`deleting ${label(partition, rowKey)}`, err);
    }
  }

  /** Deletes unconditionally. Missing is not an error. */
  async deleteDevice(mailboxEmail: string, deviceId: string): Promise<void> {
    const partition = normaliseEmail(mailboxEmail);
    const rowKey = validateDeviceKey(deviceId);
    try {
      await this.client.deleteEntity(partition, rowKey);
    } catch (err) {
      if (isEntityNotFound(err)) return;
      throw storageError(`deleting ${label(partition, rowKey)}`, err);
    }
  }
}

/**
 * A device store on its own table, for a composition root that does not get it from
 * createTableStores. `ensureTable` creates the table if missing (idempotent).
 */
export function createTableDeviceStore(options: TableStoreOptions): {
  devices: TableDeviceStore;
  ensureTable(): Promise<void>;
} {
  const tables = new TableClients(options);
  return {
    devices: new TableDeviceStore(tables.client(DEVICES_TABLE_SUFFIX)),
    ensureTable: () => tables.ensureTables([DEVICES_TABLE_SUFFIX]),
  };
}

function label(partition: string, rowKey: string): string {
  return `device ${rowKey} of mailbox ${partition}`;
}

function toEntity(record: DeviceRecord): {
  partition: string;
  rowKey: string;
  properties: Record<string, string>;
} {
  if (typeof record !== 'object' || record === null) throw new ValidationError('device record is required');
  const partition = normaliseEmail(record.mailboxEmail, 'device mailboxEmail');
  const rowKey = validateDeviceKey(record.deviceId);
  const what = label(partition, rowKey);
  const token = requireString(record.token, 'token', what);
  if (token.length > MAX_TOKEN_LENGTH) {
    throw new ValidationError(`${what}: token must be at most ${MAX_TOKEN_LENGTH} characters`);
  }
  return {
    partition,
    rowKey,
    properties: definedProperties({
      platform: requireOneOf<PushPlatform>(record.platform, PUSH_PLATFORMS, 'platform', what),
      token,
      userObjectId: requireString(record.userObjectId, 'userObjectId', what),
      createdAt: requireString(record.createdAt, 'createdAt', what),
      updatedAt: requireString(record.updatedAt, 'updatedAt', what),
    }),
  };
}

function readDevice(partition: string, row: Record<string, unknown>): DeviceRecord {
  const rowKey = row['rowKey'];
  const e = new EntityReader(
    row,
    `device ${typeof rowKey === 'string' ? rowKey : '?'} of mailbox ${partition}`,
  );
  return {
    mailboxEmail: partition,
    deviceId: e.string('rowKey'),
    platform: e.oneOf('platform', PUSH_PLATFORMS),
    token: e.string('token'),
    userObjectId: e.string('userObjectId'),
    createdAt: e.string('createdAt'),
    updatedAt: e.string('updatedAt'),
    etag: e.etag(),
  };
}
