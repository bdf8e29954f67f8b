import { describe, expect, it } from 'vitest';
import { LocalBus } from './local-bus';
import { LocalLeases } from './leases';

describe('LocalBus', () => {
  it('delivers in publish order to the subscribers of that topic only, until they unsubscribe', () => {
    const bus = new LocalBus();
    const a: number[] = [];
    const b: number[] = [];
    const stopA = bus.subscribe<number>('job.a', (n) => a.push(n));
    bus.subscribe<number>('job.b', (n) => b.push(n));
    bus.publish('job.a', 1);
    bus.publish('job.a', 2);
    bus.publish('job.b', 3);
    stopA();
    bus.publish('job.a', 4);
    expect(a).toEqual([1, 2]);
    expect(b).toEqual([3]);
    expect(bus.topicCount).toBe(1);
  });

  it('keeps delivering to the others when a handler throws or unsubscribes during delivery', () => {
    const bus = new LocalBus();
    const got: string[] = [];
    const stop = bus.subscribe('t', () => {
      stop();
      throw new Error('handler bug');
    });
    bus.subscribe<string>('t', (e) => got.push(e));
    bus.publish('t', 'x');
    bus.publish('t', 'y');
    expect(got).toEqual(['x', 'y']);
  });
});

describe('LocalLeases', () => {
  it('lets the one embedded server drive everything, and forgets what it released', async () => {
    const leases = new LocalLeases();
    expect(await leases.claim('j-1')).toBe(true);
    expect(await leases.claim('r-1')).toBe(true);
    await leases.release('j-1');
    expect(leases.held()).toEqual(['r-1']);
  });
});
