import type { MailboxRecord, QueuedNotification, SubscriptionRecord } from './model.js';

/** Point read of a subscription by Graph subscription id (the webhook's only lookup). */
export interface SubscriptionLookup {
  getSubscription(subscriptionId: string): Promise<SubscriptionRecord | undefined>;
}

/** Subscriptions, keyed by Graph subscription id. Writes use ETags (ConcurrencyError on conflict). */
export interface SubscriptionStore extends SubscriptionLookup {
  /** Inserts; throws AlreadyExistsError if the id is taken. Returns the record with its etag. */
  insertSubscription(record: SubscriptionRecord): Promise<SubscriptionRecord>;
  /** Replaces; `record.etag` must be the one read. Throws ConcurrencyError if it changed. */
  updateSubscription(record: SubscriptionRecord): Promise<SubscriptionRecord>;
  /** Deletes; with an etag, only if unchanged. Missing is not an error. */
  deleteSubscription(subscriptionId: string, etag?: string): Promise<void>;
}

/** Mailboxes, keyed by lower-cased email. Writes use ETags (ConcurrencyError on conflict). */
export interface MailboxStore {
  getMailbox(email: string): Promise<MailboxRecord | undefined>;
  insertMailbox(record: MailboxRecord): Promise<MailboxRecord>;
  updateMailbox(record: MailboxRecord): Promise<MailboxRecord>;
  deleteMailbox(email: string, etag?: string): Promise<void>;
}

/** The `mail-notifications` queue. Resolves only once every message is durably accepted. */
export interface NotificationQueue {
  enqueue(messages: readonly QueuedNotification[]): Promise<void>;
}
