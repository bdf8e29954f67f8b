// The `exec` resource: a script run by `sh -c` in the root, unless its guard says it already ran
// (`creates` exists, or `unless` exits 0). `unless` is evaluated in dry runs too, so it must only
// read, never change, the node.
import type { ExecResource } from '../../common/spec/schema';
import { parseDuration } from '../../common/duration';
import { ResourceCommandError } from '../errors';
import { lstatOrNull } from './disk';
import type { ReconcileOptions } from './options';
import { resolveInRoot } from './paths';
import { describeFailure, runScript } from '../../common/process-runner';
import { scriptEnv } from './run';

function shorten(command: string): string {
  const line = command.trim().split('\n')[0]!;
  return line.length > 80 || line !== command.trim() ? `${line.slice(0, 80)}…` : line;
}

/** Runs one exec step unless guarded; returns the changes made (or, in a dry run, planned). */
export async function convergeExec(r: ExecResource, options: ReconcileOptions): Promise<string[]> {
  const timeoutMs = parseDuration(r.timeout);
  const runOptions = { cwd: options.root, env: scriptEnv(options.root), timeoutMs };
  if (r.creates !== undefined && (await lstatOrNull(await resolveInRoot(options.root, r.creates)))) return [];
  if (r.unless !== undefined && (await runScript(r.unless, runOptions)).exitCode === 0) return [];
  const change = `run: ${shorten(r.command)}`;
  if (options.dryRun) return [change];
  const result = await runScript(r.command, runOptions);
  if (result.exitCode !== 0) throw new ResourceCommandError(`exec ${r.name}`, describeFailure(result, timeoutMs));
  return [change];
}
