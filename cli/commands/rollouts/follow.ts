// Follows a rollout to its end through WatchRollout (`fleet apply`, `fleet rollouts rollback`),
// printing each node's outcome, and reconnects when the server restarts mid-rollout (the rollout
// carries on there, so following it again picks up where it is).
import type { Rollout } from '../../../proto/gen/fleet/v1/control';
import type { CliEnv } from '../../env';
import { UserError } from '../../errors';
import { RECONNECT_FOR_MS, serverWentAway } from '../../reconnect';
import { RolloutProgress, TERMINAL_ROLLOUT_STATES, rolloutVerdict } from '../../rollout-view';

export interface FollowOptions {
  /** Text mode: node lines and the verdict on stdout. JSON mode: nothing on stdout. */
  json: boolean;
  /** Whether the revision has health checks (undefined when not known). */
  hasChecks?: boolean;
}

/** Watches a rollout until it ends; returns the final snapshot. Prints the verdict in text mode. */
export async function followRollout(env: CliEnv, id: string, options: FollowOptions): Promise<Rollout> {
  const { io } = env;
  // Node lines are the command's output; batch and state changes are progress.
  const notesWanted = !options.json || io.stderr.isTTY === true;
  const note = (line: string) => notesWanted && io.stderr.write(`${line}\n`);
  const progress = new RolloutProgress((line) => !options.json && io.stdout.write(`${line}\n`), note, { hasChecks: options.hasChecks });
  let giveUpAt = 0;
  for (;;) {
    let last: Rollout | undefined;
    try {
      last = await watchOnce(env, id, (r) => {
        giveUpAt = 0;
        progress.update(r);
      });
    } catch (err) {
      if (!serverWentAway(err)) throw err;
    }
    if (last && TERMINAL_ROLLOUT_STATES.includes(last.state)) {
      if (!options.json) io.stdout.write(`${rolloutVerdict(last)}\n`);
      return last;
    }
    if (giveUpAt === 0) {
      giveUpAt = Date.now() + RECONNECT_FOR_MS;
      note(`lost the server; reconnecting (the rollout carries on there)`);
    } else if (Date.now() > giveUpAt) {
      throw new UserError(`lost the server while following rollout ${id}; it carries on there: see \`fleet rollouts show ${id}\``, 'ROLLOUT_FOLLOW_LOST');
    }
    await new Promise((r) => setTimeout(r, 1000));
    env.resetClient();
  }
}

/** One WatchRollout call: resolves with the last snapshot when the server ends the stream. */
async function watchOnce(env: CliEnv, id: string, onSnapshot: (r: Rollout) => void): Promise<Rollout | undefined> {
  const client = env.client();
  const stream = await client.watchRollout(id);
  return await new Promise((resolve, reject) => {
    let last: Rollout | undefined;
    stream.on('data', (r: Rollout) => {
      last = r;
      onSnapshot(r);
    });
    stream.on('error', (err) => reject(client.toError(err)));
    stream.on('end', () => resolve(last));
  });
}

/** The exit code for a finished rollout: 0 only when it succeeded. */
export function rolloutExitCode(r: Rollout): number {
  return r.state === 'succeeded' ? 0 : 1;
}
