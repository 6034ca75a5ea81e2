import type { CliIo } from '../../../dev/cli/io.js';

/** A CliIo whose streams are strings the test reads back. */
export function captureIo(
  options: { env?: Record<string, string | undefined>; tty?: boolean; fetch?: typeof fetch } = {},
) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (t) => void (stdout += t), isTTY: options.tty === true },
    stderr: { write: (t) => void (stderr += t), isTTY: options.tty === true },
    env: options.env ?? {},
    ...(options.fetch ? { fetch: options.fetch } : {}),
  };
  return {
    io,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
  };
}
