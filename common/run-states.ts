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

/**
 * How far along a run is: pending 1, queued 2, dispatched 3, running 4, lost 5, any other final
 * state 6. A run only moves forward: see `runMayBecome`.
 */
export function runStateRank(state: RunState): number {
  if (state <= RunState.RUN_STATE_RUNNING) return state;
  return state === RunState.RUN_STATE_LOST ? 5 : 6;
}

/**
 * True when a run in state `from` may be set to `to`: never backwards, and never again once final,
 * except LOST, which a late result replaces. With several servers the one that drives a job and the
 * ones that hear its agents write the same runs; this keeps a stale write from undoing a newer one.
 */
export function runMayBecome(from: RunState, to: RunState): boolean {
  const rank = runStateRank(from);
  return rank < 6 && runStateRank(to) >= rank;
}
