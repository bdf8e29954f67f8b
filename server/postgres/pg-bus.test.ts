// The bus over LISTEN/NOTIFY on a real PostgreSQL: the EventBus contract with two replicas on one
// database, and a replica that hears the others again after the database restarts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/logger';
import { eventBusContract } from '../bus/test-event-bus';
import { PgBus, decodeEvent, encodeEvent } from './pg-bus';
import { openPgPool } from './pg-database';
import { TestPostgres } from './test-postgres';

let server: TestPostgres;
beforeAll(async () => {
  server = await TestPostgres.start();
}, 60_000);
afterAll(() => server?.stop());

async function twoReplicas() {
  const url = await server.database();
  const pools = [await openPgPool(url), await openPgPool(url)];
  const [a, b] = await Promise.all(pools.map((p) => PgBus.open(p, url, silentLogger())));
  return {
    a: a!,
    b: b!,
    close: async () => {
      await Promise.all([a!.close(), b!.close()]);
      await Promise.all(pools.map((p) => p.end()));
    },
  };
}

eventBusContract('PgBus', twoReplicas);

describe('PgBus', () => {
  it('encodes bytes wherever they sit, and nothing else changes', () => {
    const event = { a: [new Uint8Array([1, 2]), { b: Buffer.from('hi') }], c: 'x', d: null, e: 1.5 };
    expect(decodeEvent(encodeEvent(event))).toEqual({ a: [new Uint8Array([1, 2]), { b: new Uint8Array(Buffer.from('hi')) }], c: 'x', d: null, e: 1.5 });
  });

  it('hears the other replicas again after the database restarts', async () => {
    const { a, b, close } = await twoReplicas();
    try {
      const got: number[] = [];
      b.subscribe<number>('t', (n) => got.push(n));
      a.publish('t', 1);
      await expect.poll(() => got, { timeout: 5000 }).toEqual([1]);
      server.crash();
      server.start();
      // Until b listens again, what a publishes does not reach it (best effort, as documented).
      await expect
        .poll(
          () => {
            a.publish('t', 2);
            return got.includes(2);
          },
          { timeout: 20_000, interval: 250 },
        )
        .toBe(true);
    } finally {
      await close();
    }
  }, 40_000);
});
