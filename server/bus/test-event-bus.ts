// The contract every EventBus keeps (event-bus.ts), as a test suite a bus runs on itself: the
// in-process one (local-bus.test.ts) and a shared one (server/postgres) with the same cases.
import { describe, expect, it } from 'vitest';
import type { EventBus } from './event-bus';

/** Resolves once `check` holds, polling (a shared bus delivers asynchronously). */
async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Runs the EventBus contract. `make` returns two buses as two replicas would hold them (for the
 * in-process bus, the same one twice) and a function that closes them.
 */
export function eventBusContract(name: string, make: () => Promise<{ a: EventBus; b: EventBus; close: () => Promise<void> }>): void {
  describe(`EventBus contract: ${name}`, () => {
    it('delivers in publish order to the subscribers of that topic only, here and on the other replica, until they unsubscribe', async () => {
      const { a, b, close } = await make();
      try {
        const hereA: number[] = [];
        const thereA: number[] = [];
        const thereB: number[] = [];
        const stopHere = a.subscribe<number>('job.a', (n) => hereA.push(n));
        b.subscribe<number>('job.a', (n) => thereA.push(n));
        b.subscribe<number>('job.b', (n) => thereB.push(n));
        for (let i = 1; i <= 50; i++) a.publish('job.a', i);
        a.publish('job.b', 1000);
        const all = Array.from({ length: 50 }, (_, i) => i + 1);
        await eventually(() => hereA.length === 50 && thereA.length === 50 && thereB.length === 1, 'every event');
        expect(hereA).toEqual(all);
        expect(thereA).toEqual(all);
        expect(thereB).toEqual([1000]);
        stopHere();
        a.publish('job.a', 51);
        await eventually(() => thereA.length === 51, 'the event after unsubscribing');
        expect(hereA).toHaveLength(50);
      } finally {
        await close();
      }
    });

    it('carries bytes, nested objects and large events intact', async () => {
      const { a, b, close } = await make();
      try {
        const got: unknown[] = [];
        b.subscribe('job.x', (e) => got.push(e));
        const big = Buffer.alloc(200_000, 'x');
        big.write('end', big.length - 3);
        const events = [
          { body: { $case: 'output', value: { nodeId: 'n-1', data: new Uint8Array([0, 1, 2, 255]), atUnixMs: 1796637210684 } } },
          { body: { $case: 'output', value: { nodeId: 'n-2', data: new Uint8Array(big), atUnixMs: 1 } } },
          { body: { $case: 'done', value: { id: 'j-1', runs: [{ nodeName: 'ü', exitCode: -1 }], done: true } } },
          null,
        ];
        for (const e of events) a.publish('job.x', e);
        await eventually(() => got.length === events.length, 'every event');
        expect(got).toEqual(events);
      } finally {
        await close();
      }
    });

    it('keeps delivering to the others when a handler throws or unsubscribes during delivery', async () => {
      const { a, close } = await make();
      try {
        const got: string[] = [];
        const stop = a.subscribe('t', () => {
          stop();
          throw new Error('handler bug');
        });
        a.subscribe<string>('t', (e) => got.push(e));
        a.publish('t', 'x');
        a.publish('t', 'y');
        await eventually(() => got.length === 2, 'both events');
        expect(got).toEqual(['x', 'y']);
      } finally {
        await close();
      }
    });
  });
}
