/**
 * A value with `=` or `;` is not the host name, URL, name or number a non-secret setting expects:
 * it is most likely a connection string, or a URL with a key or SAS token, pasted into the wrong
 * setting. Such values are never printed (ConfigError text, the effective-settings log line).
 */
export function mayCarryKey(value: string): boolean {
  return /[=;]/.test(value);
}

/** How a ConfigError quotes a non-secret setting's value. */
export function echoValue(value: string): string {
  return mayCarryKey(value) ? 'a value with "=" or ";" (not shown: it may carry a key)' : `"${value}"`;
}
