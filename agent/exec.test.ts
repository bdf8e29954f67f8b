import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { OutputStream } from '../proto/gen/fleet/v1/common';
import type { ExecEvent } from '../proto/gen/fleet/v1/agent';
import { runCommand } from './exec';

type Body = NonNullable<ExecEvent['body']>;

async function run(cmd: { argv?: string[]; shell?: string; timeoutMs?: number }) {
  const events: Body[] = [];
  await runCommand({ jobId: 'j-test', argv: cmd.argv ?? [], shell: cmd.shell ?? '', timeoutMs: cmd.timeoutMs ?? 0 }, (b) => events.push(b));
  const text = (s: OutputStream) =>
    Buffer.concat(events.flatMap((e) => (e.$case === 'output' && e.value.stream === s ? [e.value.data] : []))).toString();
  const finished = events.at(-1);
  if (finished?.$case !== 'finished') throw new Error('finished must come last');
  return { events, stdout: text(OutputStream.OUTPUT_STREAM_STDOUT), stderr: text(OutputStream.OUTPUT_STREAM_STDERR), result: finished.value };
}

describe('runCommand', () => {
  it('separates stdout and stderr and reports the exit code', async () => {
    const r = await run({ shell: 'echo out; echo err >&2; exit 3' });
    expect(r.events[0]?.$case).toBe('started');
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err\n');
    expect(r.result).toMatchObject({ exitCode: 3, signal: '', timedOut: false });
  });

  it('runs argv without a shell (no word splitting or globbing)', async () => {
    const r = await run({ argv: ['printf', '%s|', 'a b', '*'] });
    expect(r.stdout).toBe('a b|*|');
    expect(r.result.exitCode).toBe(0);
  });

  it('reports a missing program as exit 127 with a clear error', async () => {
    const r = await run({ argv: ['/nonexistent/fleet-nope'] });
    expect(r.result.exitCode).toBe(127);
    expect(r.result.error).toMatch(/command not found/);
  });

  it('reports death by signal', async () => {
    const r = await run({ shell: 'kill -KILL $$' });
    expect(r.result.signal).toBe('SIGKILL');
  });

  it('kills the whole process group at the timeout, background children included', async () => {
    // Unique durations make both processes easy to find in ps.
    const tag = `${process.pid}${Date.now() % 100_000}`;
    const r = await run({ shell: `sleep 30.${tag} & exec sleep 31.${tag}`, timeoutMs: 300 });
    expect(r.result.timedOut).toBe(true);
    expect(r.result.signal).toBe('SIGTERM');
    await new Promise((ok) => setTimeout(ok, 300));
    const left = execFileSync('ps', ['-eo', 'args']).toString().split('\n').filter((l) => l.includes(`.${tag}`));
    expect(left).toEqual([]);
  });
});
