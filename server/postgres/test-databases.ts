// One real PostgreSQL per test file, with fresh databases and pools that are closed when the file
// is done: `const pg = usePostgres()` at the top of a test file (it registers beforeAll/afterAll).
// Two pools on one database stand for two replicas sharing it.
import { afterAll, beforeAll } from 'vitest';
import { openPgPool, type PgPool } from './pg-database';
import { TestPostgres } from './test-postgres';

/** What a test file gets from `usePostgres`. */
export interface TestDatabases {
  /** A pool on a fresh, migrated database of its own, and that database's URL. */
  fresh(): Promise<{ pool: PgPool; url: string }>;
  /** Another pool on the database at `url` (another replica). */
  pool(url: string): Promise<PgPool>;
}

/** Starts a test cluster for this file; every pool made through it is ended with the file. */
export function usePostgres(): TestDatabases {
  let server: TestPostgres | undefined;
  const pools: PgPool[] = [];
  beforeAll(async () => {
    server = await TestPostgres.start();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(pools.splice(0).map((p) => p.end()));
    server?.stop();
  });
  const pool = async (url: string) => {
    const p = await openPgPool(url);
    pools.push(p);
    return p;
  };
  return {
    pool,
    async fresh() {
      const url = await server!.database();
      return { pool: await pool(url), url };
    },
  };
}
