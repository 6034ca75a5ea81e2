/**
 * What a push shows, per privacy mode (the old server's "secure notification" modes). Pure.
 *
 * - `full`: title = sender, body = subject + newline + the start of Graph's `bodyPreview`;
 * - `subject`: title = sender, body = subject;
 * - `minimal`: nothing from the message: "New mail" and the unread count when known.
 *
 * Never more of the message than `bodyPreview` (Graph's first ~255 characters of the body,
 * already plain text): the message body is never fetched. Lock screens render text as given, so
 * control characters (line breaks included) and bidirectional overrides (used to disguise a
 * sender's name) are removed from everything taken from the message.
 */
import { createHash } from 'node:crypto';
import type { MailboxRecord, PrivacyMode } from '../domain/model.js';
import type { PushContent } from '../domain/ports.js';
import type { MailMessage } from '../graph/messages.js';

export const PRIVACY_MODES: readonly PrivacyMode[] = ['full', 'subject', 'minimal'];
export const DEFAULT_PRIVACY_MODE: PrivacyMode = 'subject';

/** Lock screens show about two lines of title; longer names are cut. */
export const MAX_TITLE_CHARS = 80;
export const MAX_SUBJECT_CHARS = 160;
/** The preview shown in `full` mode. */
export const MAX_PREVIEW_CHARS = 180;

/** The fields of a message a push may use, whether read from Graph or from a rich notification. */
export interface MessageSummary {
  id?: string;
  subject?: string;
  fromName?: string;
  fromAddress?: string;
  bodyPreview?: string;
  importance?: 'low' | 'normal' | 'high';
  receivedDateTime?: string;
  isRead?: boolean;
  hasAttachments?: boolean;
}

export interface PushContentInput {
  mode: PrivacyMode;
  /** Lower-cased mailbox address: goes into `data.mailbox` and the thread id. */
  mailboxEmail: string;
  /** Graph message id, for the app to open the message. */
  messageId: string;
  message: MessageSummary;
  /** Unread messages in the Inbox, when known (badge; `minimal` body). */
  unreadCount?: number;
}

/** The mailbox's own mode, else the tenant default. */
export function resolvePrivacyMode(
  mailbox: Pick<MailboxRecord, 'privacyMode'>,
  defaultMode: PrivacyMode,
): PrivacyMode {
  return mailbox.privacyMode !== undefined && PRIVACY_MODES.includes(mailbox.privacyMode)
    ? mailbox.privacyMode
    : defaultMode;
}

export function buildPushContent(input: PushContentInput): PushContent {
  const { mode, message } = input;
  const unread =
    input.unreadCount !== undefined && Number.isInteger(input.unreadCount) && input.unreadCount >= 0
      ? input.unreadCount
      : undefined;
  const common = {
    data: { mailbox: input.mailboxEmail, messageId: input.messageId },
    threadId: threadIdFor(input.mailboxEmail),
    ...(unread !== undefined ? { badge: unread } : {}),
  };
  if (mode === 'minimal') {
    return {
      title: 'New mail',
      body:
        unread === undefined || unread === 0
          ? 'You have new mail'
          : `You have ${unread} unread message${unread === 1 ? '' : 's'}`,
      ...common,
    };
  }
  const sender =
    cleanText(message.fromName, MAX_TITLE_CHARS) || cleanText(message.fromAddress, MAX_TITLE_CHARS);
  const marker = message.importance === 'high' ? '❗ ' : '';
  const title = `${marker}${sender || 'New mail'}`;
  const subject = cleanText(message.subject, MAX_SUBJECT_CHARS) || '(no subject)';
  if (mode === 'subject') return { title, body: subject, ...common };
  const preview = cleanText(message.bodyPreview, MAX_PREVIEW_CHARS);
  return { title, body: preview ? `${subject}\n${preview}` : subject, ...common };
}

/** Collapses pushes of one mailbox on the lock screen; a hash, so the address is not exposed. */
export function threadIdFor(mailboxEmail: string): string {
  const digest = createHash('sha256').update(mailboxEmail.trim().toLowerCase(), 'utf8').digest('base64url');
  return `mb-${digest.slice(0, 22)}`;
}

/**
 * C0/C1 controls (tab, CR and LF included), bidirectional embeddings/overrides/isolates, zero-width
 * characters and the BOM. Line breaks become spaces; everything else is removed.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const INVISIBLE = /[\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;

/**
 * Text from a message made safe for a push: controls replaced by spaces, invisible formatting
 * removed, whitespace collapsed, trimmed, and cut to `maxChars` code points (an ellipsis marks the
 * cut; surrogate pairs are never split). Empty for anything that is not a string.
 */
export function cleanText(text: unknown, maxChars: number): string {
  if (typeof text !== 'string' || text.length === 0) return '';
  const flat = text.replace(CONTROL, ' ').replace(INVISIBLE, '').replace(/\s+/g, ' ').trim();
  const chars = Array.from(flat);
  if (chars.length <= maxChars) return flat;
  return `${chars
    .slice(0, Math.max(0, maxChars - 1))
    .join('')
    .trimEnd()}…`;
}

/** The summary of a message read from Graph (or decrypted from a rich notification). */
export function summaryFromGraph(message: MailMessage | Record<string, unknown>): MessageSummary {
  const m = message as Record<string, unknown>;
  const summary: MessageSummary = {};
  const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
  const id = str(m.id);
  if (id !== undefined) summary.id = id;
  const subject = str(m.subject);
  if (subject !== undefined) summary.subject = subject;
  const bodyPreview = str(m.bodyPreview);
  if (bodyPreview !== undefined) summary.bodyPreview = bodyPreview;
  const received = str(m.receivedDateTime);
  if (received !== undefined) summary.receivedDateTime = received;
  if (m.importance === 'low' || m.importance === 'normal' || m.importance === 'high') {
    summary.importance = m.importance;
  }
  if (typeof m.isRead === 'boolean') summary.isRead = m.isRead;
  if (typeof m.hasAttachments === 'boolean') summary.hasAttachments = m.hasAttachments;
  const from = m.from;
  if (typeof from === 'object' && from !== null) {
    const address = (from as Record<string, unknown>).emailAddress;
    if (typeof address === 'object' && address !== null) {
      const name = str((address as Record<string, unknown>).name);
      const mail = str((address as Record<string, unknown>).address);
      if (name !== undefined) summary.fromName = name;
      if (mail !== undefined) summary.fromAddress = mail;
    }
  }
  return summary;
}
