// fleet apply -f spec.yaml [--detach] [-o json]: stores the spec as a new revision (when it
// changed) and rolls it out batch by batch, following the rollout to its end.
import { Option } from 'commander';
import type { CommandModule } from '../env';
import { UserError } from '../errors';
import { printJson } from '../output';
import { plural } from '../rollout-view';
import { specForServer } from './plan';
import { followRollout, rolloutExitCode } from './rollouts/follow';

export const apply: CommandModule = (parent, env) => {
  parent
    .command('apply')
    .description('store a spec as a new revision and roll it out to its nodes, batch by batch')
    .requiredOption('-f, --file <spec>', 'spec file (YAML); - reads standard input')
    .option('--detach', 'print the rollout id and return at once (follow later with `fleet rollouts show ID`)')
    .addOption(new Option('-o, --output <format>', 'text (streamed) or json (at the end)').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      `
The spec is validated and its local files uploaded as for \`fleet plan\`. An unchanged spec is
rolled out again, which repairs drift. Each node is printed as it reaches its outcome:

  spec web revision 3 stored
  rollout r-k2m9x4pq7d: 3 nodes in 3 batches of 1
  web-1: applied (2 changed)
  web-2: unchanged
  web-3: failed: file:/etc/app.conf: permission denied
  rollout r-k2m9x4pq7d failed: 1 node(s) failed in batch 3 of 3 (maxErrors 0)

Batch changes go to stderr. With -o json, stdout holds only {spec, revision, specChanged,
rollout} once the rollout has ended (or at once with --detach).

Exit status: 0 when the rollout succeeded (or was started, with --detach), 1 when it failed or
rolled back or the spec is invalid, 2 for usage errors.`,
    )
    .action(async (opts: { file: string; detach?: boolean; output: string }) => {
      const json = opts.output === 'json';
      const spec = await specForServer(env, opts.file);
      const res = await env.client().call('applySpec', { yaml: spec.yaml, fileName: spec.fileName, detach: opts.detach === true });
      const rollout = res.rollout;
      if (!rollout) throw new UserError(`the server stored spec ${res.spec} revision ${res.revision} but started no rollout`, 'NO_ROLLOUT');
      const stored = res.specChanged ? `spec ${res.spec} revision ${res.revision} stored` : `spec ${res.spec} unchanged (revision ${res.revision}); rolling it out again to repair drift`;
      const started = `rollout ${rollout.id}: ${plural(rollout.nodes.length, 'node')} in ${plural(rollout.batches, 'batch', 'batches')} of ${rollout.batchSize}`;
      if (opts.detach) {
        if (json) {
          printJson(env.io, res);
        } else {
          env.io.stderr.write(`${stored}\n${started}\n`);
          env.io.stdout.write(`${rollout.id}\n`);
        }
        return;
      }
      if (json) {
        if (env.io.stderr.isTTY) env.io.stderr.write(`${stored}\n${started}\n`);
      } else {
        env.io.stdout.write(`${stored}\n${started}\n`);
      }
      const final = await followRollout(env, rollout.id, { json, hasChecks: spec.spec.checks.length > 0 });
      if (json) printJson(env.io, { ...res, rollout: final });
      env.exitCode = Math.max(env.exitCode, rolloutExitCode(final));
    });
};
