/** The two ways the CLI fails: the operator typed something wrong (exit 2) or the API/service refused (exit 1). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    /** The API's error code, when it answered with one. */
    readonly code?: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** The one way to turn an unknown thrown value into an Error. */
export function ensureError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value)));
}
