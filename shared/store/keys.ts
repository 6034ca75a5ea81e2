/**
 * Validation of Table Storage keys. Table Storage forbids `/`, `\`, `#`, `?` and control
 * characters (U+0000–U+001F, U+007F–U+009F) in PartitionKey and RowKey; such keys are rejected
 * here, before any request is sent (the service would answer 400, or worse, 500 on a read).
 */
import { ValidationError } from '../errors.js';

/** Well above any real key we use (GUIDs, SMTP addresses ≤ 254), well below the 1 KiB limit. */
export const MAX_KEY_LENGTH = 512;
/** RFC 5321 limit for a forward path. */
export const MAX_EMAIL_LENGTH = 254;

/** Why the key cannot be used, or undefined if it can. Never echoes the key itself. */
export function keyProblem(value: string): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (value.length > MAX_KEY_LENGTH) return `must be at most ${MAX_KEY_LENGTH} characters`;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c <= 0x1f || (c >= 0x7f && c <= 0x9f)) return 'must not contain control characters';
    if (c === 0x2f || c === 0x5c || c === 0x23 || c === 0x3f) {
      return "must not contain '/', '\\', '#' or '?'";
    }
  }
  return undefined;
}

/** Returns the value if it is a usable key, else throws ValidationError naming `what`. */
export function assertValidKey(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new ValidationError(`${what} must be a string`);
  const problem = keyProblem(value);
  if (problem) throw new ValidationError(`${what} ${problem}`);
  return value;
}

/** A Graph subscription id, as used for the subscriptions PartitionKey. */
export function validateSubscriptionId(subscriptionId: unknown): string {
  return assertValidKey(subscriptionId, 'subscription id');
}

/**
 * Normalises a mailbox SMTP address to its key: trimmed and lower-cased. Throws ValidationError
 * if it is not shaped like `local@domain` or cannot be a Table Storage key (note: `/`, `#` and
 * `?` are legal in an RFC 5322 local part but cannot be stored and are rejected).
 */
export function normaliseEmail(email: unknown, what = 'mailbox email'): string {
  if (typeof email !== 'string') throw new ValidationError(`${what} must be a string`);
  const normalised = email.trim().toLowerCase();
  if (normalised.length === 0) throw new ValidationError(`${what} must not be empty`);
  if (normalised.length > MAX_EMAIL_LENGTH) {
    throw new ValidationError(`${what} must be at most ${MAX_EMAIL_LENGTH} characters`);
  }
  const problem = keyProblem(normalised);
  if (problem) throw new ValidationError(`${what} ${problem}`);
  const at = normalised.lastIndexOf('@');
  if (at <= 0 || at === normalised.length - 1 || normalised.indexOf('@') !== at || /\s/.test(normalised)) {
    throw new ValidationError(`${what} must look like local@domain`);
  }
  return normalised;
}
