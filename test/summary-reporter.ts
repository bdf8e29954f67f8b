// A vitest reporter that ends the run with one plain line, "N passed, N failed[, N skipped]",
// which CI reads alongside the exit code. A file whose hooks or collection failed counts as a
// failure even when its tests were only skipped, as do unhandled errors.
import type { Reporter, SerializedError, TestModule } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>): void {
    const counts = { passed: 0, failed: unhandledErrors.length, skipped: 0 };
    for (const mod of testModules) {
      let failedHere = 0;
      for (const test of mod.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') counts.passed++;
        else if (state === 'failed') failedHere++;
        else counts.skipped++;
      }
      const moduleBroken = mod.state() === 'failed' || (mod.errors?.() ?? []).length > 0;
      counts.failed += Math.max(failedHere, moduleBroken ? 1 : 0);
    }
    process.stdout.write(`\n${counts.passed} passed, ${counts.failed} failed${counts.skipped ? `, ${counts.skipped} skipped` : ''}\n`);
  }
}
