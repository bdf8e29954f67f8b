// fleet rollouts rollback ID [--detach] [-o json]: returns the nodes a rollout touched to the
// revision they had before it, as a new rollout, and follows it like `fleet apply`.
import type { Command } from 'commander';
import type { CliEnv } from '../../env';
import { printJson } from '../../output';
import { plural } from '../../rollout-view';
import { followRollout, rolloutExitCode } from './follow';
import { outputOption } from '../../options';

export const rollbackRollout = (rollouts: Command, env: CliEnv) => {
  rollouts
    .command('rollback')
    .description('return the nodes a rollout touched to the revision before it (a new rollout)')
    .argument('<id>', 'the rollout to undo')
    .option('--detach', 'print the new rollout\'s id and return at once')
    .addOption(outputOption(['text', 'json'], 'text', 'text is streamed as it comes, json printed at the end'))
    .addHelpText(
      'after',
      `
Binaries go back by relinking the old version, which stays on the nodes. A rollout of a spec's
first revision rolls back to no revision: the spec is removed from the nodes with what fleet put
there — files still as fleet wrote them (hand-edited ones are kept), binary links, services, and
packages fleet itself installed.

A node that cannot be returned fails the rollback (it tolerates no failed node); only a rollback
that succeeded marks the original rollout rolled-back.

Exit status: 0 when the rollback succeeded (or was started, with --detach), 1 otherwise.`,
    )
    .action(async (id: string, opts: { detach?: boolean; output: string }) => {
      const json = opts.output === 'json';
      const r = await env.client().call('rollbackRollout', { id });
      const to = r.revision ? `revision ${r.revision}` : 'no revision (removing what it set up)';
      const started = `rollout ${r.id} rolls back ${id}: ${plural(r.nodes.length, 'node')} to ${to} of spec ${r.spec}`;
      if (opts.detach) {
        if (json) printJson(env.io, r);
        else {
          env.io.stderr.write(`${started}\n`);
          env.io.stdout.write(`${r.id}\n`);
        }
        return;
      }
      if (!json) env.io.stdout.write(`${started}\n`);
      else if (env.io.stderr.isTTY) env.io.stderr.write(`${started}\n`);
      const final = await followRollout(env, r.id, { json });
      if (json) printJson(env.io, final);
      env.exitCode = Math.max(env.exitCode, rolloutExitCode(final));
    });
};
