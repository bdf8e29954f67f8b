// Which job-run states are final, shared by the server's dispatcher and the CLI's job view.
import { RunState } from '../proto/gen/fleet/v1/control';

/** States after which a run never changes again (except a late result replacing LOST). */
export const TERMINAL_RUN_STATES: ReadonlySet<RunState> = new Set([
  RunState.RUN_STATE_SUCCEEDED,
  RunState.RUN_STATE_FAILED,
  RunState.RUN_STATE_TIMED_OUT,
  RunState.RUN_STATE_OFFLINE,
  RunState.RUN_STATE_SKIPPED,
  RunState.RUN_STATE_LOST,
]);
