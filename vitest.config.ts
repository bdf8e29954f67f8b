// Two projects: unit tests that sit beside the code, and integration tests in test/ that start
// real server and agent processes (built executables in dist/).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{common,transport,server,agent,cli,proto,installer,scripts}/**/*.test.ts'],
          testTimeout: 20_000,
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
