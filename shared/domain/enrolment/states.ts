/**
 * Mailbox states of the control plane, and why a mailbox is not served, in words an operator can
 * act on. Pure.
 *
 *   pending ──(subscription created)──▶ active
 *   ews ──(migration switch on, batch picks it)──▶ migrating ──▶ active
 *   pending | migrating ──(final failure, or too many attempts)──▶ failed | on_premises
 *   failed | on_premises ──(operator re-queues)──▶ pending | ews
 *   any ──(unenrol)──▶ removed (the row is deleted once Graph's subscription and devices are gone)
 */
import type { MailboxRecord } from '../model.js';

export const MAILBOX_STATES = [
  'pending',
  'active',
  'ews',
  'migrating',
  'failed',
  'on_premises',
  'removed',
] as const;
export type MailboxState = (typeof MAILBOX_STATES)[number];

/** Why Graph work for a mailbox failed, as a stable code (the text is in FAILURE_TEXT). */
export const MAILBOX_FAILURES = [
  'consent_missing',
  'access_policy',
  'user_not_found',
  'no_mailbox',
  'on_premises',
  'subscription_limit',
  'handshake_failed',
  'graph_error',
] as const;
export type MailboxFailure = (typeof MAILBOX_FAILURES)[number];

export const FAILURE_TEXT: Readonly<Record<MailboxFailure, string>> = {
  consent_missing:
    'Admin consent is missing: grant the app registration the Mail.Read and User.Read.All application permissions and "Grant admin consent" (Entra admin center → App registrations → API permissions).',
  access_policy:
    "The mailbox is outside the application access policy: add it to the policy's group, then check with Test-ApplicationAccessPolicy -Identity <mailbox> -AppId <app id> (policy changes take up to an hour).",
  user_not_found:
    'No user with this address in the tenant: check the spelling, or whether the account was deleted or renamed.',
  no_mailbox:
    'The user has no Exchange Online mailbox (no licence, or the mailbox is inactive or soft-deleted): assign an Exchange Online licence, then retry.',
  on_premises:
    'The mailbox is on an on-premises Exchange server (hybrid): Graph change notifications cannot serve it. Keep it on the old server, or move it to Exchange Online and re-queue it.',
  subscription_limit:
    "The mailbox has reached Graph's limit of 1,000 subscriptions across all apps: remove other apps' subscriptions on it.",
  handshake_failed:
    'Graph could not validate our webhook in time (10 s): check that PUBLIC_BASE_URL reaches this function app and that the HTTP instances are warm.',
  graph_error: 'Graph refused the request: see the last error for its code and message.',
};

/** Failures that no retry can fix: the mailbox waits for an operator. */
export const FINAL_FAILURES: ReadonlySet<MailboxFailure> = new Set(['on_premises']);

/** What a Graph failure means for the mailbox work. */
export type GraphWorkFailure =
  /** 429/503/504 or no answer: try again after `retryAfterMs`; not counted as an attempt. */
  | { kind: 'throttled'; retryAfterMs: number; detail: string }
  /** Counted as an attempt; `failure` says why in words. */
  | { kind: 'failed'; failure: MailboxFailure; detail: string };

/** The state of a row written before states existed: derived from what it has. */
export function mailboxStateOf(
  record: Pick<MailboxRecord, 'state' | 'subscriptionId' | 'transport'>,
): MailboxState {
  if (record.state) return record.state;
  if (record.subscriptionId) return 'active';
  return record.transport === 'ews' ? 'ews' : 'pending';
}

/** States whose mailbox waits in the work queue. */
export function workKindOf(state: MailboxState): 'create' | 'migrate' | undefined {
  if (state === 'pending') return 'create';
  if (state === 'ews' || state === 'migrating') return 'migrate';
  return undefined;
}

/**
 * Delay before the next attempt after `attempts` counted failures: 5 min, 10, 20, … capped at
 * 6 hours (an operator fixing consent or a policy sees the effect within a few runs).
 */
export function retryDelayMs(attempts: number): number {
  const base = 5 * 60_000;
  return Math.min(6 * 3_600_000, base * 2 ** Math.max(0, attempts - 1));
}
