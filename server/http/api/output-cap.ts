// A job's event stream with each node's output cut at a number of bytes, for readers that show
// only so much (the web page): the server does not send what the reader would throw away. Other
// events (runs, the end) pass unchanged.
import type { JobEvent } from '../../../proto/gen/fleet/v1/control';

/**
 * Wraps `send` so that at most `maxBytes` of output per node pass (a chunk that crosses the limit
 * is cut there); 0 passes everything.
 */
export function capOutputPerNode(maxBytes: number, send: (event: JobEvent) => void | Promise<void>): (event: JobEvent) => void | Promise<void> {
  if (!(maxBytes > 0)) return send;
  const sent = new Map<string, number>();
  return (event) => {
    if (event.body?.$case !== 'output') return send(event);
    const output = event.body.value;
    const before = sent.get(output.nodeId) ?? 0;
    if (before >= maxBytes) return;
    const data = output.data.subarray(0, maxBytes - before);
    sent.set(output.nodeId, before + data.length);
    return send(data.length === output.data.length ? event : { body: { $case: 'output', value: { ...output, data } } });
  };
}
