import { createHash, timingSafeEqual } from 'node:crypto';
import type {
  ChangeMessage,
  LifecycleEvent,
  LifecycleMessage,
  QueuedNotification,
  SubscriptionRecord,
} from './model.js';

/**
 * Validation of Graph webhook payloads. Graph POSTs `{ value: [...], validationTokens?: [...] }`;
 * one POST may carry many notifications for many subscriptions. Everything here is pure.
 */

/** Graph caps clientState at 128 characters. */
export const MAX_CLIENT_STATE_LENGTH = 128;
/** Our own cap on items per POST: Graph batches far fewer; this bounds work per request. */
export const MAX_ITEMS_PER_POST = 1000;
export const LIFECYCLE_EVENTS: readonly LifecycleEvent[] = [
  'reauthorizationRequired',
  'subscriptionRemoved',
  'missed',
];
const CHANGE_TYPES = new Set(['created', 'updated', 'deleted']);
/** Graph subscription ids are GUIDs; accept a little more but never Table-key-illegal characters. */
const SUBSCRIPTION_ID = /^[A-Za-z0-9-]{1,64}$/;
const PRINTABLE = /^[\x21-\x7e]+$/;
/** `Users/{user-id}/Messages/{message-id}` (Graph capitalises it this way; accept any case). */
const MESSAGE_RESOURCE = /^users\/([^/]+)\/messages\/([^/]+)$/i;

export type DropReason =
  | 'malformed'
  | 'unknown_subscription'
  | 'client_state_mismatch'
  | 'old_client_state'
  | 'tenant_mismatch'
  | 'resource_mismatch'
  | 'lifecycle_on_change_url'
  | 'change_on_lifecycle_url';

export interface ParsedChange {
  kind: 'change';
  subscriptionId: string;
  clientState: string | undefined;
  tenantId: string | undefined;
  changeType: string;
  resource: string;
  resourceUserId: string;
  messageId: string;
  encryptedContent?: Record<string, unknown>;
}

export interface ParsedLifecycle {
  kind: 'lifecycle';
  subscriptionId: string;
  clientState: string | undefined;
  tenantId: string | undefined;
  lifecycleEvent: LifecycleEvent;
  subscriptionExpirationDateTime: string | undefined;
}

export type ParsedNotification = ParsedChange | ParsedLifecycle;

export interface ParsedPayload {
  items: ParsedNotification[];
  /** One entry per item that could not be parsed: index and why (safe to log; no values). */
  malformed: { index: number; problem: string }[];
  validationTokens: string[] | undefined;
}

/** The envelope itself is wrong: the whole request is rejected with 400 and this message. */
export class PayloadError extends Error {}

/** Validates the envelope and each item. Throws PayloadError only for a wrong envelope. */
export function parseNotificationPayload(body: unknown): ParsedPayload {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new PayloadError('Body must be a JSON object with a "value" array of notifications.');
  }
  const value = (body as Record<string, unknown>).value;
  if (!Array.isArray(value)) {
    throw new PayloadError('Body must have a "value" array of notifications.');
  }
  if (value.length === 0) throw new PayloadError('"value" must contain at least one notification.');
  if (value.length > MAX_ITEMS_PER_POST) {
    throw new PayloadError(`"value" may contain at most ${MAX_ITEMS_PER_POST} notifications.`);
  }
  const tokens = (body as Record<string, unknown>).validationTokens;
  let validationTokens: string[] | undefined;
  if (tokens !== undefined) {
    if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === 'string' && t.length <= 16_384)) {
      throw new PayloadError('"validationTokens" must be an array of JWT strings.');
    }
    validationTokens = tokens as string[];
  }
  const items: ParsedNotification[] = [];
  const malformed: ParsedPayload['malformed'] = [];
  value.forEach((raw, index) => {
    const result = parseItem(raw);
    if (typeof result === 'string') malformed.push({ index, problem: result });
    else items.push(result);
  });
  return { items, malformed, validationTokens };
}

function parseItem(raw: unknown): ParsedNotification | string {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'notification is not an object';
  const item = raw as Record<string, unknown>;
  const subscriptionId = item.subscriptionId;
  if (typeof subscriptionId !== 'string' || !SUBSCRIPTION_ID.test(subscriptionId)) {
    return 'subscriptionId missing or not a subscription id';
  }
  const clientState = optionalString(item.clientState);
  if (clientState === null) return 'clientState is not a string';
  const tenantId = optionalString(item.tenantId);
  if (tenantId === null || (tenantId !== undefined && !SUBSCRIPTION_ID.test(tenantId))) {
    return 'tenantId is not a tenant id';
  }

  if (item.lifecycleEvent !== undefined) {
    if (!LIFECYCLE_EVENTS.includes(item.lifecycleEvent as LifecycleEvent)) {
      return `lifecycleEvent must be one of ${LIFECYCLE_EVENTS.join(', ')}`;
    }
    const expiration = optionalString(item.subscriptionExpirationDateTime);
    if (expiration === null || (expiration !== undefined && Number.isNaN(Date.parse(expiration)))) {
      return 'subscriptionExpirationDateTime is not a date';
    }
    return {
      kind: 'lifecycle',
      subscriptionId,
      clientState,
      tenantId,
      lifecycleEvent: item.lifecycleEvent as LifecycleEvent,
      subscriptionExpirationDateTime: expiration,
    };
  }

  const changeType = item.changeType;
  if (typeof changeType !== 'string' || !CHANGE_TYPES.has(changeType)) {
    return 'changeType must be created, updated or deleted';
  }
  const resource = item.resource;
  if (typeof resource !== 'string' || resource.length > 1024) return 'resource missing or too long';
  const match = MESSAGE_RESOURCE.exec(resource);
  if (!match) return 'resource is not Users/{id}/Messages/{id}';
  const resourceUserId = match[1] ?? '';
  let messageId = match[2] ?? '';
  const resourceData = item.resourceData;
  if (resourceData !== undefined) {
    if (typeof resourceData !== 'object' || resourceData === null) return 'resourceData is not an object';
    const id = (resourceData as Record<string, unknown>).id;
    if (id !== undefined) {
      if (typeof id !== 'string') return 'resourceData.id is not a string';
      messageId = id;
    }
  }
  if (messageId.length === 0 || messageId.length > 512 || !PRINTABLE.test(messageId)) {
    return 'message id missing or not printable';
  }
  const encrypted = item.encryptedContent;
  if (
    encrypted !== undefined &&
    (typeof encrypted !== 'object' || encrypted === null || Array.isArray(encrypted))
  ) {
    return 'encryptedContent is not an object';
  }
  return {
    kind: 'change',
    subscriptionId,
    clientState,
    tenantId,
    changeType,
    resource,
    resourceUserId,
    messageId,
    ...(encrypted ? { encryptedContent: encrypted as Record<string, unknown> } : {}),
  };
}

function optionalString(value: unknown): string | undefined | null {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : null;
}

/**
 * Compares clientState in constant time. Hashing first makes the comparison independent of
 * where the strings differ and of their lengths.
 */
export function clientStateMatches(expected: string, received: string | undefined): boolean {
  if (received === undefined || received.length > MAX_CLIENT_STATE_LENGTH) return false;
  const a = createHash('sha256').update(expected, 'utf8').digest();
  const b = createHash('sha256').update(received, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/**
 * Checks one parsed notification against its stored subscription. Returns the reason to drop
 * it, or undefined when it is genuine.
 */
export function checkAgainstSubscription(
  item: ParsedNotification,
  subscription: SubscriptionRecord | undefined,
): DropReason | undefined {
  if (!subscription) return 'unknown_subscription';
  if (!clientStateMatches(subscription.clientState, item.clientState)) return 'client_state_mismatch';
  if (item.tenantId !== undefined && item.tenantId.toLowerCase() !== subscription.tenantId.toLowerCase()) {
    return 'tenant_mismatch';
  }
  if (item.kind === 'change' && item.resourceUserId.toLowerCase() !== subscription.userId.toLowerCase()) {
    return 'resource_mismatch';
  }
  return undefined;
}

/**
 * The Service Bus messageId of a notification. Deterministic, so Graph's retries of the same
 * notification (it retries non-2xx for up to 4 hours) are dropped by duplicate detection.
 * Hashed to stay within Service Bus's 128-character limit whatever Graph's ids look like.
 */
export function dedupKeyFor(item: ParsedNotification): string {
  // A change is keyed by mailbox user + message, not by subscription: after a subscription is
  // recreated, a resync may find a message its old subscription already notified.
  const parts =
    item.kind === 'change'
      ? ['change', item.resourceUserId.toLowerCase(), item.messageId, item.changeType]
      : ['lifecycle', item.subscriptionId, item.lifecycleEvent, item.subscriptionExpirationDateTime ?? ''];
  const digest = createHash('sha256').update(parts.join('\n'), 'utf8').digest('base64url');
  return `${item.kind === 'change' ? 'c' : 'l'}-${digest}`;
}

/** Builds the queue message for a genuine notification. clientState never leaves the webhook. */
export function toQueuedNotification(
  item: ParsedNotification,
  subscription: SubscriptionRecord,
  receivedAt: Date,
  validationTokens: string[] | undefined,
): QueuedNotification {
  const common = {
    subscriptionId: item.subscriptionId,
    tenantId: subscription.tenantId,
    mailboxEmail: subscription.mailboxEmail,
    userId: subscription.userId,
    receivedAt: receivedAt.toISOString(),
  };
  if (item.kind === 'lifecycle') {
    const body: LifecycleMessage = { type: 'lifecycle', ...common, lifecycleEvent: item.lifecycleEvent };
    return { messageId: dedupKeyFor(item), body };
  }
  const body: ChangeMessage = {
    type: 'change',
    ...common,
    changeType: item.changeType,
    resource: item.resource,
    messageId: item.messageId,
    ...(item.encryptedContent ? { encryptedContent: item.encryptedContent } : {}),
    ...(item.encryptedContent && validationTokens ? { validationTokens } : {}),
  };
  return { messageId: dedupKeyFor(item), body };
}
