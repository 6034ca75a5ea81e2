/**
 * Debian's Chromium driven by playwright-core, for the console's browser tests and screenshots.
 * playwright-core never downloads a browser: it drives the one installed (CHROME_PATH, else
 * /usr/bin/chromium; `.ci/run` installs Debian's package when it is missing).
 */
import { accessSync, constants } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const DEFAULT_CHROMIUM_PATH = '/usr/bin/chromium';

/** The Chromium to drive, or why there is none. */
export function findChromium(
  env: Readonly<Record<string, string | undefined>> = process.env,
): { path: string } | { missing: string } {
  const path = env.CHROME_PATH || DEFAULT_CHROMIUM_PATH;
  try {
    accessSync(path, constants.X_OK);
    return { path };
  } catch {
    return {
      missing: `no Chromium at ${path}${env.CHROME_PATH ? ' (CHROME_PATH)' : ''}: install Debian's chromium (apt-get install chromium) or set CHROME_PATH`,
    };
  }
}

export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
}
