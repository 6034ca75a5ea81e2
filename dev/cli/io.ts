/**
 * What the CLI touches of the outside world, passed in so tests run it in-process and capture
 * its output: the two streams, the environment, and (optionally) fetch and the Azure sign-in.
 */
export interface Output {
  write(text: string): void;
  /** A terminal: progress redraws in place, status may be coloured. */
  isTTY?: boolean;
  columns?: number;
}

export interface CliIo {
  stdout: Output;
  stderr: Output;
  env: Record<string, string | undefined>;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Signs in to Entra ID for `scope`; defaults to @azure/identity (see token.ts). */
  azureToken?: (scope: string, options: { tenantId?: string; stderr: Output }) => Promise<string>;
  now?: () => number;
}

/** The process's own streams and environment. */
export function processIo(): CliIo {
  return {
    stdout: {
      write: (text) => void process.stdout.write(text),
      isTTY: process.stdout.isTTY === true,
      get columns() {
        return process.stdout.columns;
      },
    },
    stderr: {
      write: (text) => void process.stderr.write(text),
      isTTY: process.stderr.isTTY === true,
      get columns() {
        return process.stderr.columns;
      },
    },
    env: process.env,
  };
}

/** Colours when stdout is a terminal and NO_COLOR (https://no-color.org) is unset. */
export function colourer(
  io: CliIo,
): (colour: 'red' | 'yellow' | 'green' | 'dim' | 'bold', text: string) => string {
  const on = io.stdout.isTTY === true && (io.env.NO_COLOR ?? '') === '';
  const codes = { red: 31, yellow: 33, green: 32, dim: 2, bold: 1 } as const;
  return (colour, text) => (on ? `\u001b[${codes[colour]}m${text}\u001b[0m` : text);
}
