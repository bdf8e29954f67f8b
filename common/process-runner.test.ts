import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OUTPUT_TAIL_BYTES, describeFailure, runProcess, runScript, type OutputStreamName } from './process-runner';

/** Processes whose command line contains `tag` (unique sleep durations make them easy to find). */
function processesTagged(tag: string): string[] {
  return execFileSync('ps', ['-eo', 'args']).toString().split('\n').filter((l) => l.includes(`.${tag}`));
}

const uniqueTag = () => `${process.pid}${Math.floor(Math.random() * 100_000)}`;

describe('runProcess', () => {
  it('runs argv without a shell, in the directory and environment given', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-runner-'));
    try {
      const r = await runProcess('/bin/sh', ['-c', 'printf "%s|%s|%s" "$1" "$PWD" "$RUNNER_TEST"', 'sh', 'a b *'], { cwd: dir, env: { RUNNER_TEST: 'yes' } });
      expect(r).toMatchObject({ exitCode: 0, signal: null, timedOut: false, aborted: false, stdout: `a b *|${dir}|yes` });
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('streams both pipes as they come and reports the exit code, with the output tail', async () => {
    const chunks: [OutputStreamName, string][] = [];
    let started: number | undefined;
    const r = await runScript('echo out; echo err >&2; exit 3', { onStart: (pid) => (started = pid), onOutput: (s, d) => chunks.push([s, d.toString()]) });
    expect(started).toBeGreaterThan(0);
    expect(chunks).toContainEqual(['stdout', 'out\n']);
    expect(chunks).toContainEqual(['stderr', 'err\n']);
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toBe('out\n');
    expect(describeFailure(r)).toMatch(/^exit 3: (out\nerr|err\nout)$/);
  });

  it('reports a missing program as exit 127 and says so', async () => {
    const r = await runProcess('/nonexistent/fleet-nope', []);
    expect(r).toMatchObject({ exitCode: 127, spawnError: '/nonexistent/fleet-nope: command not found' });
  });

  it('reports death by signal', async () => {
    const r = await runScript('kill -KILL $$');
    expect(r).toMatchObject({ exitCode: null, signal: 'SIGKILL', timedOut: false });
    expect(describeFailure(r)).toBe('killed by SIGKILL');
  });

  it('kills the whole process group at the timeout, grandchildren included', async () => {
    const tag = uniqueTag();
    const r = await runScript(`sh -c 'sleep 30.${tag}' & exec sleep 31.${tag}`, { timeoutMs: 300 });
    expect(r).toMatchObject({ timedOut: true, signal: 'SIGTERM' });
    expect(describeFailure(r, 300)).toBe('timed out after 300 ms');
    await new Promise((ok) => setTimeout(ok, 300));
    expect(processesTagged(tag)).toEqual([]);
  });

  it('kills a group that ignores SIGTERM with SIGKILL after the grace', async () => {
    const r = await runScript(`trap '' TERM; sleep 30.${uniqueTag()} & wait; wait`, { timeoutMs: 200 });
    expect(r).toMatchObject({ timedOut: true, signal: 'SIGKILL' });
  });

  it('stops the group when aborted', async () => {
    const tag = uniqueTag();
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 200);
    const r = await runScript(`sleep 30.${tag} & exec sleep 31.${tag}`, { signal: abort.signal });
    expect(r).toMatchObject({ aborted: true, timedOut: false, signal: 'SIGTERM' });
    await new Promise((ok) => setTimeout(ok, 300));
    expect(processesTagged(tag)).toEqual([]);
  });

  it('leaves background children of a finished run alone and does not wait for them', async () => {
    const tag = uniqueTag();
    const r = await runScript(`sleep 30.${tag} >/dev/null 2>&1 & echo $!`);
    const child = Number(r.stdout);
    try {
      expect(r.exitCode).toBe(0);
      expect(processesTagged(tag)).toHaveLength(1);
    } finally {
      process.kill(child, 'SIGKILL');
    }
  });

  it('passes on output up to the cap, says once that it stopped, and keeps bounded copies', async () => {
    let streamed = 0;
    let capped = 0;
    // 4 MiB of output in 64 KiB writes.
    const r = await runScript('head -c 4194304 /dev/zero | tr "\\0" x', {
      maxOutputBytes: 100_000,
      captureStdoutBytes: 10_000,
      onOutput: (_s, d) => (streamed += d.length),
      onOutputCapped: () => capped++,
    });
    expect(r.exitCode).toBe(0);
    expect(streamed).toBeGreaterThanOrEqual(100_000);
    expect(streamed).toBeLessThan(4 << 20);
    expect(capped).toBe(1);
    expect(r.stdout).toHaveLength(10_000);
    expect(r.tail).toHaveLength(OUTPUT_TAIL_BYTES);
  });

  it('does not start a run whose signal has already aborted', async () => {
    const tag = uniqueTag();
    const r = await runScript(`sleep 30.${tag}`, { signal: AbortSignal.abort() });
    expect(r).toMatchObject({ aborted: true, exitCode: null });
    expect(processesTagged(tag)).toEqual([]);
  });
});
