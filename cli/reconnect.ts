// Following a job or a rollout through a server restart: which failures mean "the server went
// away" (worth waiting for), and how long to wait.
import { RemoteError, ServerUnreachableError } from '../transport';
import { ConnectionLostError, ServerNotAnsweringError } from './errors';

/** How long to keep trying to reach a server that went away. */
export const RECONNECT_FOR_MS = 120_000;

/** True for failures that mean the server (not the job or rollout) went away: retrying may reach it again. */
export function serverWentAway(err: unknown): boolean {
  if (err instanceof ServerUnreachableError || err instanceof ServerNotAnsweringError || err instanceof ConnectionLostError) return true;
  // A server shutting down cancels its calls: grpc-js reports CANCELLED with no fleet error code
  // (a RemoteError's code is then the status name).
  return err instanceof RemoteError && (err.code === 'UNAVAILABLE' || err.code === 'CANCELLED');
}
