// Runs one command: argv directly or a script with `sh -c`, in its own process group, streaming
// output chunks as they come. The timeout kills the whole group (TERM, then KILL).
import { runProcess, shellArgv } from '../common/process-runner';
import type { ExecCommand, ExecEvent } from '../proto/gen/fleet/v1/agent';
import { OutputStream } from '../proto/gen/fleet/v1/common';

type Body = NonNullable<ExecEvent['body']>;

/** Runs one exec command, emitting started, output chunks and finished (last, exactly once). */
export type CommandRunner = (command: ExecCommand, emit: (body: Body) => void) => Promise<void>;

/** Output beyond this per run is dropped (with a note), so one noisy command cannot fill the disk. */
export const MAX_OUTPUT_BYTES = 16 << 20;

/**
 * Runs `command`, calling `emit` for started, each output chunk and finished (always last,
 * exactly once). Resolves after finished.
 */
export async function runCommand(command: ExecCommand, emit: (body: Body) => void, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const [file, ...args] = command.shell ? shellArgv(command.shell) : command.argv;
  const result = await runProcess(file!, args, {
    env,
    timeoutMs: command.timeoutMs,
    captureStdoutBytes: 0,
    maxOutputBytes: MAX_OUTPUT_BYTES,
    onStart: (pid) => emit({ $case: 'started', value: { pid } }),
    onOutput: (stream, data) => emit({ $case: 'output', value: { stream: stream === 'stdout' ? OutputStream.OUTPUT_STREAM_STDOUT : OutputStream.OUTPUT_STREAM_STDERR, data } }),
    onOutputCapped: () =>
      emit({ $case: 'output', value: { stream: OutputStream.OUTPUT_STREAM_STDERR, data: Buffer.from(`\n[fleet: output truncated after ${MAX_OUTPUT_BYTES} bytes]\n`) } }),
  });
  const error = result.spawnError ?? (result.timedOut ? `timed out after ${command.timeoutMs} ms; process group killed` : '');
  emit({ $case: 'finished', value: { exitCode: result.exitCode ?? -1, signal: result.signal ?? '', timedOut: result.timedOut, error } });
}
