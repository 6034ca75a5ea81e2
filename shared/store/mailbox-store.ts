/** Mailboxes table: PartitionKey = lower-cased SMTP address, RowKey = ''. */
import type { TableClient } from '@azure/data-tables';
import type { MailboxRecord, MailboxTransport, PrivacyMode } from '../domain/model.js';
import type { MailboxStore } from '../domain/ports.js';
import { ValidationError } from '../errors.js';
import { definedProperties, optionalString, requireOneOf, requireString } from './entity.js';
import { normaliseEmail } from './keys.js';
import { PointTable, type PointTableCodec } from './point-table.js';

export const MAILBOXES_TABLE_SUFFIX = 'mailboxes';

const TRANSPORTS: readonly MailboxTransport[] = ['ews', 'graph'];
const PRIVACY_MODES: readonly PrivacyMode[] = ['full', 'subject', 'minimal'];

const mailboxCodec: PointTableCodec<MailboxRecord> = {
  kind: 'mailbox',
  key: (email) => normaliseEmail(email),
  toEntity(record) {
    if (typeof record !== 'object' || record === null)
      throw new ValidationError('mailbox record is required');
    const key = normaliseEmail(record.email);
    const what = `mailbox ${key}`;
    return {
      key,
      properties: definedProperties({
        userId: optionalString(record.userId, 'userId', what),
        tenantId: requireString(record.tenantId, 'tenantId', what),
        transport: requireOneOf(record.transport, TRANSPORTS, 'transport', what),
        privacyMode:
          record.privacyMode === undefined
            ? undefined
            : requireOneOf(record.privacyMode, PRIVACY_MODES, 'privacyMode', what),
        subscriptionId: optionalString(record.subscriptionId, 'subscriptionId', what),
        subscriptionError: optionalString(record.subscriptionError, 'subscriptionError', what),
        deltaLink: optionalString(record.deltaLink, 'deltaLink', what),
        lastResyncAt: optionalString(record.lastResyncAt, 'lastResyncAt', what),
        createdAt: requireString(record.createdAt, 'createdAt', what),
        updatedAt: requireString(record.updatedAt, 'updatedAt', what),
      }),
    };
  },
  fromEntity(email, e) {
    const record: MailboxRecord = {
      email,
      tenantId: e.string('tenantId'),
      transport: e.oneOf('transport', TRANSPORTS),
      createdAt: e.string('createdAt'),
      updatedAt: e.string('updatedAt'),
      etag: e.etag(),
    };
    const userId = e.optionalString('userId');
    if (userId !== undefined) record.userId = userId;
    const privacyMode = e.optionalOneOf('privacyMode', PRIVACY_MODES);
    if (privacyMode !== undefined) record.privacyMode = privacyMode;
    const subscriptionId = e.optionalString('subscriptionId');
    if (subscriptionId !== undefined) record.subscriptionId = subscriptionId;
    const subscriptionError = e.optionalString('subscriptionError');
    if (subscriptionError !== undefined) record.subscriptionError = subscriptionError;
    const deltaLink = e.optionalString('deltaLink');
    if (deltaLink !== undefined) record.deltaLink = deltaLink;
    const lastResyncAt = e.optionalString('lastResyncAt');
    if (lastResyncAt !== undefined) record.lastResyncAt = lastResyncAt;
    return record;
  },
};

export class TableMailboxStore implements MailboxStore {
  private readonly table: PointTable<MailboxRecord>;

  constructor(client: TableClient) {
    this.table = new PointTable(client, mailboxCodec);
  }

  get tableName(): string {
    return this.table.tableName;
  }

  /** Point read by email (any case; normalised). Undefined if there is no such mailbox. */
  getMailbox(email: string): Promise<MailboxRecord | undefined> {
    return this.table.get(email);
  }

  /** Inserts; throws AlreadyExistsError if the (normalised) email is taken. */
  insertMailbox(record: MailboxRecord): Promise<MailboxRecord> {
    return this.table.insert(record);
  }

  /** Replaces the whole entity if `record.etag` still matches; else ConcurrencyError. */
  updateMailbox(record: MailboxRecord): Promise<MailboxRecord> {
    return this.table.update(record);
  }

  /** Deletes (conditionally if `etag` is given). Missing is not an error. */
  deleteMailbox(email: string, etag?: string): Promise<void> {
    return this.table.delete(email, etag);
  }
}
