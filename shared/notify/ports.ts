/**
 * Ports of the notification-to-push pipeline. Adapters: shared/store/idempotency-store.ts
 * (IdempotencyStore), shared/notify/graph-message-source.ts (MessageSource over Graph),
 * shared/notify/service-bus-retry-scheduler.ts (RetryScheduler). Times are epoch milliseconds.
 */
import type { ChangeMessage } from '../domain/model.js';
import type { MailMessage } from '../graph/messages.js';

// ---------------------------------------------------------------------------------------------
// Idempotency: one push per (message, device)

/** Where a delivery stands for one (message, device). */
export type DeliveryState = 'sending' | 'sent';

/** A stored delivery record, as read (with its ETag). */
export interface DeliveryRecord {
  /** UTC day `yyyyMMdd` of the message (its partition's prefix); see idempotencyDayOf. */
  day: string;
  /** Per-message key (dedupKeyFor of the change). */
  messageKey: string;
  deviceId: string;
  state: DeliveryState;
  /** When the current `sending` claim was taken (or when it was marked sent). */
  claimedAt: number;
  /** When it was marked `sent`. */
  sentAt?: number;
  etag: string;
}

/** A `sending` claim we hold: only its holder may mark it sent or release it (ETag). */
export interface DeliveryClaim {
  day: string;
  messageKey: string;
  deviceId: string;
  claimedAt: number;
  etag: string;
  /**
   * Which claim this is, for stores whose ETag covers several devices (one row per message): a
   * holder whose ETag went stale checks the device still carries its claim id before writing.
   */
  claimId?: string;
}

export type ClaimResult =
  /** Ours: send, then markSent (or release if the send did not happen). */
  | { deviceId: string; status: 'claimed'; claim: DeliveryClaim; tookOver: boolean }
  /** A push already went out for this (message, device): skip. */
  | { deviceId: string; status: 'already_sent' }
  /** Another worker holds a fresh claim: try again after `retryAfterMs`. */
  | { deviceId: string; status: 'in_progress'; retryAfterMs: number };

export interface ClaimRequest {
  day: string;
  messageKey: string;
  deviceIds: readonly string[];
  now: number;
  /** A `sending` claim older than this is considered crashed and may be taken over. */
  claimTimeoutMs: number;
}

export interface PurgeOptions {
  /** Rows deleted per call at most (each call is bounded; the timer calls again next run). Default 10,000. */
  maxRows?: number;
}

export interface PurgeReport {
  /** Rows deleted. */
  deleted: number;
  /** Days (`yyyyMMdd`) rows were deleted from, oldest first. */
  days: string[];
  /** True when the row budget ran out before every old row was gone. */
  more: boolean;
}

/**
 * Delivery records per (message, device). Claims are conditional inserts (exactly one of
 * concurrent claimers wins) or ETag-conditional takeovers of stale claims.
 */
export interface IdempotencyStore {
  /** One result per requested device, in the same order. */
  claim(request: ClaimRequest): Promise<ClaimResult[]>;
  /**
   * Marks claims `sent`. A claim lost in the meantime (taken over after the claim timeout, which
   * means the other holder sends too) is reported, not thrown.
   */
  markSent(claims: readonly DeliveryClaim[], now: number): Promise<{ lost: number }>;
  /** Gives claims back (the push was not sent), so a retry can claim at once. Lost claims are ignored. */
  release(claims: readonly DeliveryClaim[]): Promise<void>;
  /** The record, for tests and diagnostics. */
  get(day: string, messageKey: string, deviceId: string): Promise<DeliveryRecord | undefined>;
  /**
   * Deletes the records of every day before `day` (`yyyyMMdd`, exclusive), oldest first, in
   * bounded batches. Reads only rows it deletes: partitions are days, so "older than" is a range.
   */
  purgeOlderThan(day: string, options?: PurgeOptions): Promise<PurgeReport>;
}

// ---------------------------------------------------------------------------------------------
// The message itself

/** Reads one message of a mailbox (Graph `GET /users/{id}/messages/{id}?$select=…`). */
export interface MessageSource {
  /** Undefined when the message no longer exists (deleted or moved: Graph 404). */
  getMessage(tenantId: string, userId: string, messageId: string): Promise<MailMessage | undefined>;
}

// ---------------------------------------------------------------------------------------------
// Retry

/**
 * Puts a copy of a change message back on the queue for later (Service Bus scheduled message).
 * Resolves only once the broker has accepted it.
 */
export interface RetryScheduler {
  scheduleRetry(message: RetryingChangeMessage, atMs: number): Promise<void>;
}

/** A change message that may be a scheduled retry of an earlier one. */
export interface RetryingChangeMessage extends ChangeMessage {
  /** Scheduled retries so far (absent on the original). */
  retryAttempt?: number;
  /** When the first attempt failed (ISO); kept across scheduled retries. */
  firstFailedAt?: string;
}
