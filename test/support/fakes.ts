import type { MailboxRecord, QueuedNotification, SubscriptionRecord } from '../../shared/domain/model.js';
import type {
  MailboxStore,
  NotificationQueue,
  SubscriptionLookup,
  SubscriptionStore,
} from '../../shared/domain/ports.js';
import { AlreadyExistsError, ConcurrencyError } from '../../shared/errors.js';

/** In-memory fakes of our own ports, for unit tests of shared/domain. */
export class InMemorySubscriptionLookup implements SubscriptionLookup {
  readonly records = new Map<string, SubscriptionRecord>();
  reads = 0;
  failWith: Error | undefined;

  add(record: SubscriptionRecord): this {
    this.records.set(record.subscriptionId, record);
    return this;
  }

  async getSubscription(subscriptionId: string): Promise<SubscriptionRecord | undefined> {
    this.reads++;
    if (this.failWith) throw this.failWith;
    return this.records.get(subscriptionId);
  }
}

export class InMemoryNotificationQueue implements NotificationQueue {
  readonly sent: QueuedNotification[][] = [];
  failWith: Error | undefined;

  async enqueue(messages: readonly QueuedNotification[]): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.sent.push([...messages]);
  }

  get messages(): QueuedNotification[] {
    return this.sent.flat();
  }
}

export function subscriptionRecord(overrides: Partial<SubscriptionRecord> = {}): SubscriptionRecord {
  return {
    subscriptionId: '7f105c7d-2dc5-4530-97cd-4e7ae6534c07',
    mailboxEmail: 'adele.vance@contoso.example',
    userId: '0f5c8a7e-5b0f-4a43-9b1e-3a1a6b4c2d10',
    tenantId: '84bd8158-6d4d-4958-8b9f-9d6445542f95',
    clientState: 'cs-3f9a1c2b7d8e4f60a1b2c3d4e5f60718',
    resource: "users/0f5c8a7e-5b0f-4a43-9b1e-3a1a6b4c2d10/mailFolders('Inbox')/messages",
    expiresAt: '2026-11-30T00:00:00.000Z',
    createdAt: '2026-11-23T00:00:00.000Z',
    ...overrides,
  };
}

/** A change notification as Graph sends it for a new Inbox message. */
export function graphChangeNotification(
  subscription: SubscriptionRecord,
  messageId: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    subscriptionId: subscription.subscriptionId,
    subscriptionExpirationDateTime: subscription.expiresAt,
    changeType: 'created',
    resource: `Users/${subscription.userId}/Messages/${messageId}`,
    resourceData: {
      '@odata.type': '#Microsoft.Graph.Message',
      '@odata.id': `Users/${subscription.userId}/Messages/${messageId}`,
      '@odata.etag': 'W/"CQAAABYAAADkrWGo7bouTKlsgTZMr9KwAAAUWRHf"',
      id: messageId,
    },
    clientState: subscription.clientState,
    tenantId: subscription.tenantId,
    ...overrides,
  };
}

export function graphLifecycleNotification(
  subscription: SubscriptionRecord,
  lifecycleEvent: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    subscriptionId: subscription.subscriptionId,
    subscriptionExpirationDateTime: subscription.expiresAt,
    tenantId: subscription.tenantId,
    clientState: subscription.clientState,
    lifecycleEvent,
    ...overrides,
  };
}

/** In-memory MailboxStore with ETags, for unit tests. */
export class InMemoryMailboxStore implements MailboxStore {
  readonly records = new Map<string, MailboxRecord>();
  private version = 0;

  async getMailbox(email: string): Promise<MailboxRecord | undefined> {
    const r = this.records.get(email.toLowerCase());
    return r ? { ...r } : undefined;
  }
  async insertMailbox(record: MailboxRecord): Promise<MailboxRecord> {
    const key = record.email.toLowerCase();
    if (this.records.has(key)) throw new AlreadyExistsError(`mailbox ${key}`);
    const stored = { ...record, email: key, etag: `v${++this.version}` };
    this.records.set(key, stored);
    return { ...stored };
  }
  async updateMailbox(record: MailboxRecord): Promise<MailboxRecord> {
    const key = record.email.toLowerCase();
    const current = this.records.get(key);
    if (!current || current.etag !== record.etag) throw new ConcurrencyError(`mailbox ${key}`);
    const stored = { ...record, email: key, etag: `v${++this.version}` };
    this.records.set(key, stored);
    return { ...stored };
  }
  async deleteMailbox(email: string): Promise<void> {
    this.records.delete(email.toLowerCase());
  }
}

/** In-memory SubscriptionStore with ETags, for unit tests. */
export class InMemorySubscriptionStore implements SubscriptionStore {
  readonly records = new Map<string, SubscriptionRecord>();
  private version = 0;

  async getSubscription(id: string): Promise<SubscriptionRecord | undefined> {
    const r = this.records.get(id);
    return r ? { ...r } : undefined;
  }
  async insertSubscription(record: SubscriptionRecord): Promise<SubscriptionRecord> {
    if (this.records.has(record.subscriptionId))
      throw new AlreadyExistsError(`subscription ${record.subscriptionId}`);
    const stored = { ...record, etag: `v${++this.version}` };
    this.records.set(record.subscriptionId, stored);
    return { ...stored };
  }
  async updateSubscription(record: SubscriptionRecord): Promise<SubscriptionRecord> {
    const current = this.records.get(record.subscriptionId);
    if (!current || current.etag !== record.etag)
      throw new ConcurrencyError(`subscription ${record.subscriptionId}`);
    const stored = { ...record, etag: `v${++this.version}` };
    this.records.set(record.subscriptionId, stored);
    return { ...stored };
  }
  async deleteSubscription(id: string): Promise<void> {
    this.records.delete(id);
  }
}
