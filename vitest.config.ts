import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Crash and outage tests run on their own: `npm run test:chaos` (vitest.chaos.config.ts).
    exclude: [...configDefaults.exclude, 'test/chaos/**'],
    // The secret scan records every log line and response body the suite produces and fails the run
    // on any secret the tests use (test/support/secret-scan.ts).
    globalSetup: ['test/support/global-setup.ts', 'test/support/secret-scan-global.ts'],
    setupFiles: ['test/support/secret-recorder.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
