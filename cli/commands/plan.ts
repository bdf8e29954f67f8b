// fleet plan -f spec.yaml [-o json]: what applying the spec would change on each node. Nothing
// changes anywhere; local artifacts are uploaded so nodes can compare digests.
import { Option } from 'commander';
import type { CliEnv, CommandModule } from '../env';
import { printJson } from '../output';
import { planFailed, planLines } from '../rollout-view';
import { prepareSpec, readSpecSource, uploadThrough, type PreparedSpec } from '../spec-files';

/** Reads, validates and uploads a spec for plan/apply. */
export async function specForServer(env: CliEnv, file: string): Promise<PreparedSpec> {
  const source = await readSpecSource(file, env.io.stdin);
  // The client is made only when there is something to upload, so a bad spec is reported
  // without needing a server.
  return prepareSpec(source, (f) => uploadThrough(env.client(), env.io)(f));
}

export const plan: CommandModule = (parent, env) => {
  parent
    .command('plan')
    .description('show what applying a spec would change on each node (changes nothing)')
    .requiredOption('-f, --file <spec>', 'spec file (YAML); - reads standard input')
    .addOption(new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      `
The spec is validated here first; local files it names (binary or deb "file: ./path") are
checked against their sha256 and uploaded. Each targeted online node then compares the spec with
what it has:

  spec web: revision 2 → 3 (spec changed)

  web-1: 2 to change
      ~ file:/etc/app.conf  content differs (sha256 1f2e3d4c → 9a8b7c6d)
      + binary:hello  download hello 1.2 (sha256 3b5d…); link bin/hello → 1.2
  web-2: up to date
  web-3: offline

  3 nodes: 1 to change, 1 up to date, 1 offline

+ create or install, - remove, ~ change, ! failed.

Exit status: 0 when every reachable node could be planned, 1 when the spec is invalid or any
node failed to plan, 2 for usage errors.`,
    )
    .action(async (opts: { file: string; output: string }) => {
      const spec = await specForServer(env, opts.file);
      const result = await env.client().call('planSpec', { yaml: spec.yaml, fileName: spec.fileName, detach: false });
      if (opts.output === 'json') printJson(env.io, result);
      else env.io.stdout.write(planLines(result).join('\n') + '\n');
      if (result.nodes.some(planFailed)) env.exitCode = Math.max(env.exitCode, 1);
    });
};
