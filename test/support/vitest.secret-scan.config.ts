/**
 * The project's vitest configuration with the suite-wide secret scan switched on:
 * `npx vitest run -c test/support/vitest.secret-scan.config.ts [files]`. The same two lines in
 * vitest.config.ts switch it on for `npm test`.
 */
import { defineConfig, mergeConfig } from 'vitest/config';
import base from '../../vitest.config.js';

export default mergeConfig(
  base,
  defineConfig({
    test: {
      globalSetup: ['test/support/secret-scan-global.ts'],
      setupFiles: ['test/support/secret-recorder.ts'],
    },
  }),
);
