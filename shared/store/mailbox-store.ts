/** Mailboxes table: PartitionKey = lower-cased SMTP address, RowKey = ''. */
import type { TableClient } from '@azure/data-tables';
import type { EnrolmentSource, MailboxRecord, MailboxTransport, PrivacyMode } from '../domain/model.js';
import { MAILBOX_FAILURES, MAILBOX_STATES } from '../domain/enrolment/states.js';
import type { MailboxPage, MailboxQuery, MailboxStore } from '../domain/ports.js';
import { ValidationError } from '../errors.js';
import { definedProperties, optionalString, requireOneOf, requireString } from './entity.js';
import { normaliseEmail } from './keys.js';
import { PointTable, type PointTableCodec } from './point-table.js';
import { odata } from '@azure/data-tables';
import { mailboxStateOf } from '../domain/enrolment/states.js';

export const MAILBOXES_TABLE_SUFFIX = 'mailboxes';

const TRANSPORTS: readonly MailboxTransport[] = ['ews', 'graph'];
const PRIVACY_MODES: readonly PrivacyMode[] = ['full', 'subject', 'minimal'];
const SOURCES: readonly EnrolmentSource[] = ['api', 'import', 'group', 'device', 'demo'];
/** Optional string properties stored as they are. */
const OPTIONAL_STRINGS = [
  'lastError',
  'attemptStartedAt',
  'workKey',
  'migratedAt',
  'userPrincipalName',
  'groups',
  'groupsLeftAt',
] as const;

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
        state:
          record.state === undefined ? undefined : requireOneOf(record.state, MAILBOX_STATES, 'state', what),
        failure:
          record.failure === undefined
            ? undefined
            : requireOneOf(record.failure, MAILBOX_FAILURES, 'failure', what),
        attempts: record.attempts === undefined ? undefined : String(record.attempts),
        source:
          record.source === undefined ? undefined : requireOneOf(record.source, SOURCES, 'source', what),
        ...Object.fromEntries(
          OPTIONAL_STRINGS.map((name) => [name, optionalString(record[name], name, what)]),
        ),
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
    const state = e.optionalOneOf('state', MAILBOX_STATES);
    if (state !== undefined) record.state = state;
    const failure = e.optionalOneOf('failure', MAILBOX_FAILURES);
    if (failure !== undefined) record.failure = failure;
    const attempts = e.optionalString('attempts');
    if (attempts !== undefined) record.attempts = Number(attempts) || 0;
    const source = e.optionalOneOf('source', SOURCES);
    if (source !== undefined) record.source = source;
    for (const name of OPTIONAL_STRINGS) {
      const value = e.optionalString(name);
      if (value !== undefined) record[name] = value;
    }
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

  /**
   * One page of mailboxes in address order, for operators (admin reads may scan; no timer path
   * calls this). A prefix is a PartitionKey range; state and transport filter on the server.
   * Rows from before states existed have no `state`: a state filter then falls back to what the
   * row implies (checked here, on the page).
   */
  async listMailboxes(query: MailboxQuery = {}): Promise<MailboxPage> {
    const conditions: string[] = [];
    if (query.prefix) {
      const prefix = query.prefix.trim().toLowerCase();
      conditions.push(odata`PartitionKey ge ${prefix}`, odata`PartitionKey lt ${`${prefix}\uffff`}`);
    }
    if (query.transport) conditions.push(odata`transport eq ${query.transport}`);
    if (query.migratedSince) conditions.push(odata`migratedAt ge ${query.migratedSince}`);
    const pageSize = Math.min(Math.max(query.pageSize ?? 100, 1), 1000);
    if (query.continuationToken) checkContinuationToken(query.continuationToken);
    const pages = this.table.client
      .listEntities<Record<string, unknown>>({
        queryOptions: conditions.length > 0 ? { filter: conditions.join(' and ') } : {},
      })
      .byPage({
        maxPageSize: pageSize,
        ...(query.continuationToken ? { continuationToken: query.continuationToken } : {}),
      });
    const page = await pages.next();
    if (page.done) return { mailboxes: [] };
    let mailboxes = page.value.map((entity) => this.table.fromStored(entity));
    if (query.state) mailboxes = mailboxes.filter((m) => mailboxStateOf(m) === query.state);
    const next = page.value.continuationToken;
    return { mailboxes, ...(next ? { continuationToken: next } : {}) };
  }
}

/**
 * The Tables SDK's continuation token is base64 of JSON `{ nextPartitionKey, nextRowKey? }` (the
 * service's next keys, printable ASCII). The SDK decodes it before any request and throws a bare
 * SyntaxError or Error for anything else, which would be a 500: a token we never issued is a 400.
 */
function checkContinuationToken(token: string): void {
  let keys: unknown;
  try {
    keys = JSON.parse(Buffer.from(token, 'base64').toString('latin1'));
  } catch {
    keys = undefined;
  }
  const { nextPartitionKey, nextRowKey } = (keys ?? {}) as Record<string, unknown>;
  const key = (value: unknown) => typeof value === 'string' && /^[\x20-\x7e]+$/.test(value);
  if (typeof keys !== 'object' || !key(nextPartitionKey) || (nextRowKey !== undefined && !key(nextRowKey))) {
    throw new ValidationError('continuationToken is not one this API returned; start again without it.');
  }
}
