import { defineConfig } from 'vitest/config';

// `npm run test:chaos`: crash and outage tests (test/chaos), apart from `npm test`. They fork the
// compiled function host and AMQP stand-in (dist-dev/), so the script builds first.
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    globalSetup: ['test/chaos/global-setup.ts'],
    testTimeout: 6 * 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
