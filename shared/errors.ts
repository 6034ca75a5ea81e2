/**
 * A few named error classes with a stable `code`. HTTP mapping lives in shared/http/responses.ts,
 * so callers never see internal messages. Messages here must never contain secrets.
 */
export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Input from a caller is wrong; safe to show the message to the caller. */
export class ValidationError extends AppError {
  constructor(message: string, code = 'invalid_request') {
    super(code, message);
  }
}

/** What the caller asked for does not exist; safe to show the message to the caller. */
export class NotFoundError extends AppError {
  constructor(message: string, code = 'not_found') {
    super(code, message);
  }
}

/**
 * A dependency answered but refused for a reason the caller can act on (e.g. Graph: admin consent
 * missing). The message is ours plus the dependency's error code and text, never a secret.
 */
export class RefusedError extends AppError {
  constructor(message: string, code = 'dependency_refused') {
    super(code, message);
  }
}

/** A setting is missing or malformed; raised once at start-up. */
export class ConfigError extends AppError {
  constructor(readonly problems: readonly string[]) {
    super('invalid_configuration', `Invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

/**
 * A value with `=` or `;` is not the host name, URL, name or number a non-secret setting expects:
 * it is most likely a connection string, or a URL with a key or SAS token, pasted into the wrong
 * setting; one with a PEM marker (`-----BEGIN …`) is a key or certificate pasted into the wrong
 * setting. Such values are never printed (ConfigError text, the effective-settings log line).
 */
export function mayCarryKey(value: string): boolean {
  return /[=;]|-----begin/i.test(value);
}

/**
 * How a ConfigError quotes a non-secret setting's value, cut to `max` characters. The whole value
 * is checked before it is cut: the start of a connection string is no safer than its end.
 */
export function echoValue(value: string, max = Number.POSITIVE_INFINITY): string {
  return mayCarryKey(value)
    ? 'a value with "=", ";" or a PEM marker (not shown: it may carry a key)'
    : `"${value.slice(0, max)}"`;
}

/**
 * How a ConfigError quotes one item of a list setting (comma-separated): the whole value is checked,
 * since `-----BEGIN PRIVATE KEY-----…,=` holds a key whatever item is shown.
 */
export function echoItem(item: string, whole: string, max = Number.POSITIVE_INFINITY): string {
  return mayCarryKey(whole) ? echoValue(whole) : echoValue(item, max);
}

/** An ETag precondition failed: someone else changed the entity since we read it. */
export class ConcurrencyError extends AppError {
  constructor(what: string, options?: { cause?: unknown }) {
    super('concurrency_conflict', `${what} was changed concurrently`, options);
  }
}

/** An insert found the entity already there. */
export class AlreadyExistsError extends AppError {
  constructor(what: string, options?: { cause?: unknown }) {
    super('already_exists', `${what} already exists`, options);
  }
}

/** A dependency (queue, storage, Graph) failed; the operation may be retried. */
export class DependencyError extends AppError {
  constructor(
    readonly dependency: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('dependency_failed', `${dependency}: ${message}`, options);
  }
}

export function ensureError(value: unknown): Error {
  if (value instanceof Error) return value;
  try {
    return new Error(typeof value === 'string' ? value : JSON.stringify(value));
  } catch {
    return new Error(String(value));
  }
}
