// jobDetail: what the job page shows of each node's output.
import { describe, expect, it } from 'vitest';
import { OutputStream } from '../../proto/gen/fleet/v1/common';
import { Job, RunState } from '../../proto/gen/fleet/v1/control';
import { jobDetail } from './web-api';

const job = Job.fromPartial({
  id: 'j-1',
  argv: ['true'],
  done: true,
  runs: [{ nodeId: 'n-a', nodeName: 'a', state: RunState.RUN_STATE_SUCCEEDED, startedUnixMs: 1, finishedUnixMs: 2 }],
});
const out = (data: Buffer, stream: OutputStream = OutputStream.OUTPUT_STREAM_STDOUT) => ({ nodeId: 'n-a', nodeName: 'a', stream, data });

describe('jobDetail', () => {
  it('keeps a character whole when stderr comes between its two halves on stdout', async () => {
    const text = Buffer.from('日本語\n');
    const chunks = async function* (list: ReturnType<typeof out>[]) {
      yield* list;
    };
    const detail = await jobDetail(job, chunks([out(text.subarray(0, 4)), out(Buffer.from('warn\n'), OutputStream.OUTPUT_STREAM_STDERR), out(text.subarray(4))]));
    expect(detail.output[0]!.chunks).toEqual([
      { stream: 'out', text: '日' },
      { stream: 'err', text: 'warn\n' },
      { stream: 'out', text: '本語\n' },
    ]);
  });
});
