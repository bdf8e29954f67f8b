// How resource handlers run helper programs (dpkg, systemctl, scripts): common/process-runner,
// plus a checked variant that turns a failure into ResourceCommandError, and the scripts' env.
import { describeFailure, runProcess, type RunOptions, type RunResult } from '../../common/process-runner';
import { ResourceCommandError } from '../errors';

/**
 * Runs a helper program and throws when it does not exit 0.
 * @throws ResourceCommandError naming the command, its exit status and output tail.
 */
export async function runChecked(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await runProcess(file, args, options);
  if (result.exitCode !== 0) throw new ResourceCommandError([file, ...args].join(' '), describeFailure(result, options.timeoutMs));
  return result;
}

/** The environment scripts run with: the agent's own, plus FLEET_ROOT. */
export function scriptEnv(root: string): NodeJS.ProcessEnv {
  return { ...process.env, FLEET_ROOT: root };
}
