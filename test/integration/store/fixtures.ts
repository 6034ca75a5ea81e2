/** Shared helpers for the store integration tests (not a test file itself). */
import { randomBytes, randomUUID } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import { inject } from 'vitest';
import type { MailboxRecord, SubscriptionRecord } from '../../../shared/domain/model.js';
import { createTableStores, type TableStores } from '../../../shared/store/index.js';

/** A prefix no other test file uses, so files can run in parallel against one Azurite. */
export function uniquePrefix(): string {
  return `t${randomBytes(6).toString('hex')}`;
}

export function connectionString(): string {
  return inject('tablesConnectionString');
}

/** Stores on a fresh set of tables (created). */
export async function freshStores(): Promise<TableStores> {
  const stores = createTableStores({ connectionString: connectionString(), tablePrefix: uniquePrefix() });
  await stores.ensureTables();
  return stores;
}

/** A raw SDK client on one of the stores' tables, to look at what is really stored. */
export function rawClient(tableName: string): TableClient {
  return TableClient.fromConnectionString(connectionString(), tableName, { allowInsecureConnection: true });
}

export function mailbox(overrides: Partial<MailboxRecord> = {}): MailboxRecord {
  return {
    email: `user-${randomUUID()}@contoso.example`,
    tenantId: randomUUID(),
    transport: 'ews',
    createdAt: '2026-01-02T03:04:05.678Z',
    updatedAt: '2026-01-02T03:04:05.678Z',
    ...overrides,
  };
}

export function subscription(overrides: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
  const userId = randomUUID();
  return {
    subscriptionId: randomUUID(),
    mailboxEmail: `user-${randomUUID()}@contoso.example`,
    userId,
    tenantId: randomUUID(),
    clientState: `cs-${randomBytes(48).toString('base64url')}`,
    resource: `users/${userId}/mailFolders('Inbox')/messages`,
    expiresAt: '2026-01-09T03:04:05.000Z',
    createdAt: '2026-01-02T03:04:05.678Z',
    ...overrides,
  };
}

/** Drops the etag, to compare a record's data. */
export function withoutEtag<T extends { etag?: string }>(record: T): Omit<T, 'etag'> {
  const copy: T = { ...record };
  delete copy.etag;
  return copy;
}
