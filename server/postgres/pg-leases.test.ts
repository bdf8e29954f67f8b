// Driver leases on a real PostgreSQL, with replicas as separate pools: one holder at a time, a
// fence that rises when the lease changes hands, take-over after a lapse, and a holder that learns
// it lost its lease (from the database, or by not reaching it for a whole lease time).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/logger';
import { openPgPool, type PgPool } from './pg-database';
import { PgLeases } from './pg-leases';
import { TestPostgres } from './test-postgres';

describe('PgLeases', () => {
  let server: TestPostgres;
  const open: { pools: PgPool[]; leases: PgLeases[] } = { pools: [], leases: [] };
  beforeAll(async () => {
    server = await TestPostgres.start();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(open.leases.map((l) => l.close()));
    await Promise.all(open.pools.map((p) => p.end()));
    server?.stop();
  });

  /** `n` replicas on one fresh database, each with its own pool and leases. */
  async function replicas(n: number, ttlMs = 10_000) {
    const url = await server.database();
    const made: { pool: PgPool; leases: PgLeases }[] = [];
    for (let i = 0; i < n; i++) {
      const pool = await openPgPool(url, { max: 3 });
      const leases = new PgLeases(pool, silentLogger(), { ttlMs, holder: `replica-${i}` });
      open.pools.push(pool);
      open.leases.push(leases);
      made.push({ pool, leases });
    }
    return made;
  }

  it('lets one replica hold a lease; the holder claims it again; released, another takes it with a higher fence', async () => {
    const [a, b] = await replicas(2);
    expect(await a!.leases.claim('j-1')).toBe(true);
    expect(await b!.leases.claim('j-1')).toBe(false);
    expect(await a!.leases.claim('j-1')).toBe(true);
    const first = a!.leases.fence('j-1')!;
    await a!.leases.release('j-1');
    expect(a!.leases.held()).toEqual([]);
    expect(await b!.leases.claim('j-1')).toBe(true);
    expect(b!.leases.fence('j-1')).toBe(first + 1);
  });

  it('gives a lease to exactly one of many replicas claiming it at once', async () => {
    const many = await replicas(6);
    const won = await Promise.all(many.map((r) => r.leases.claim('r-1')));
    expect(won.filter(Boolean)).toHaveLength(1);
  });

  it('lets another replica take over a lapsed lease, and the old holder hears it lost it', async () => {
    const [a, b] = await replicas(2, 600);
    const lost: string[] = [];
    a!.leases.onLost((id) => lost.push(id));
    expect(await a!.leases.claim('j-2')).toBe(true);
    expect(await a!.leases.claim('j-3')).toBe(true);
    // Renewed while a lives: b cannot take it even after several lease times.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await b!.leases.claim('j-2')).toBe(false);
    // a stalls on j-2 (its renewals do not reach the row): the lease lapses and b takes it.
    await a!.pool.query("UPDATE driver_leases SET expires_at = 0 WHERE id = 'j-2'");
    expect(await b!.leases.claim('j-2')).toBe(true);
    await expect.poll(() => lost, { timeout: 3000 }).toEqual(['j-2']);
    expect(a!.leases.held()).toEqual(['j-3']);
    expect(b!.leases.fence('j-2')).toBe(2);
  });

  it('gives up everything it holds when the database stays out of reach for a lease time', async () => {
    const [a] = await replicas(1, 900);
    const lost: string[] = [];
    a!.leases.onLost((id) => lost.push(id));
    expect(await a!.leases.claim('j-4')).toBe(true);
    server.crash();
    try {
      await expect.poll(() => lost, { timeout: 5000 }).toEqual(['j-4']);
    } finally {
      server.start();
    }
  });

  it('hands every lease over at once when a replica closes', async () => {
    const [a, b] = await replicas(2);
    await a!.leases.claim('j-5');
    await a!.leases.close();
    expect(await b!.leases.claim('j-5')).toBe(true);
  });
});
