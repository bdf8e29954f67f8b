// Runs a helper program (sh -c script, dpkg, systemctl, …) in its own process group, keeping its
// stdout and the tail of its combined output; a timeout kills the whole group.
import { spawn } from 'node:child_process';
import { ResourceCommandError } from '../errors';

/** Combined output kept for error messages. */
export const OUTPUT_TAIL_BYTES = 2048;
const MAX_STDOUT_BYTES = 1 << 20;
const KILL_GRACE_MS = 2000;

/** How a program ended. */
export interface RunResult {
  /** Exit code; 127 when the program was not found, null when killed by a signal. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** Standard output (the first MiB). */
  stdout: string;
  /** The last 2 KB of stdout and stderr together. */
  tail: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill the process group after this long; 0 or absent waits forever. */
  timeoutMs?: number;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

/** Runs `file args…` to completion. Never rejects: a missing program is exit 127. */
export function run(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    let stdout = Buffer.alloc(0);
    let tail = Buffer.alloc(0);
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const child = spawn(file, args, { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ exitCode: err.code === 'ENOENT' ? 127 : 126, signal: null, timedOut: false, stdout: '', tail: `${file}: ${err.message}` });
    });
    if (child.pid === undefined) return;
    const pid = child.pid;
    const keepTail = (data: Buffer) => {
      tail = Buffer.concat([tail, data]);
      if (tail.length > OUTPUT_TAIL_BYTES) tail = tail.subarray(tail.length - OUTPUT_TAIL_BYTES);
    };
    child.stdout!.on('data', (data: Buffer) => {
      if (stdout.length < MAX_STDOUT_BYTES) stdout = Buffer.concat([stdout, data]);
      keepTail(data);
    });
    child.stderr!.on('data', keepTail);
    if (options.timeoutMs) {
      timer = setTimeout(() => {
        timedOut = true;
        killGroup(pid, 'SIGTERM');
        setTimeout(() => killGroup(pid, 'SIGKILL'), KILL_GRACE_MS).unref();
      }, options.timeoutMs);
    }
    child.once('exit', (exitCode, signal) => {
      clearTimeout(timer);
      // Background children may keep the pipes open; give them a moment, then stop reading.
      const wait = setTimeout(() => {
        child.stdout!.destroy();
        child.stderr!.destroy();
      }, 1000);
      child.once('close', () => {
        clearTimeout(wait);
        resolve({ exitCode, signal, timedOut, stdout: stdout.toString(), tail: tail.toString() });
      });
    });
  });
}

/** One line on how a run failed: "exit 2: <output tail>", "killed by SIGKILL", "timed out after 5000 ms". */
export function describeFailure(result: RunResult, timeoutMs?: number): string {
  const output = result.tail.trim();
  const how = result.timedOut
    ? `timed out after ${timeoutMs} ms`
    : result.exitCode === null
      ? `killed by ${result.signal}`
      : `exit ${result.exitCode}`;
  return output ? `${how}: ${output}` : how;
}

/**
 * Runs a helper program and throws when it does not exit 0.
 * @throws ResourceCommandError naming the command, its exit status and output tail.
 */
export async function runChecked(file: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await run(file, args, options);
  if (result.exitCode !== 0) throw new ResourceCommandError([file, ...args].join(' '), describeFailure(result, options.timeoutMs));
  return result;
}

/** The environment scripts run with: the agent's own, plus FLEET_ROOT. */
export function scriptEnv(root: string): NodeJS.ProcessEnv {
  return { ...process.env, FLEET_ROOT: root };
}
