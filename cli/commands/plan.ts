// fleet plan -f spec.yaml [-o json]: what applying the spec would change on each node. Nothing
// changes anywhere; local artifacts are uploaded so nodes can compare digests.
import { loadSpec } from '../../common/spec';
import type { CliEnv, CommandModule } from '../env';
import { UsageError } from '../errors';
import { outputOption } from '../options';
import { printJson } from '../output';
import { planFailed, planLines } from '../rollout-view';
import { prepareSpec, readSpecSource, uploadThrough, type PreparedSpec, type SpecSource } from '../spec-files';

/** Collects every `-f` given (commander keeps only the last of a plain option). */
export function collectFiles(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * Reads and validates every spec file before anything is uploaded or sent, so one bad file
 * changes nothing; then uploads each spec's local files. Returns the specs in the order given.
 * @throws UsageError when `-` is given twice or two files hold the same spec; SpecError for an
 *   invalid spec.
 */
export async function specsForServer(env: CliEnv, files: string[]): Promise<PreparedSpec[]> {
  if (files.filter((f) => f === '-').length > 1) throw new UsageError('-f - (standard input) can be given once');
  const sources: SpecSource[] = [];
  const fileOf = new Map<string, string>();
  for (const file of files) {
    const source = await readSpecSource(file, env.io.stdin);
    const { name } = loadSpec(source.text, source.fileName);
    const other = fileOf.get(name);
    if (other !== undefined) throw new UsageError(`spec ${name} is in both ${other} and ${source.fileName}: give each spec once`);
    fileOf.set(name, source.fileName);
    sources.push(source);
  }
  // The client is made only when there is something to upload, so a bad spec is reported
  // without needing a server.
  const prepared: PreparedSpec[] = [];
  for (const source of sources) prepared.push(await prepareSpec(source, (f) => uploadThrough(env.client(), env.io)(f)));
  return prepared;
}

export const plan: CommandModule = (parent, env) => {
  parent
    .command('plan')
    .description('show what applying a spec would change on each node (changes nothing)')
    .requiredOption('-f, --file <spec>', 'spec file (YAML); - reads standard input; repeat for several specs', collectFiles)
    .addOption(outputOption(['text', 'json'], 'text'))
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

Several -f plan several specs, one after the other; every file is validated before any is sent.
With -o json and several files, stdout holds a JSON array with one plan per file.

Exit status: 0 when every reachable node could be planned, 1 when the spec is invalid or any
node failed to plan, 2 for usage errors.`,
    )
    .action(async (opts: { file: string[]; output: string }) => {
      const specs = await specsForServer(env, opts.file);
      const results = [];
      for (const [i, spec] of specs.entries()) {
        const result = await env.client().call('planSpec', { yaml: spec.yaml, fileName: spec.fileName, detach: false });
        results.push(result);
        if (opts.output !== 'json') env.io.stdout.write(`${i > 0 ? '\n' : ''}${planLines(result).join('\n')}\n`);
        if (result.nodes.some(planFailed)) env.exitCode = Math.max(env.exitCode, 1);
      }
      if (opts.output === 'json') printJson(env.io, results.length === 1 ? results[0] : results);
    });
};
