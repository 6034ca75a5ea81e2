/**
 * What became of one change message: metrics-friendly (a closed set of actions and reasons, counts
 * as numbers, nothing from the mail), so a caller can log it as is and count it by `reason`.
 */
import type { PrivacyMode } from '../domain/model.js';
import type { RetryReason } from './errors.js';
import { RICH_FAILURE_REASONS, type RichFailureReason } from './rich.js';

export type NotificationDropReason =
  /** Not a `created` change (updates and deletes never push). */
  | 'not_created'
  /** The mailbox is not (or no longer) enrolled, or now belongs to another user. */
  | 'mailbox_not_enrolled'
  /** No registered device for the mailbox. */
  | 'no_devices'
  /** Graph answered 404: deleted or moved before we got to it. Normal, not an error. */
  | 'message_gone'
  /** The user already read it (on another client) before we got to it. */
  | 'already_read'
  /** Older than the push age limit (a mail moved into the Inbox, or a very late redelivery). */
  | 'too_old'
  /** Every device already got this push (Graph duplicate, resync, redelivery). */
  | 'duplicate'
  /** Every device's token was invalid: the devices were removed, nothing was sent. */
  | 'devices_invalid'
  /** Rich content that failed verification: never pushed. */
  | RichFailureReason;

export const NOTIFICATION_DROP_REASONS: readonly NotificationDropReason[] = [
  'not_created',
  'mailbox_not_enrolled',
  'no_devices',
  'message_gone',
  'already_read',
  'too_old',
  'duplicate',
  'devices_invalid',
  ...RICH_FAILURE_REASONS,
];

export type NotificationOutcome =
  | {
      action: 'pushed';
      /** Pushes accepted by the provider in this attempt. */
      sent: number;
      /** Devices that already had this push (skipped). */
      alreadySent: number;
      /** Devices removed because the provider called their token invalid. */
      removedDevices: number;
      /** Stale claims of a crashed attempt taken over (each may be a second push). */
      tookOver: number;
      contentSource: 'rich' | 'graph';
      privacyMode: PrivacyMode;
    }
  | {
      action: 'dropped';
      reason: NotificationDropReason;
      /** Safe to log (never mail content). */
      detail?: string;
      removedDevices?: number;
      alreadySent?: number;
    };

/** One line for the function log: `notification dropped: <reason>` or `notification pushed: …`. */
export function describeNotificationOutcome(outcome: NotificationOutcome): string {
  if (outcome.action === 'dropped') {
    return `notification dropped: ${outcome.reason}${outcome.detail ? ` (${outcome.detail})` : ''}`;
  }
  const extra = [
    outcome.alreadySent ? `${outcome.alreadySent} already sent` : '',
    outcome.removedDevices ? `${outcome.removedDevices} device(s) removed` : '',
    outcome.tookOver ? `${outcome.tookOver} stale claim(s) taken over` : '',
  ].filter(Boolean);
  return `notification pushed: ${outcome.sent} device(s), ${outcome.privacyMode} content from ${outcome.contentSource}${
    extra.length ? `; ${extra.join(', ')}` : ''
  }`;
}

/** Running counts by outcome, drop reason and retry reason, per process (the benchmarks read them). */
export class NotificationCounters {
  pushedMessages = 0;
  pushes = 0;
  removedDevices = 0;
  readonly dropped: Partial<Record<NotificationDropReason, number>> = {};
  readonly retries: Partial<Record<RetryReason, number>> = {};

  record(outcome: NotificationOutcome): void {
    if (outcome.action === 'pushed') {
      this.pushedMessages += 1;
      this.pushes += outcome.sent;
      this.removedDevices += outcome.removedDevices;
    } else {
      this.dropped[outcome.reason] = (this.dropped[outcome.reason] ?? 0) + 1;
      this.removedDevices += outcome.removedDevices ?? 0;
    }
  }

  recordRetry(reason: RetryReason): void {
    this.retries[reason] = (this.retries[reason] ?? 0) + 1;
  }

  snapshot(): {
    pushedMessages: number;
    pushes: number;
    removedDevices: number;
    dropped: Partial<Record<NotificationDropReason, number>>;
    retries: Partial<Record<RetryReason, number>>;
  } {
    return {
      pushedMessages: this.pushedMessages,
      pushes: this.pushes,
      removedDevices: this.removedDevices,
      dropped: { ...this.dropped },
      retries: { ...this.retries },
    };
  }
}
