// A link the server closes (e.g. replaced by the same node's newer Connect) gets nothing written
// after its end and is ended once: writes after end() left such a Connect call without a status
// (found by bench/fuzz: concurrent Connects of one node, ~1 in 700 never answered).
import { EventEmitter } from 'node:events';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { GrpcPeer } from './server-transport';

class FakeCall extends EventEmitter {
  writes: unknown[] = [];
  ends = 0;
  write(m: unknown): boolean {
    if (this.ends) throw new Error('write after end');
    this.writes.push(m);
    return true;
  }
  end(): void {
    this.ends++;
  }
}

describe('GrpcPeer', () => {
  it('writes nothing after close() and ends the call once, also when the client then half-closes', () => {
    const call = new FakeCall();
    const peer = new GrpcPeer(call as unknown as ServerDuplexStream<string, string>, 'n-1', 'fp', '127.0.0.1');
    const closed: unknown[] = [];
    peer.onClose((e) => closed.push(e));
    expect(peer.send('welcome')).toBe(true);
    peer.close();
    expect(peer.send('heartbeat')).toBe(false);
    call.emit('end');
    expect(call.writes).toEqual(['welcome']);
    expect(call.ends).toBe(1);
    expect(closed).toEqual([undefined]);
  });

  it('still ends the call when the client half-closes first', () => {
    const call = new FakeCall();
    const peer = new GrpcPeer(call as unknown as ServerDuplexStream<string, string>, 'n-1', 'fp', '127.0.0.1');
    call.emit('end');
    expect(call.ends).toBe(1);
    expect(peer.send('late')).toBe(false);
    peer.close();
    expect(call.ends).toBe(1);
  });
});
