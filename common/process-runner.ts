// The one way fleet runs a program to completion: argv or `sh -c`, in its own process group, with
// an environment and a directory, output streamed as it comes and/or kept within bounds, a
// timeout (or abort) that kills the whole group — grandchildren too — and how it ended.
import { spawn } from 'node:child_process';

/** Which pipe a chunk of output came from. */
export type OutputStreamName = 'stdout' | 'stderr';

/** Grace between SIGTERM and SIGKILL when a run is stopped. */
export const KILL_GRACE_MS = 2000;
/** Combined output kept for error messages (`RunResult.tail`). */
export const OUTPUT_TAIL_BYTES = 2048;
/** Standard output kept in `RunResult.stdout` unless told otherwise. */
export const STDOUT_CAPTURE_BYTES = 1 << 20;
/** After the program exits, how long pipes still held open by its background children are read. */
const PIPE_DRAIN_MS = 1000;

export interface RunOptions {
  cwd?: string;
  /** The whole environment (default: fleet's own). */
  env?: NodeJS.ProcessEnv;
  /** Stop the process group after this long; 0 or absent waits for ever. */
  timeoutMs?: number;
  /** Aborting stops the process group as a timeout does. */
  signal?: AbortSignal;
  /** Called once the program is running. */
  onStart?(pid: number): void;
  /** Called with each chunk of output, as it comes, until `maxOutputBytes` have been passed on. */
  onOutput?(stream: OutputStreamName, data: Buffer): void;
  /** Output passed to `onOutput` at most (both streams together); later chunks are dropped. */
  maxOutputBytes?: number;
  /** Called once, when the first chunk is dropped for `maxOutputBytes`. */
  onOutputCapped?(): void;
  /** How much standard output to keep in the result; default STDOUT_CAPTURE_BYTES. */
  captureStdoutBytes?: number;
}

/** How a run ended. */
export interface RunResult {
  /** Exit code; null when killed by a signal; 127 when the program was not found, 126 when it could not be run. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Stopped by the timeout. */
  timedOut: boolean;
  /** Stopped because `signal` aborted. */
  aborted: boolean;
  /** Why the program could not be started ("x: command not found"), else undefined. */
  spawnError?: string;
  /** Standard output (the first `captureStdoutBytes`). */
  stdout: string;
  /** The last OUTPUT_TAIL_BYTES of stdout and stderr together. */
  tail: string;
}

/** `['/bin/sh', '-c', script]`: how a script is run. */
export function shellArgv(script: string): [string, string, string] {
  return ['/bin/sh', '-c', script];
}

/** Runs a script with `/bin/sh -c` (see runProcess). */
export function runScript(script: string, options: RunOptions = {}): Promise<RunResult> {
  const [sh, ...args] = shellArgv(script);
  return runProcess(sh, args, options);
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

function spawnErrorText(file: string, err: NodeJS.ErrnoException): string {
  if (err.code === 'ENOENT') return `${file}: command not found`;
  if (err.code === 'EACCES') return `${file}: permission denied`;
  return `${file}: ${err.message}`;
}

/**
 * Runs `file args…` to completion. Never rejects: a program that cannot start ends with exit 127
 * (not found) or 126 and `spawnError`. Resolves once the program has exited and its output is read.
 * @example const r = await runProcess('/bin/sh', ['-c', 'dpkg -l'], { timeoutMs: 5000 });
 */
export function runProcess(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const captureLimit = options.captureStdoutBytes ?? STDOUT_CAPTURE_BYTES;
  const outputLimit = options.maxOutputBytes ?? Infinity;
  return new Promise((resolve) => {
    let stdout = Buffer.alloc(0);
    let tail = Buffer.alloc(0);
    let passedOn = 0;
    let capped = false;
    let timedOut = false;
    let aborted = false;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let pid: number | undefined;
    const stop = () => {
      if (pid === undefined) return;
      const group = pid;
      signalGroup(group, 'SIGTERM');
      setTimeout(() => signalGroup(group, 'SIGKILL'), KILL_GRACE_MS).unref();
    };
    const onAbort = () => {
      aborted = true;
      stop();
    };
    const settle = (result: Omit<RunResult, 'timedOut' | 'aborted'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ ...result, timedOut, aborted });
    };
    if (options.signal?.aborted) {
      aborted = true;
      return settle({ exitCode: null, signal: null, stdout: '', tail: '' });
    }
    const child = spawn(file, args, { cwd: options.cwd, env: options.env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    child.once('error', (err: NodeJS.ErrnoException) => {
      const spawnError = spawnErrorText(file, err);
      settle({ exitCode: err.code === 'ENOENT' ? 127 : 126, signal: null, spawnError, stdout: '', tail: spawnError });
    });
    if (child.pid === undefined) return;
    pid = child.pid;
    options.onStart?.(pid);
    const onData = (stream: OutputStreamName) => (data: Buffer) => {
      if (stream === 'stdout' && stdout.length < captureLimit) stdout = Buffer.concat([stdout, data]);
      tail = Buffer.concat([tail, data]);
      if (tail.length > OUTPUT_TAIL_BYTES) tail = tail.subarray(tail.length - OUTPUT_TAIL_BYTES);
      if (!options.onOutput) return;
      if (passedOn >= outputLimit) {
        if (!capped) options.onOutputCapped?.();
        capped = true;
        return;
      }
      passedOn += data.length;
      options.onOutput(stream, data);
    };
    child.stdout!.on('data', onData('stdout'));
    child.stderr!.on('data', onData('stderr'));
    if (options.timeoutMs) {
      timer = setTimeout(() => {
        timedOut = true;
        stop();
      }, options.timeoutMs);
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.once('exit', (exitCode, signal) => {
      clearTimeout(timer);
      // Background children may keep the pipes open; give them a moment, then stop reading.
      const wait = setTimeout(() => {
        child.stdout!.destroy();
        child.stderr!.destroy();
      }, PIPE_DRAIN_MS);
      child.once('close', () => {
        clearTimeout(wait);
        // A stopped run leaves nothing behind: what is left of its group goes too.
        if (timedOut || aborted) signalGroup(pid!, 'SIGKILL');
        settle({ exitCode, signal, stdout: stdout.subarray(0, Math.max(captureLimit, 0)).toString(), tail: tail.toString() });
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
