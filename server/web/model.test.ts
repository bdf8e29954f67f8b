// What the page makes of the API's answers: a job's output as text, and defaults left out of
// protobuf JSON filled back in.
import { describe, expect, it } from 'vitest';
import { JobOutput, MAX_OUTPUT_PER_NODE, jobSummary, nodeSummary, runStateName, sessionView } from './model';

const b64 = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64');

describe('JobOutput', () => {
  it('keeps a character whole when stderr comes between its two halves on stdout', () => {
    const text = Buffer.from('日本語\n');
    const output = new JobOutput();
    output.addNode('n-a', 'a');
    output.add({ nodeId: 'n-a', nodeName: 'a', stream: 'OUTPUT_STREAM_STDOUT', data: b64(text.subarray(0, 4)) });
    output.add({ nodeId: 'n-a', nodeName: 'a', stream: 'OUTPUT_STREAM_STDERR', data: b64('warn\n') });
    output.add({ nodeId: 'n-a', nodeName: 'a', stream: 'OUTPUT_STREAM_STDOUT', data: b64(text.subarray(4)) });
    output.end();
    expect(output.nodes()[0]!.chunks).toEqual([
      { stream: 'out', text: '日' },
      { stream: 'err', text: 'warn\n' },
      { stream: 'out', text: '本語\n' },
    ]);
  });

  it('keeps a node without output, and cuts a node off after its share', () => {
    const output = new JobOutput();
    output.addNode('n-a', 'a');
    output.addNode('n-b', 'b');
    const big = b64(new Uint8Array(MAX_OUTPUT_PER_NODE - 1).fill(0x61));
    output.add({ nodeId: 'n-b', nodeName: 'b', data: big });
    output.add({ nodeId: 'n-b', nodeName: 'b', data: b64('xyz') });
    const [a, b] = output.nodes();
    expect(a).toEqual({ nodeId: 'n-a', node: 'a', chunks: [], truncated: false });
    expect(b!.truncated).toBe(true);
    expect(b!.chunks[0]!.text.length).toBe(MAX_OUTPUT_PER_NODE);
    expect(b!.chunks[0]!.text.endsWith('ax')).toBe(true);
  });
});

describe('views of protobuf JSON', () => {
  it('fills in what the JSON leaves out', () => {
    expect(nodeSummary({ name: 'web-1' })).toMatchObject({ name: 'web-1', online: false, labels: {}, ips: [], health: { checks: 0, failing: 0 } });
    expect(nodeSummary({ checks: [{ name: 'a', passing: true }, { name: 'b' }] }).health).toEqual({ checks: 2, failing: 1 });
    expect(sessionView({ id: 's-1' })).toMatchObject({ open: true, exitCode: 0 });
    expect(sessionView({ id: 's-1', endedUnixMs: 5 }).open).toBe(false);
  });

  it('names run states and counts a job\'s runs by state', () => {
    expect(runStateName('RUN_STATE_TIMED_OUT')).toBe('timed_out');
    expect(runStateName(undefined)).toBe('unspecified');
    const job = jobSummary({ id: 'j-1', argv: ['echo', 'it works'], runs: [{ state: 'RUN_STATE_FAILED', exitCode: 4 }, { state: 'RUN_STATE_FAILED' }, {}] });
    expect(job).toMatchObject({ command: "echo 'it works'", nodes: 3, states: { failed: 2, unspecified: 1 }, done: false });
    expect(job.runs.map((r) => r.exitCode)).toEqual([4, 0, 0]);
  });
});
