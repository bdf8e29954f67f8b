// What every resource handler is given: where the root is, whether to change anything, and how to
// fetch artifacts.
import type { Logger } from 'pino';

/** How `reconcile` and `prune` run. */
export interface ReconcileOptions {
  /** Root prefix: every path in a resource is taken relative to this ('/' on a real node; tests use a temp dir). */
  root: string;
  /** Plan only: report what would change (status 'pending'), change nothing at all on disk. */
  dryRun: boolean;
  /** Fetches an artifact (binary, .deb) into `dest` (a temp path the reconciler chose). The reconciler verifies sha256 itself afterwards. */
  download: (source: { url?: string; hosted?: string }, dest: string) => Promise<void>;
  /** Directory the agent owns for its bookkeeping (service pid files, logs); outside root is fine. */
  stateDir: string;
  log: Logger;
  /** Set by the periodic re-check: a resource found out of date is reported 'drifted' instead of 'changed'. */
  drift?: boolean;
}
