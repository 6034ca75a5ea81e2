/**
 * Delivery records (one push per message per device): one entity per message.
 * PartitionKey = `${day}-${shard}` (UTC day `yyyyMMdd` of the message + a hex digit of its key's
 * hash), RowKey = the message key; one property per device, named `d<hash of the device id>`,
 * holding `{"id","s":"sending"|"sent","c":claimedAt,"k":claimId,"t":sentAt}` as JSON (an empty
 * string once released). See shared/domain/idempotency.ts for the protocol, its trade-off and the
 * key choice.
 *
 * Why one entity per message rather than per (message, device): the common path — first delivery,
 * claim every device, push, mark them sent — is then one conditional insert and one conditional
 * merge, whatever the number of devices, instead of two multi-entity transactions. Entity-group
 * transactions cost the service and our process (multipart bodies, a pipeline per transaction)
 * about twice a single-entity write; this halves Table Storage work per notification. Concurrency is
 * the entity's ETag: of concurrent claimers exactly one insert (409 for the others) or one
 * ETag-conditional merge (412) wins; losers read again and decide per device. Each claim carries a
 * random claim id so that a holder whose ETag went stale (a takeover or another device's claim in
 * between) can tell whether its device is still its own before marking it sent or releasing it.
 *
 * Cleanup deletes whole days: `PartitionKey lt '<cutoff day>'` (every shard of every older day)
 * reads exactly the rows to delete (a key range, oldest first), deleted in transactions of ≤ 100 per
 * partition, at most `maxRows` per call.
 */
import { createHash, randomUUID } from 'node:crypto';
import { odata, type TableClient, type TableEntity, type TransactionAction } from '@azure/data-tables';
import { decideClaim, deliveryPartitionKey, isDayKey } from '../domain/idempotency.js';
import type {
  ClaimRequest,
  ClaimResult,
  DeliveryClaim,
  DeliveryRecord,
  DeliveryState,
  IdempotencyStore,
  PurgeOptions,
  PurgeReport,
} from '../domain/ports.js';
import { DependencyError, ValidationError } from '../errors.js';
import { assertValidKey } from './keys.js';
import { describeTableError, isEntityNotFound, storageError, TABLE_STORAGE } from './table-errors.js';
import { TableClients, type TableStoreOptions } from './tables.js';

export const IDEMPOTENCY_TABLE_SUFFIX = 'deliveries';

/** Table Storage: at most 100 operations in one entity-group transaction. */
const MAX_TRANSACTION = 100;
const MAX_PAGE_SIZE = 1_000;
const DEFAULT_PURGE_ROWS = 10_000;
/**
 * Devices claimed in one call. An entity holds at most 255 properties (3 are system ones), and a
 * mailbox has at most 20 devices (the devices API's limit).
 */
const MAX_DEVICES_PER_CLAIM = 200;
/** Insert/read/merge rounds of one call before reporting the rest as in progress. */
const MAX_ROUNDS = 4;
const STATES: readonly DeliveryState[] = ['sending', 'sent'];

/** One device's slot in a message's entity. */
interface DeviceSlot {
  id: string;
  s: DeliveryState;
  /** Claim time, epoch ms. */
  c: number;
  /** Claim id: which claim holds (or sent) it. */
  k: string;
  /** Sent time, epoch ms. */
  t?: number;
}

interface MessageRow {
  etag: string;
  slots: Map<string, DeviceSlot | undefined>;
}

/** The property holding a device's slot: a valid property name whatever the device id. */
export function deviceProperty(deviceId: string): string {
  return `d${createHash('sha256').update(deviceId, 'utf8').digest('hex').slice(0, 40)}`;
}

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
    if (deviceIds.length > MAX_DEVICES_PER_CLAIM) {
      throw new ValidationError(`claim: at most ${MAX_DEVICES_PER_CLAIM} devices per message`);
    }
    if (!(request.claimTimeoutMs > 0)) throw new ValidationError('claim: claimTimeoutMs must be positive');
    if (!Number.isFinite(request.now)) throw new ValidationError('claim: now must be a finite time');
    if (deviceIds.length === 0) return [];

    const partitionKey = deliveryPartitionKey(day, messageKey);
    const label = `deliveries of ${partitionKey}/${messageKey}`;
    const claimedAt = request.now;
    const results = new Map<string, ClaimResult>();
    const sending = (deviceId: string, claimId: string): string =>
      JSON.stringify({ id: deviceId, s: 'sending', c: claimedAt, k: claimId } satisfies DeviceSlot);
    const claimedResult = (
      deviceId: string,
      claimId: string,
      etag: string,
      tookOver: boolean,
    ): ClaimResult => ({
      deviceId,
      status: 'claimed',
      tookOver,
      claim: { day, messageKey, deviceId, claimedAt, etag, claimId },
    });

    let create = true;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const pending = deviceIds.filter((d) => !results.has(d));
      if (pending.length === 0) break;
      if (create) {
        const claimId = randomUUID();
        const entity: TableEntity<Record<string, unknown>> = { partitionKey, rowKey: messageKey };
        for (const d of pending) entity[deviceProperty(d)] = sending(d, claimId);
        try {
          const { etag } = await this.client.createEntity(entity);
          const stored = await this.etagOf(etag, partitionKey, messageKey);
          for (const d of pending) results.set(d, claimedResult(d, claimId, stored, false));
          break;
        } catch (err) {
          if (describeTableError(err).status !== 409) throw storageError(`claiming ${label}`, err);
        }
      }
      // The message has a row (a duplicate, a redelivery, another device): decide device by device.
      const row = await this.readRow(partitionKey, messageKey, pending);
      if (!row) {
        create = true; // purged since: insert again
        continue;
      }
      create = false;
      const claimId = randomUUID();
      const update: TableEntity<Record<string, unknown>> = { partitionKey, rowKey: messageKey };
      const taking: { deviceId: string; tookOver: boolean }[] = [];
      for (const deviceId of pending) {
        const slot = row.slots.get(deviceId);
        const decision = decideClaim(
          slot ? { state: slot.s, claimedAt: slot.c, etag: row.etag } : undefined,
          request.now,
          request.claimTimeoutMs,
        );
        if (decision.action === 'skip_sent') results.set(deviceId, { deviceId, status: 'already_sent' });
        else if (decision.action === 'wait') {
          results.set(deviceId, { deviceId, status: 'in_progress', retryAfterMs: decision.retryAfterMs });
        } else {
          update[deviceProperty(deviceId)] = sending(deviceId, claimId);
          taking.push({ deviceId, tookOver: decision.action === 'take_over' });
        }
      }
      if (taking.length === 0) break;
      try {
        const { etag } = await this.client.updateEntity(update, 'Merge', { etag: row.etag });
        const stored = await this.etagOf(etag, partitionKey, messageKey);
        for (const t of taking)
          results.set(t.deviceId, claimedResult(t.deviceId, claimId, stored, t.tookOver));
        break;
      } catch (err) {
        // Someone else wrote the row since our read (412) or it was purged (404): look again.
        if (isEntityNotFound(err)) create = true;
        else if (describeTableError(err).status !== 412) throw storageError(`claiming ${label}`, err);
      }
    }
    // Contended this hard, someone else is clearly on the rest.
    return deviceIds.map(
      (deviceId) => results.get(deviceId) ?? { deviceId, status: 'in_progress', retryAfterMs: 1_000 },
    );
  }

  async markSent(claims: readonly DeliveryClaim[], now: number): Promise<{ lost: number }> {
    let lost = 0;
    for (const group of groupByMessage(claims)) {
      lost += await this.settle(group, (slot) =>
        JSON.stringify({ ...slot, s: 'sent', t: now } satisfies DeviceSlot),
      );
    }
    return { lost };
  }

  async release(claims: readonly DeliveryClaim[]): Promise<void> {
    // An empty slot reads as "no record": the next claim may take it at once.
    for (const group of groupByMessage(claims)) await this.settle(group, () => '');
  }

  /**
   * Writes `next(slot)` for every claim of one message that is still held (same claim id, still
   * `sending`). First with the claim's ETag (no read: the usual case); after a 412, reads the row
   * and keeps only the claims still ours. Returns how many claims were lost.
   */
  private async settle(
    claims: readonly DeliveryClaim[],
    next: (slot: DeviceSlot) => string,
  ): Promise<number> {
    const first = claims[0]!;
    const messageKey = validateMessageKey(first.messageKey);
    const partitionKey = deliveryPartitionKey(validateDay(first.day), messageKey);
    let etag = requireEtag(first.etag);
    let held = claims.map((claim) => {
      validateDeviceId(claim.deviceId);
      requireEtag(claim.etag);
      const slot: DeviceSlot = {
        id: claim.deviceId,
        s: 'sending',
        c: claim.claimedAt,
        k: claim.claimId ?? '',
      };
      return { claim, slot };
    });
    const sameEtag = claims.every((c) => c.etag === etag);
    for (let round = 0; round < MAX_ROUNDS; round++) {
      if (round > 0 || !sameEtag) {
        const row = await this.readRow(
          partitionKey,
          messageKey,
          held.map((h) => h.claim.deviceId),
        );
        if (!row) return claims.length; // purged
        held = held.filter(({ claim }) => {
          const slot = row.slots.get(claim.deviceId);
          return (
            slot?.s === 'sending' &&
            (claim.claimId === undefined ? slot.c === claim.claimedAt : slot.k === claim.claimId)
          );
        });
        if (held.length === 0) return claims.length;
        etag = row.etag;
      }
      const update: TableEntity<Record<string, unknown>> = { partitionKey, rowKey: messageKey };
      for (const { claim, slot } of held) update[deviceProperty(claim.deviceId)] = next(slot);
      try {
        await this.client.updateEntity(update, 'Merge', { etag });
        return claims.length - held.length;
      } catch (err) {
        if (isEntityNotFound(err)) return claims.length;
        if (describeTableError(err).status !== 412) {
          throw storageError(`settling deliveries of ${partitionKey}/${messageKey}`, err);
        }
      }
    }
    throw new DependencyError(
      TABLE_STORAGE,
      `deliveries of ${partitionKey}/${messageKey} kept changing while being settled`,
    );
  }

  async get(day: string, messageKey: string, deviceId: string): Promise<DeliveryRecord | undefined> {
    const validDay = validateDay(day);
    const key = validateMessageKey(messageKey);
    const device = validateDeviceId(deviceId);
    const row = await this.readRow(deliveryPartitionKey(validDay, key), key, [device]);
    const slot = row?.slots.get(device);
    if (!row || !slot) return undefined;
    const record: DeliveryRecord = {
      day: validDay,
      messageKey: key,
      deviceId: device,
      state: slot.s,
      claimedAt: slot.c,
      etag: row.etag,
    };
    if (slot.t !== undefined) record.sentAt = slot.t;
    return record;
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

  /** The message's row with the slots of `deviceIds` (only those properties are read). */
  private async readRow(
    partitionKey: string,
    messageKey: string,
    deviceIds: readonly string[],
  ): Promise<MessageRow | undefined> {
    let entity: Record<string, unknown>;
    try {
      entity = await this.client.getEntity<Record<string, unknown>>(partitionKey, messageKey, {
        queryOptions: { select: deviceIds.map(deviceProperty) },
      });
    } catch (err) {
      if (isEntityNotFound(err)) return undefined;
      throw storageError(`reading deliveries of ${partitionKey}/${messageKey}`, err);
    }
    const etag = entity['etag'];
    if (typeof etag !== 'string' || etag.length === 0) {
      throw new DependencyError(TABLE_STORAGE, `deliveries of ${partitionKey}/${messageKey}: no etag`);
    }
    const slots = new Map<string, DeviceSlot | undefined>();
    for (const deviceId of deviceIds) {
      slots.set(deviceId, parseSlot(entity[deviceProperty(deviceId)], deviceId));
    }
    return { etag, slots };
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

  private async etagOf(etag: string | undefined, partitionKey: string, messageKey: string): Promise<string> {
    if (etag) return etag;
    // The service always returns an ETag; if not, read it back.
    const row = await this.readRow(partitionKey, messageKey, []);
    if (!row) {
      throw new DependencyError(
        TABLE_STORAGE,
        `deliveries of ${partitionKey}/${messageKey} vanished after writing`,
      );
    }
    return row.etag;
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

/** Claims of the same message together (one row, one write). */
function groupByMessage(claims: readonly DeliveryClaim[]): DeliveryClaim[][] {
  const groups = new Map<string, DeliveryClaim[]>();
  for (const claim of claims) {
    const key = `${claim.day}|${claim.messageKey}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = []));
    group.push(claim);
  }
  return [...groups.values()];
}

/**
 * A device's slot, or undefined when there is none (never claimed, or released). A slot that cannot
 * be read counts as a stale claim (claim time NaN): decideClaim lets it be taken over, never stuck.
 */
function parseSlot(value: unknown, deviceId: string): DeviceSlot | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  let parsed: Partial<DeviceSlot> = {};
  try {
    parsed = typeof value === 'string' ? (JSON.parse(value) as Partial<DeviceSlot>) : {};
  } catch {
    // unreadable: falls through to a stale claim
  }
  const state = (STATES as readonly unknown[]).includes(parsed.s) ? (parsed.s as DeliveryState) : 'sending';
  const slot: DeviceSlot = {
    id: deviceId,
    s: state,
    c: typeof parsed.c === 'number' ? parsed.c : Number.NaN,
    k: typeof parsed.k === 'string' ? parsed.k : '',
  };
  if (typeof parsed.t === 'number') slot.t = parsed.t;
  return slot;
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
