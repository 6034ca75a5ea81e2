/**
 * Delivery records (one push per message per device): PartitionKey = `${day}-${shard}` (UTC day
 * `yyyyMMdd` of the message + a hex digit of its key's hash), RowKey = `${messageKey}|${deviceId}`,
 * properties `state` (`sending` | `sent`), `claimedAt`, `sentAt` (ISO). See
 * shared/notify/idempotency.ts for the protocol, its trade-off and the key choice.
 *
 * - A claim is a conditional insert: of concurrent claimers exactly one insert succeeds (409 for the
 *   others). A stale claim is taken over with a Replace conditional on the ETag read (412 for the
 *   losers). The devices of one message share a partition, so all their claims go in one entity-group
 *   transaction first (one round trip; all-or-nothing), falling back to row by row when any exists.
 * - Cleanup deletes whole days: `PartitionKey lt '<cutoff day>'` (every shard of every older day)
 *   reads exactly the rows to delete (a key range, oldest first), deleted in transactions of ≤ 100 per
 *   partition, at most `maxRows` per call.
 */
import { odata, type TableClient, type TransactionAction } from '@azure/data-tables';
import { decideClaim, deliveryPartitionKey, deliveryRowKey, isDayKey } from '../notify/idempotency.js';
import type {
  ClaimRequest,
  ClaimResult,
  DeliveryClaim,
  DeliveryRecord,
  DeliveryState,
  IdempotencyStore,
  PurgeOptions,
  PurgeReport,
} from '../notify/ports.js';
import { DependencyError, ValidationError } from '../errors.js';
import { assertValidKey } from './keys.js';
import { describeTableError, isEntityNotFound, storageError, TABLE_STORAGE } from './table-errors.js';
import { TableClients, type TableStoreOptions } from './tables.js';

export const IDEMPOTENCY_TABLE_SUFFIX = 'deliveries';

/** Table Storage: at most 100 operations in one entity-group transaction. */
const MAX_TRANSACTION = 100;
const MAX_PAGE_SIZE = 1_000;
const DEFAULT_PURGE_ROWS = 10_000;
/** Insert/read/replace rounds for one device before reporting it as in progress. */
const MAX_CLAIM_ROUNDS = 4;
const STATES: readonly DeliveryState[] = ['sending', 'sent'];

type DeliveryEntity = {
  partitionKey: string;
  rowKey: string;
  state: DeliveryState;
  claimedAt: string;
  sentAt?: string;
};

export class TableIdempotencyStore implements IdempotencyStore {
  constructor(private readonly client: TableClient) {}

  get tableName(): string {
    return this.client.tableName;
  }

  async claim(request: ClaimRequest): Promise<ClaimResult[]> {
    const day = validateDay(request.day);
    const messageKey = validateMessageKey(request.messageKey);
    const deviceIds = request.deviceIds.map(validateDeviceId);
    if (new Set(deviceIds).size !== deviceIds.length)
      throw new ValidationError('claim: duplicate device ids');
    if (!(request.claimTimeoutMs > 0)) throw new ValidationError('claim: claimTimeoutMs must be positive');
    if (!Number.isFinite(request.now)) throw new ValidationError('claim: now must be a finite time');
    if (deviceIds.length === 0) return [];

    if (deviceIds.length > 1 && deviceIds.length <= MAX_TRANSACTION) {
      const claimedAt = request.now;
      const entities = deviceIds.map((deviceId) => sendingEntity(day, messageKey, deviceId, claimedAt));
      const etags = await this.transaction(
        entities.map((entity): TransactionAction => ['create', entity]),
        `claiming ${deviceIds.length} deliveries of ${messageKey}`,
        (status, code) => status === 409 && (code === undefined || code === 'EntityAlreadyExists'),
      );
      if (etags) {
        return deviceIds.map((deviceId, i) => ({
          deviceId,
          status: 'claimed',
          tookOver: false,
          claim: { day, messageKey, deviceId, claimedAt, etag: etags[i]! },
        }));
      }
      // Some row exists (a duplicate or a redelivery): decide row by row.
    }
    return Promise.all(deviceIds.map((deviceId) => this.claimOne(day, messageKey, deviceId, request)));
  }

  async markSent(claims: readonly DeliveryClaim[], now: number): Promise<{ lost: number }> {
    if (claims.length === 0) return { lost: 0 };
    const sentAt = new Date(now).toISOString();
    const entities = claims.map((claim): { entity: DeliveryEntity; etag: string } => {
      const messageKey = validateMessageKey(claim.messageKey);
      const partitionKey = deliveryPartitionKey(validateDay(claim.day), messageKey);
      const rowKey = deliveryRowKey(messageKey, validateDeviceId(claim.deviceId));
      return {
        entity: {
          partitionKey,
          rowKey,
          state: 'sent',
          claimedAt: new Date(claim.claimedAt).toISOString(),
          sentAt,
        },
        etag: requireEtag(claim.etag),
      };
    });
    const samePartition = entities.every((e) => e.entity.partitionKey === entities[0]!.entity.partitionKey);
    if (entities.length > 1 && entities.length <= MAX_TRANSACTION && samePartition) {
      const done = await this.transaction(
        entities.map(({ entity, etag }): TransactionAction => ['update', entity, 'Replace', { etag }]),
        `marking ${entities.length} deliveries sent`,
        (status) => status === 412 || status === 404,
      );
      if (done) return { lost: 0 };
    }
    let lost = 0;
    await Promise.all(
      entities.map(async ({ entity, etag }) => {
        try {
          await this.client.updateEntity(entity, 'Replace', { etag });
        } catch (err) {
          // Taken over after the claim timeout (or purged): the taker sends and marks it.
          if (describeTableError(err).status === 412 || isEntityNotFound(err)) {
            lost += 1;
            return;
          }
          throw storageError(`marking delivery ${entity.partitionKey}/${entity.rowKey} sent`, err);
        }
      }),
    );
    return { lost };
  }

  async release(claims: readonly DeliveryClaim[]): Promise<void> {
    await Promise.all(
      claims.map(async (claim) => {
        const messageKey = validateMessageKey(claim.messageKey);
        const partitionKey = deliveryPartitionKey(validateDay(claim.day), messageKey);
        const rowKey = deliveryRowKey(messageKey, validateDeviceId(claim.deviceId));
        try {
          await this.client.deleteEntity(partitionKey, rowKey, { etag: requireEtag(claim.etag) });
        } catch (err) {
          if (describeTableError(err).status === 412 || isEntityNotFound(err)) return; // no longer ours
          throw storageError(`releasing delivery ${partitionKey}/${rowKey}`, err);
        }
      }),
    );
  }

  async get(day: string, messageKey: string, deviceId: string): Promise<DeliveryRecord | undefined> {
    const validDay = validateDay(day);
    const key = validateMessageKey(messageKey);
    const device = validateDeviceId(deviceId);
    const partition = deliveryPartitionKey(validDay, key);
    const rowKey = deliveryRowKey(key, device);
    let entity: Record<string, unknown>;
    try {
      entity = await this.client.getEntity<Record<string, unknown>>(partition, rowKey);
    } catch (err) {
      if (isEntityNotFound(err)) return undefined;
      throw storageError(`reading delivery ${partition}/${rowKey}`, err);
    }
    return readRecord(validDay, key, device, entity);
  }

  async purgeOlderThan(day: string, options: PurgeOptions = {}): Promise<PurgeReport> {
    const cutoff = validateDay(day);
    const maxRows = options.maxRows ?? DEFAULT_PURGE_ROWS;
    if (!Number.isInteger(maxRows) || maxRows <= 0) {
      throw new ValidationError('purge: maxRows must be a positive integer');
    }
    // Read the keys first (bounded by maxRows), then delete: the range holds only rows to delete.
    const byPartition = new Map<string, string[]>();
    let rows = 0;
    let more = false;
    try {
      const pages = this.client
        .listEntities<Record<string, unknown>>({
          queryOptions: { filter: odata`PartitionKey lt ${cutoff}`, select: ['PartitionKey', 'RowKey'] },
        })
        .byPage({ maxPageSize: Math.min(MAX_PAGE_SIZE, maxRows) });
      outer: for await (const page of pages) {
        for (const entity of page) {
          if (rows >= maxRows) {
            more = true;
            break outer;
          }
          const pk = entity.partitionKey;
          const rk = entity.rowKey;
          if (typeof pk !== 'string' || typeof rk !== 'string') continue;
          let list = byPartition.get(pk);
          if (!list) byPartition.set(pk, (list = []));
          list.push(rk);
          rows += 1;
        }
      }
    } catch (err) {
      throw storageError(`listing deliveries before ${cutoff}`, err);
    }

    let deleted = 0;
    for (const [partition, rowKeys] of byPartition) {
      for (let i = 0; i < rowKeys.length; i += MAX_TRANSACTION) {
        const chunk = rowKeys.slice(i, i + MAX_TRANSACTION);
        const done = await this.transaction(
          chunk.map((rowKey): TransactionAction => ['delete', { partitionKey: partition, rowKey }]),
          `purging ${chunk.length} deliveries of ${partition}`,
          // Someone else (an overlapping purge) deleted one of them first: go row by row.
          (status) => status === 404,
        );
        if (done) {
          deleted += chunk.length;
          continue;
        }
        for (const rowKey of chunk) {
          try {
            await this.client.deleteEntity(partition, rowKey);
            deleted += 1;
          } catch (err) {
            if (!isEntityNotFound(err)) throw storageError(`purging delivery ${partition}/${rowKey}`, err);
          }
        }
      }
    }
    const days = [...new Set([...byPartition.keys()].map((pk) => pk.slice(0, 8)))].sort();
    return { deleted, days, more };
  }

  private async claimOne(
    day: string,
    messageKey: string,
    deviceId: string,
    request: ClaimRequest,
  ): Promise<ClaimResult> {
    const rowKey = deliveryRowKey(messageKey, deviceId);
    const label = `delivery ${deliveryPartitionKey(day, messageKey)}/${rowKey}`;
    for (let round = 0; round < MAX_CLAIM_ROUNDS; round++) {
      const claimedAt = request.now;
      const entity = sendingEntity(day, messageKey, deviceId, claimedAt);
      try {
        const { etag } = await this.client.createEntity(entity);
        return {
          deviceId,
          status: 'claimed',
          tookOver: false,
          claim: { day, messageKey, deviceId, claimedAt, etag: await this.etagOf(etag, day, rowKey) },
        };
      } catch (err) {
        const { status } = describeTableError(err);
        if (status !== 409) throw storageError(`claiming ${label}`, err);
      }
      const existing = await this.get(day, messageKey, deviceId);
      if (!existing) continue; // released or purged since: insert again
      const decision = decideClaim(existing, request.now, request.claimTimeoutMs);
      if (decision.action === 'skip_sent') return { deviceId, status: 'already_sent' };
      if (decision.action === 'wait') {
        return { deviceId, status: 'in_progress', retryAfterMs: decision.retryAfterMs };
      }
      if (decision.action === 'insert') continue;
      try {
        const { etag } = await this.client.updateEntity(entity, 'Replace', { etag: decision.etag });
        return {
          deviceId,
          status: 'claimed',
          tookOver: true,
          claim: { day, messageKey, deviceId, claimedAt, etag: await this.etagOf(etag, day, rowKey) },
        };
      } catch (err) {
        // Another worker took it over (412) or it was released (404) since our read: look again.
        if (describeTableError(err).status === 412 || isEntityNotFound(err)) continue;
        throw storageError(`taking over ${label}`, err);
      }
    }
    // Contended this hard, someone else is clearly on it.
    return { deviceId, status: 'in_progress', retryAfterMs: 1_000 };
  }

  /**
   * Runs one entity-group transaction. Resolves with the ETags of the operations in order, or
   * undefined when it failed in the way `expected` recognises (then nothing was applied).
   */
  private async transaction(
    actions: TransactionAction[],
    what: string,
    expected: (status: number | undefined, code: string | undefined) => boolean,
  ): Promise<string[] | undefined> {
    let response;
    try {
      response = await this.client.submitTransaction(actions);
    } catch (err) {
      const { status, code } = describeTableError(err);
      if (expected(status, code)) return undefined;
      throw storageError(what, err);
    }
    // Sub-responses come in request order; the ETag header may carry a trailing CR.
    return actions.map((_, i) => response.subResponses[i]?.etag?.trim() ?? '');
  }

  private async etagOf(etag: string | undefined, day: string, rowKey: string): Promise<string> {
    if (etag) return etag;
    // The service always returns an ETag; if not, read it back.
    const [messageKey = '', deviceId = ''] = rowKey.split('|');
    const current = await this.get(day, messageKey, deviceId);
    if (!current)
      throw new DependencyError(TABLE_STORAGE, `delivery ${rowKey} of ${day} vanished after writing`);
    return current.etag;
  }
}

/** Builds the store from the same options as the other tables (see createTableStores). */
export function createIdempotencyStore(options: TableStoreOptions): {
  store: TableIdempotencyStore;
  /** Creates the table if missing. Idempotent; call once at start-up. */
  ensureTable(): Promise<void>;
} {
  const tables = new TableClients(options);
  const store = new TableIdempotencyStore(tables.client(IDEMPOTENCY_TABLE_SUFFIX));
  return { store, ensureTable: () => tables.ensureTables([IDEMPOTENCY_TABLE_SUFFIX]) };
}

function sendingEntity(day: string, messageKey: string, deviceId: string, claimedAt: number): DeliveryEntity {
  return {
    partitionKey: deliveryPartitionKey(day, messageKey),
    rowKey: deliveryRowKey(messageKey, deviceId),
    state: 'sending',
    claimedAt: new Date(claimedAt).toISOString(),
  };
}

function readRecord(
  day: string,
  messageKey: string,
  deviceId: string,
  entity: Record<string, unknown>,
): DeliveryRecord {
  const what = `delivery ${day}/${deliveryRowKey(messageKey, deviceId)}`;
  const malformed = (field: string) =>
    new DependencyError(
      TABLE_STORAGE,
      `${what} entity is malformed: property ${field} is missing or invalid`,
    );
  const state = entity['state'];
  if (typeof state !== 'string' || !(STATES as readonly string[]).includes(state)) throw malformed('state');
  const etag = entity['etag'];
  if (typeof etag !== 'string' || etag.length === 0) throw malformed('etag');
  // An unreadable claim time reads as NaN, which decideClaim treats as stale (taken over, never stuck).
  const claimedAt = typeof entity['claimedAt'] === 'string' ? Date.parse(entity['claimedAt']) : Number.NaN;
  const record: DeliveryRecord = {
    day,
    messageKey,
    deviceId,
    state: state as DeliveryState,
    claimedAt,
    etag,
  };
  const sentAt = typeof entity['sentAt'] === 'string' ? Date.parse(entity['sentAt']) : Number.NaN;
  if (Number.isFinite(sentAt)) record.sentAt = sentAt;
  return record;
}

function validateDay(day: unknown): string {
  if (!isDayKey(day)) throw new ValidationError('delivery day must be yyyyMMdd');
  return day;
}

function validateMessageKey(key: unknown): string {
  const value = assertValidKey(key, 'message key');
  if (value.includes('|') || value.length > 256) {
    throw new ValidationError("message key must be at most 256 characters without '|'");
  }
  return value;
}

function validateDeviceId(deviceId: unknown): string {
  const value = assertValidKey(deviceId, 'device id');
  if (value.includes('|') || value.length > 128) {
    throw new ValidationError("device id must be at most 128 characters without '|'");
  }
  return value;
}

function requireEtag(etag: unknown): string {
  if (typeof etag !== 'string' || etag.length === 0) {
    throw new ValidationError('a delivery claim needs its etag', 'etag_required');
  }
  return etag;
}
