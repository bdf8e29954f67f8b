// Three projects: unit tests that sit beside the code, the PostgreSQL drivers against a real
// PostgreSQL, and integration tests in test/ that start real server and agent processes (built
// executables in dist/).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{common,transport,server,agent,cli,proto,installer,scripts}/**/*.test.ts'],
          exclude: ['server/postgres/**'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          // The PostgreSQL drivers against a real PostgreSQL (server/postgres/test-postgres.ts).
          name: 'postgres',
          include: ['server/postgres/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          // Real processes share two cores: run suites one at a time so timings stay sane.
          fileParallelism: false,
        },
      },
    ],
  },
});
