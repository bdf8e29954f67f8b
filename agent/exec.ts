// Runs one command: argv directly or a script with `sh -c`, in its own process group, streaming
// output chunks as they come. The timeout kills the whole group (TERM, then KILL).
import { spawn } from 'node:child_process';
import type { ExecCommand, ExecEvent } from '../proto/gen/fleet/v1/agent';
import { OutputStream } from '../proto/gen/fleet/v1/common';

type Body = NonNullable<ExecEvent['body']>;

/** Runs one exec command, emitting started, output chunks and finished (last, exactly once). */
export type CommandRunner = (command: ExecCommand, emit: (body: Body) => void) => Promise<void>;

/** Output beyond this per run is dropped (with a note), so one noisy command cannot fill the disk. */
export const MAX_OUTPUT_BYTES = 16 << 20;
const KILL_GRACE_MS = 2000;

function signalName(signal: NodeJS.Signals | null): string {
  return signal ?? '';
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

/**
 * Runs `command`, calling `emit` for started, each output chunk and finished (always last,
 * exactly once). Resolves after finished.
 */
export function runCommand(command: ExecCommand, emit: (body: Body) => void, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const [file, ...args] = command.shell ? ['/bin/sh', '-c', command.shell] : command.argv;
  return new Promise((resolve) => {
    let finished = false;
    let timedOut = false;
    let outputBytes = 0;
    let truncated = false;
    const finish = (body: Extract<Body, { $case: 'finished' }>['value']) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      emit({ $case: 'finished', value: body });
      resolve();
    };
    const child = spawn(file!, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
    let timer: NodeJS.Timeout | undefined;
    child.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' ? `${file}: command not found` : err.code === 'EACCES' ? `${file}: permission denied` : err.message;
      finish({ exitCode: err.code === 'ENOENT' ? 127 : 126, signal: '', timedOut: false, error: why });
    });
    if (child.pid === undefined) return;
    const pid = child.pid;
    emit({ $case: 'started', value: { pid } });
    const onData = (stream: OutputStream) => (data: Buffer) => {
      if (outputBytes >= MAX_OUTPUT_BYTES) {
        if (!truncated) emit({ $case: 'output', value: { stream: OutputStream.OUTPUT_STREAM_STDERR, data: Buffer.from(`\n[fleet: output truncated after ${MAX_OUTPUT_BYTES} bytes]\n`) } });
        truncated = true;
        return;
      }
      outputBytes += data.length;
      emit({ $case: 'output', value: { stream, data } });
    };
    child.stdout!.on('data', onData(OutputStream.OUTPUT_STREAM_STDOUT));
    child.stderr!.on('data', onData(OutputStream.OUTPUT_STREAM_STDERR));
    if (command.timeoutMs > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        killGroup(pid, 'SIGTERM');
        setTimeout(() => killGroup(pid, 'SIGKILL'), KILL_GRACE_MS).unref();
      }, command.timeoutMs);
    }
    child.once('exit', (code, signal) => {
      // Background children may keep the pipes open; give them a moment, then stop reading.
      const wait = setTimeout(() => {
        child.stdout!.destroy();
        child.stderr!.destroy();
      }, 1000);
      child.once('close', () => {
        clearTimeout(wait);
        if (timedOut) killGroup(pid, 'SIGKILL');
        finish({
          exitCode: code ?? -1,
          signal: signalName(signal),
          timedOut,
          error: timedOut ? `timed out after ${command.timeoutMs} ms; process group killed` : '',
        });
      });
    });
  });
}
