import { describe, expect, it } from 'vitest';
import { LocalBus } from './local-bus';
import { LocalLeases } from './leases';
import { eventBusContract } from './test-event-bus';

eventBusContract('LocalBus', async () => {
  const bus = new LocalBus();
  return { a: bus, b: bus, close: async () => {} };
});

describe('LocalBus', () => {
  it('delivers before publish returns, and forgets topics nobody follows', () => {
    const bus = new LocalBus();
    const got: number[] = [];
    const stop = bus.subscribe<number>('job.a', (n) => got.push(n));
    bus.publish('job.a', 1);
    expect(got).toEqual([1]);
    stop();
    expect(bus.topicCount).toBe(0);
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
