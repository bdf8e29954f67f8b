import { describe, expect, it } from 'vitest';
import { OutputStream } from '../proto/gen/fleet/v1/common';
import { RunState, type Job, type JobEvent, type NodeRun } from '../proto/gen/fleet/v1/control';
import { JobView, jobExitCode, summaryLines } from './job-view';

function sink(isTTY: boolean) {
  const out = { text: '', isTTY, write: (s: string) => (out.text += s) };
  const err = { text: '', isTTY, write: (s: string) => (err.text += s) };
  return { io: { stdout: out, stderr: err }, out, err };
}

const run = (name: string, state: RunState, extra: Partial<NodeRun> = {}): NodeRun => ({
  nodeId: `n-${name}`,
  nodeName: name,
  state,
  exitCode: 0,
  signal: '',
  error: '',
  startedUnixMs: 1000,
  finishedUnixMs: 1250,
  ...extra,
});
const job = (runs: NodeRun[]): Job => ({
  id: 'j-1',
  createdUnixMs: 0,
  createdBy: 'api:x',
  argv: ['true'],
  shell: '',
  selector: '',
  nodes: [],
  maxConcurrency: '',
  maxErrors: 0,
  timeoutMs: 30000,
  queueTtlMs: 0,
  done: true,
  finishedUnixMs: 2,
  runs,
});
const output = (node: string, text: string, stream: OutputStream = OutputStream.OUTPUT_STREAM_STDOUT): JobEvent => ({
  body: { $case: 'output', value: { nodeId: `n-${node}`, nodeName: node, stream, data: Buffer.from(text), atUnixMs: 0 } },
});

describe('JobView', () => {
  it('prefixes whole lines per node and stream, joining chunks split mid-line', () => {
    const s = sink(false);
    const view = new JobView(s.io, { progress: true });
    view.handle({ body: { $case: 'job', value: job([run('a', RunState.RUN_STATE_RUNNING), run('b', RunState.RUN_STATE_RUNNING)]) } });
    view.handle(output('a', 'hel'));
    view.handle(output('b', 'one\ntw'));
    view.handle(output('a', 'lo\n'));
    view.handle(output('b', 'oops\n', OutputStream.OUTPUT_STREAM_STDERR));
    const done = view.handle({ body: { $case: 'done', value: job([run('a', RunState.RUN_STATE_SUCCEEDED), run('b', RunState.RUN_STATE_SUCCEEDED)]) } });
    expect(s.out.text).toBe('b: one\na: hello\nb: tw\n');
    expect(s.err.text).toBe('b: oops\n');
    expect(done?.id).toBe('j-1');
  });

  it('keeps a character whole when the node\'s output is cut inside it', () => {
    const s = sink(false);
    const view = new JobView(s.io, { progress: false });
    view.handle({ body: { $case: 'job', value: job([run('a', RunState.RUN_STATE_RUNNING)]) } });
    const bytes = Buffer.from('日本語✓é\n');
    const chunk = (data: Buffer): JobEvent => ({ body: { $case: 'output', value: { nodeId: 'n-a', nodeName: 'a', stream: OutputStream.OUTPUT_STREAM_STDOUT, data, atUnixMs: 0 } } });
    // Cut after the first byte of 本, and inside é.
    for (const part of [bytes.subarray(0, 4), bytes.subarray(4, 13), bytes.subarray(13, 14), bytes.subarray(14)]) view.handle(chunk(part));
    view.handle(chunk(Buffer.from([0xe2, 0x9c])));
    view.handle({ body: { $case: 'done', value: job([run('a', RunState.RUN_STATE_SUCCEEDED)]) } });
    // A character the node never finished is shown as one U+FFFD at the end.
    expect(s.out.text).toBe('a: 日本語✓é\na: \uFFFD\n');
  });

  it('shows progress on stderr only when it is a terminal', () => {
    const tty = sink(true);
    const view = new JobView(tty.io, { progress: true });
    view.handle({ body: { $case: 'job', value: job([run('a', RunState.RUN_STATE_RUNNING), run('b', RunState.RUN_STATE_RUNNING)]) } });
    view.handle({ body: { $case: 'run', value: run('a', RunState.RUN_STATE_FAILED, { exitCode: 1 }) } });
    expect(tty.err.text).toContain('[1/2 done, 1 not ok]');
    const pipe = sink(false);
    const quiet = new JobView(pipe.io, { progress: true });
    quiet.handle({ body: { $case: 'job', value: job([run('a', RunState.RUN_STATE_RUNNING)]) } });
    quiet.handle({ body: { $case: 'run', value: run('a', RunState.RUN_STATE_FAILED) } });
    expect(pipe.err.text).toBe('');
  });
});

describe('summary and exit code', () => {
  it('exits 0 only when every node succeeded', () => {
    expect(jobExitCode(job([run('a', RunState.RUN_STATE_SUCCEEDED)]))).toBe(0);
    expect(jobExitCode(job([run('a', RunState.RUN_STATE_SUCCEEDED), run('b', RunState.RUN_STATE_OFFLINE)]))).toBe(1);
  });

  it('names each node with its state and what happened', () => {
    const lines = summaryLines(
      job([
        run('a', RunState.RUN_STATE_SUCCEEDED),
        run('bb', RunState.RUN_STATE_FAILED, { exitCode: 3 }),
        run('c', RunState.RUN_STATE_TIMED_OUT, { signal: 'SIGTERM', error: 'timed out after 500 ms; process group killed' }),
        run('d', RunState.RUN_STATE_OFFLINE, { error: 'node is offline', startedUnixMs: 0 }),
      ]),
    );
    expect(lines[0]).toBe('job j-1: 4 nodes, 1 succeeded, 1 failed, 1 timed-out, 1 offline');
    expect(lines.slice(1)).toEqual([
      '  a     succeeded  exit 0  (250ms)',
      '  bb    failed     exit 3  (250ms)',
      '  c     timed-out  timed out after 500 ms; process group killed  (250ms)',
      '  d     offline    node is offline',
    ]);
  });
});
