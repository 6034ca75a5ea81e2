/** Subscriptions table: PartitionKey = Graph subscription id, RowKey = ''. */
import type { TableClient } from '@azure/data-tables';
import type { SubscriptionRecord } from '../domain/model.js';
import type { SubscriptionStore } from '../domain/ports.js';
import { ValidationError } from '../errors.js';
import { definedProperties, requireString } from './entity.js';
import { normaliseEmail, validateSubscriptionId } from './keys.js';
import { PointTable, type PointTableCodec } from './point-table.js';

export const SUBSCRIPTIONS_TABLE_SUFFIX = 'subscriptions';

const subscriptionCodec: PointTableCodec<SubscriptionRecord> = {
  kind: 'subscription',
  key: (id) => validateSubscriptionId(id),
  toEntity(record) {
    if (typeof record !== 'object' || record === null)
      throw new ValidationError('subscription record is required');
    const key = validateSubscriptionId(record.subscriptionId);
    const what = `subscription ${key}`;
    return {
      key,
      properties: definedProperties({
        mailboxEmail: normaliseEmail(record.mailboxEmail, `${what}: mailboxEmail`),
        userId: requireString(record.userId, 'userId', what),
        tenantId: requireString(record.tenantId, 'tenantId', what),
        // Secret: only ever stored, never put in a message.
        clientState: requireString(record.clientState, 'clientState', what),
        resource: requireString(record.resource, 'resource', what),
        expiresAt: requireString(record.expiresAt, 'expiresAt', what),
        createdAt: requireString(record.createdAt, 'createdAt', what),
      }),
    };
  },
  fromEntity(subscriptionId, e) {
    return {
      subscriptionId,
      mailboxEmail: e.string('mailboxEmail'),
      userId: e.string('userId'),
      tenantId: e.string('tenantId'),
      clientState: e.string('clientState'),
      resource: e.string('resource'),
      expiresAt: e.string('expiresAt'),
      createdAt: e.string('createdAt'),
      etag: e.etag(),
    };
  },
};

export class TableSubscriptionStore implements SubscriptionStore {
  private readonly table: PointTable<SubscriptionRecord>;

  constructor(client: TableClient) {
    this.table = new PointTable(client, subscriptionCodec);
  }

  get tableName(): string {
    return this.table.tableName;
  }

  /** Point read by Graph subscription id (the webhook's lookup). Undefined if unknown. */
  getSubscription(subscriptionId: string): Promise<SubscriptionRecord | undefined> {
    return this.table.get(subscriptionId);
  }

  /** Inserts; throws AlreadyExistsError if the id is taken. */
  insertSubscription(record: SubscriptionRecord): Promise<SubscriptionRecord> {
    return this.table.insert(record);
  }

  /** Replaces the whole entity if `record.etag` still matches; else ConcurrencyError. */
  updateSubscription(record: SubscriptionRecord): Promise<SubscriptionRecord> {
    return this.table.update(record);
  }

  /** Deletes (conditionally if `etag` is given). Missing is not an error. */
  deleteSubscription(subscriptionId: string, etag?: string): Promise<void> {
    return this.table.delete(subscriptionId, etag);
  }
}
