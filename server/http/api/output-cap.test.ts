import { describe, expect, it } from 'vitest';
import type { JobEvent } from '../../../proto/gen/fleet/v1/control';
import { OutputStream } from '../../../proto/gen/fleet/v1/common';
import { capOutputPerNode } from './output-cap';

const output = (nodeId: string, text: string): JobEvent => ({ body: { $case: 'output', value: { nodeId, nodeName: nodeId, stream: OutputStream.OUTPUT_STREAM_STDOUT, data: Buffer.from(text), atUnixMs: 0 } } });
const text = (e: JobEvent) => (e.body?.$case === 'output' ? `${e.body.value.nodeId}:${Buffer.from(e.body.value.data).toString()}` : e.body!.$case);

describe('capOutputPerNode', () => {
  it('passes at most the limit of each node, cutting the chunk that crosses it, and every other event', () => {
    const got: string[] = [];
    const send = capOutputPerNode(5, (e) => void got.push(text(e)));
    for (const e of [output('a', 'abc'), output('b', 'xy'), output('a', 'defg'), output('a', 'h'), output('b', 'z'), { body: { $case: 'done', value: undefined } } as unknown as JobEvent]) send(e);
    expect(got).toEqual(['a:abc', 'b:xy', 'a:de', 'b:z', 'done']);
  });

  it('passes everything with no limit', () => {
    const got: string[] = [];
    const send = capOutputPerNode(0, (e) => void got.push(text(e)));
    send(output('a', 'x'.repeat(100)));
    expect(got[0]).toHaveLength(102);
  });
});
