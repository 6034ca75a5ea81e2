/**
 * The records and messages the service passes between its parts. Pure types: no SDK imports.
 */
import type { MailboxFailure, MailboxState } from './enrolment/states.js';

/** How a mailbox came to be enrolled. */
export type EnrolmentSource = 'api' | 'import' | 'group' | 'device' | 'demo';

/** How a mailbox is served today. EWS mailboxes are migrated to Graph by the maintenance timer. */
export type MailboxTransport = 'ews' | 'graph';

/** What a push shows on the lock screen (the old server's "secure notification" modes). */
export type PrivacyMode = 'full' | 'subject' | 'minimal';

export interface MailboxRecord {
  /** Lower-cased SMTP address; the mailbox's key. */
  email: string;
  /** Entra ID object id of the user (Graph `users/{id}`), once known. */
  userId?: string;
  tenantId: string;
  transport: MailboxTransport;
  privacyMode?: PrivacyMode;
  /** Current Graph subscription, if any. */
  subscriptionId?: string;
  /**
   * Why the mailbox has no working subscription, in words an operator can act on (e.g. missing
   * admin consent, an application access policy excluding the mailbox). Cleared on success.
   */
  subscriptionError?: string;
  /** Graph Inbox `@odata.deltaLink`, stored whole and reused for the next resync. */
  deltaLink?: string;
  /** Last completed resync (ISO); a full resync never looks further back than the resync window. */
  lastResyncAt?: string;
  /** Control-plane state (shared/domain/enrolment/states.ts); rows from before states derive it. */
  state?: MailboxState;
  /** Why Graph work last failed (code); the words are FAILURE_TEXT[failure]. */
  failure?: MailboxFailure;
  /** Graph's answer to the last failed attempt (code and message; never a secret). */
  lastError?: string;
  /** Failed attempts counted towards the maximum (429s and outages do not count). */
  attempts?: number;
  /** When the current attempt started (ISO); left behind by a run that crashed mid-attempt. */
  attemptStartedAt?: string;
  /** RowKey of the mailbox's entry in the work queue, while it has one. */
  workKey?: string;
  /** When it moved from EWS to Graph (ISO). */
  migratedAt?: string;
  /** User principal name, as Graph resolved it. */
  userPrincipalName?: string;
  /** How it was enrolled. */
  source?: EnrolmentSource;
  /** Entra groups that enrolled it (comma-separated ids). */
  groups?: string;
  /** When it left its last enrolment group (ENROLMENT_GROUP_REMOVE off: flagged, not removed). */
  groupsLeftAt?: string;
  createdAt: string;
  updatedAt: string;
  /** Opaque concurrency token from the store; required for updates. */
  etag?: string;
}

export interface SubscriptionRecord {
  /** Graph subscription id (a GUID). */
  subscriptionId: string;
  mailboxEmail: string;
  userId: string;
  tenantId: string;
  /**
   * Random secret Graph echoes in every notification. Graph never returns it from
   * GET /subscriptions, so it is stored here. Secret: never log it.
   */
  clientState: string;
  resource: string;
  expiresAt: string;
  createdAt: string;
  etag?: string;
}

export type LifecycleEvent = 'reauthorizationRequired' | 'subscriptionRemoved' | 'missed';

/** A Graph change notification for a mailbox message, after validation (clientState dropped). */
export interface ChangeMessage {
  type: 'change';
  subscriptionId: string;
  tenantId: string;
  mailboxEmail: string;
  userId: string;
  changeType: string;
  /** `Users/{id}/Messages/{id}` as Graph sent it. */
  resource: string;
  /** Graph message id (`resourceData.id`). */
  messageId: string;
  /** Present only for rich notifications (includeResourceData). */
  encryptedContent?: Record<string, unknown>;
  /** JWTs Graph attaches to rich notifications; checked by the processor. */
  validationTokens?: string[];
  receivedAt: string;
}

export interface LifecycleMessage {
  type: 'lifecycle';
  subscriptionId: string;
  tenantId: string;
  mailboxEmail: string;
  userId: string;
  lifecycleEvent: LifecycleEvent;
  receivedAt: string;
}

export type MailNotificationMessage = ChangeMessage | LifecycleMessage;

/**
 * One slice of a large import, written by the queue trigger (shared/admin/import-jobs.ts). The
 * rows were validated and de-duplicated when the upload was accepted; `acceptedAt` is the work
 * items' due time, so a redelivered chunk writes the same keys and counts the same outcomes.
 */
export interface ImportChunkMessage {
  type: 'import-chunk';
  jobId: string;
  /** 0-based. */
  chunk: number;
  /** Epoch ms when the upload was accepted. */
  acceptedAt: number;
  rows: { row: number; email: string; transport: MailboxTransport; privacy?: PrivacyMode }[];
}

/** What is put on the `mail-notifications` queue. */
export interface QueuedNotification {
  /**
   * Deterministic id derived from the notification, so Service Bus duplicate detection
   * drops Graph's retries of the same notification.
   */
  messageId: string;
  body: MailNotificationMessage;
}

/** A mail message as Graph returns it with `$select` (only what a push needs). */
export interface MailMessage {
  id: string;
  subject?: string | null;
  from?: { emailAddress?: { name?: string; address?: string } } | null;
  receivedDateTime?: string;
  bodyPreview?: string;
  importance?: 'low' | 'normal' | 'high';
  hasAttachments?: boolean;
  isRead?: boolean;
  [property: string]: unknown;
}

/** Where a phone gets its pushes: Apple Push Notification service or Firebase Cloud Messaging. */
export type PushPlatform = 'apns' | 'fcm';
export const PUSH_PLATFORMS: readonly PushPlatform[] = ['apns', 'fcm'];

/** A device id is chosen by the app, stable per installation; also the RowKey of the devices table. */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
