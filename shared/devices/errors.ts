/**
 * Errors of the device API. Both carry messages that are safe to show to the caller (they never
 * contain the token, its claims or whether a mailbox exists); shared/devices/http.ts maps them.
 */
import { AppError } from '../errors.js';

export type AuthErrorCode = 'missing_token' | 'invalid_token' | 'expired' | 'wrong_audience' | 'wrong_issuer';

/** The caller's bearer token is missing or unacceptable: 401 with `WWW-Authenticate`. */
export class AuthError extends AppError {
  declare readonly code: AuthErrorCode;

  constructor(code: AuthErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * The caller is authenticated but may not act on the mailbox: 403. One message for "no such
 * mailbox" and "someone else's mailbox", so the answer does not reveal which mailboxes exist.
 */
export class DeviceAccessError extends AppError {
  constructor() {
    super('forbidden', 'You can manage devices only for your own mailbox.');
  }
}
