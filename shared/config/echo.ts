/**
 * How a ConfigError quotes a non-secret setting's value. A value with `=` or `;` is not the
 * host name, URL, name or number such a setting expects, and is most likely a connection string
 * or a URL with a key or SAS token pasted into the wrong setting: it is never shown.
 */
export function echoValue(value: string): string {
  return /[=;]/.test(value) ? 'a value with "=" or ";" (not shown: it may carry a key)' : `"${value}"`;
}
