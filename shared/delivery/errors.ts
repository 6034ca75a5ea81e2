import { AppError } from '../errors.js';

/** Why a change message must be tried again later. Safe to log and to count. */
export type RetryReason =
  /** Graph answered 429 (Retry-After honoured). */
  | 'graph_throttled'
  /** Graph answered 5xx or could not be reached. */
  | 'graph_unavailable'
  /** The push provider asked for a retry (throttled or temporarily failing). */
  | 'push_retry'
  /** Another worker holds a fresh claim on the same (message, device). */
  | 'in_progress';

/**
 * The message could not be processed now but may succeed later. Every push that went out was
 * marked sent and every other claim released before this is thrown, so the retry sends exactly
 * what is missing. `retryAfterMs` is Graph's or the provider's Retry-After, or a backoff.
 */
export class RetryableError extends AppError {
  /** Pushes that did go out in this attempt (marked sent; the retry skips them). */
  readonly sent: number;
  /** True when this was the queue's last delivery: the host dead-letters the message next. */
  readonly finalAttempt: boolean;

  constructor(
    readonly reason: RetryReason,
    readonly retryAfterMs: number,
    message: string,
    options?: { cause?: unknown; readonly sent?: number; readonly finalAttempt?: boolean },
  ) {
    super('retry_later', message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.sent = options?.sent ?? 0;
    this.finalAttempt = options?.finalAttempt ?? false;
  }
}

export function isRetryableError(error: unknown): error is RetryableError {
  return error instanceof RetryableError;
}
