// One real PostgreSQL per test file for the stores' tests: a database migrated once, emptied for
// each test (truncating is about 20 ms where a new database and its migration take half a
// second), more pools on it to play other servers, and databases of their own for tests that
// change the schema. Every pool is closed and the cluster removed after the file.
import { afterAll, beforeAll } from 'vitest';
import { openPgPool, type PgPool } from './pg-database';
import { TestPostgres } from './test-postgres';

/** What `usePostgres` gives a test file. */
export interface PostgresForTests {
  /** The file's database with `tables` emptied (identities restart at 1): a fresh store's pool. */
  empty(): Promise<PgPool>;
  /** Another pool on the file's database (another server), or on `url`. */
  pool(url?: string): Promise<PgPool>;
  /** A new database of its own, migrated: its URL. */
  database(): Promise<string>;
}

/**
 * Starts a cluster before the file's tests and stops it after them.
 * @param tables the tables the stores under test write (all emptied by `empty()`)
 */
export function usePostgres(tables: readonly string[]): PostgresForTests {
  let server: TestPostgres;
  let url: string;
  let main: PgPool;
  const pools: PgPool[] = [];
  const pool = async (at = url) => {
    const p = await openPgPool(at);
    pools.push(p);
    return p;
  };
  beforeAll(async () => {
    server = await TestPostgres.start();
    url = await server.database();
    main = await pool();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(pools.splice(0).map((p) => p.end()));
    server?.stop();
  });
  return {
    async empty() {
      await main.query(`TRUNCATE ${tables.join(', ')} RESTART IDENTITY`);
      return main;
    },
    pool,
    async database() {
      const at = await server.database();
      await pool(at);
      return at;
    },
  };
}
