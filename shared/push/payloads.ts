/**
 * Native push payloads built from PushContent. Pure: used by the Notification Hubs provider and
 * unit-tested on their own.
 */
import type { PushContent } from '../domain/ports.js';

/** APNs rejects payloads over 4 KB; FCM's limit for a message's payload is also 4 KB. */
export const MAX_PAYLOAD_BYTES = 4096;
/** Room left for Notification Hubs' and the platforms' own additions. */
const PAYLOAD_BUDGET_BYTES = MAX_PAYLOAD_BYTES - 256;

export interface ApnsPayload {
  aps: {
    alert: { title: string; body: string };
    badge?: number;
    sound: 'default';
    'thread-id': string;
    /** Lets the app's notification service extension fetch or decrypt richer content. */
    'mutable-content': 1;
  };
  mailbox: string;
  messageId: string;
}

export interface FcmV1Payload {
  message: {
    notification: { title: string; body: string };
    /** FCM data values must be strings. */
    data: { mailbox: string; messageId: string };
    android: {
      priority: 'high';
      notification: { tag: string; notification_count?: number };
    };
  };
}

export function buildApnsPayload(content: PushContent): ApnsPayload {
  return fitted(content, (title, body) => ({
    aps: {
      alert: { title, body },
      ...(content.badge !== undefined ? { badge: content.badge } : {}),
      sound: 'default',
      'thread-id': content.threadId,
      'mutable-content': 1,
    },
    mailbox: content.data.mailbox,
    messageId: content.data.messageId,
  }));
}

/**
 * The Notification Hubs body for FCM HTTP v1 is FCM's `{ "message": { … } }` envelope without a
 * target (the hub adds the token). `android.notification.tag` replaces an earlier notification of
 * the same thread in the drawer instead of stacking one per mail.
 */
export function buildFcmV1Payload(content: PushContent): FcmV1Payload {
  return fitted(content, (title, body) => ({
    message: {
      notification: { title, body },
      data: { mailbox: content.data.mailbox, messageId: content.data.messageId },
      android: {
        // Mail is user-visible and time-sensitive: high priority wakes Doze-mode devices.
        priority: 'high',
        notification: {
          tag: content.threadId,
          ...(content.badge !== undefined ? { notification_count: content.badge } : {}),
        },
      },
    },
  }));
}

/**
 * Builds the payload, shortening the body (then the title) until the JSON fits the platforms' 4 KB
 * limit; an oversized payload is not rejected by Notification Hubs but silently dropped by the
 * platform, so trimming here is the only way the user still gets a push.
 */
function fitted<T>(content: PushContent, build: (title: string, body: string) => T): T {
  const full = build(content.title, content.body);
  if (jsonBytes(full) <= PAYLOAD_BUDGET_BYTES) return full;
  const withoutBody = jsonBytes(build(content.title, ''));
  if (withoutBody <= PAYLOAD_BUDGET_BYTES) {
    return build(content.title, fitText(content.body, PAYLOAD_BUDGET_BYTES - withoutBody));
  }
  return build(fitText(content.title, PAYLOAD_BUDGET_BYTES - jsonBytes(build('', ''))), '');
}

const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), 'utf8');

/** The longest prefix (whole code points) plus "…" whose JSON string form adds at most `maxBytes`. */
function fitText(text: string, maxBytes: number): string {
  const ellipsis = jsonBytes('…') - 2;
  let used = ellipsis;
  let kept = '';
  for (const char of text) {
    const size = jsonBytes(char) - 2;
    if (used + size > maxBytes) break;
    kept += char;
    used += size;
  }
  kept = kept.trimEnd();
  return kept ? `${kept}…` : '';
}
