// fleet apply -f spec.yaml [-f more.yaml…] [--detach] [-o json]: stores each spec as a new revision
// (when it changed) and rolls it out batch by batch, following the rollout to its end.
import type { ApplyResponse } from '../../proto/gen/fleet/v1/control';
import type { CliEnv, CommandModule } from '../env';
import { UserError } from '../errors';
import { outputOption } from '../options';
import { printJson } from '../output';
import { plural } from '../rollout-view';
import type { PreparedSpec } from '../spec-files';
import { collectFiles, specsForServer } from './plan';
import { followRollout, rolloutExitCode } from './rollouts/follow';

/** Applies one spec: stores it, starts its rollout and (unless detached) follows it to its end. */
async function applyOne(env: CliEnv, spec: PreparedSpec, opts: { detach?: boolean; json: boolean }): Promise<{ result: ApplyResponse; exitCode: number }> {
  const res = await env.client().call('applySpec', { yaml: spec.yaml, fileName: spec.fileName, detach: opts.detach === true });
  const rollout = res.rollout;
  if (!rollout) throw new UserError(`the server stored spec ${res.spec} revision ${res.revision} but started no rollout`, 'NO_ROLLOUT');
  const stored = res.specChanged ? `spec ${res.spec} revision ${res.revision} stored` : `spec ${res.spec} unchanged (revision ${res.revision}); rolling it out again to repair drift`;
  const started = `rollout ${rollout.id}: ${plural(rollout.nodes.length, 'node')} in ${plural(rollout.batches, 'batch', 'batches')} of ${rollout.batchSize}`;
  if (opts.detach) {
    if (!opts.json) {
      env.io.stderr.write(`${stored}\n${started}\n`);
      env.io.stdout.write(`${rollout.id}\n`);
    }
    return { result: res, exitCode: 0 };
  }
  if (opts.json) {
    if (env.io.stderr.isTTY) env.io.stderr.write(`${stored}\n${started}\n`);
  } else {
    env.io.stdout.write(`${stored}\n${started}\n`);
  }
  const final = await followRollout(env, rollout.id, { json: opts.json, hasChecks: spec.spec.checks.length > 0 });
  return { result: { ...res, rollout: final }, exitCode: rolloutExitCode(final) };
}

export const apply: CommandModule = (parent, env) => {
  parent
    .command('apply')
    .description('store a spec as a new revision and roll it out to its nodes, batch by batch')
    .requiredOption('-f, --file <spec>', 'spec file (YAML); - reads standard input; repeat for several specs', collectFiles)
    .option('--detach', 'print the rollout id and return at once (follow later with `fleet rollouts show ID`)')
    .addOption(outputOption(['text', 'json'], 'text', 'text is streamed as it comes, json printed at the end'))
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

Several -f apply several specs in the order given: every file is validated before any is
stored, then each spec is rolled out once the previous one succeeded. When a rollout fails, the
specs after it are not applied (they are named on stderr). With --detach every rollout is
started at once. With -o json and several files, stdout holds a JSON array, one entry per spec
applied.

Exit status: 0 when the rollout succeeded (or was started, with --detach), 1 when it failed or
rolled back or the spec is invalid, 2 for usage errors.`,
    )
    .action(async (opts: { file: string[]; detach?: boolean; output: string }) => {
      const json = opts.output === 'json';
      const specs = await specsForServer(env, opts.file);
      const results: ApplyResponse[] = [];
      for (const [i, spec] of specs.entries()) {
        const { result, exitCode } = await applyOne(env, spec, { detach: opts.detach, json });
        results.push(result);
        env.exitCode = Math.max(env.exitCode, exitCode);
        if (exitCode !== 0 && i < specs.length - 1) {
          const rest = specs.slice(i + 1).map((s) => `${s.spec.name} (${s.fileName})`);
          env.io.stderr.write(`not applied, because the rollout of ${spec.spec.name} did not succeed: ${rest.join(', ')}\n`);
          break;
        }
      }
      if (json) printJson(env.io, results.length === 1 && specs.length === 1 ? results[0] : results);
    });
};
