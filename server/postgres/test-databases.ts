// One real PostgreSQL per test file for the PostgreSQL drivers' tests: `const pg = usePostgres()`
// at the top of a file registers its start and clean-up. A test takes either the file's shared
// database with every table emptied (`empty()`, `replicas(n)`: a few milliseconds, where a fresh
// database and its migration take half a second) or a database of its own (`fresh()`, for tests
// that change the schema or stop things). Pools on one database stand for replicas sharing it;
// every pool is closed and the cluster removed after the file.
import { afterAll, beforeAll } from 'vitest';
import { openPgPool, type PgPool } from './pg-database';
import { TestPostgres } from './test-postgres';

/** What a test file gets from `usePostgres`. */
export interface TestDatabases {
  /** The file's shared database with every table emptied (identities restart at 1), as `n` replicas' pools. */
  replicas(n: number): Promise<PgPool[]>;
  /** The file's shared database, emptied: one replica's pool. */
  empty(): Promise<PgPool>;
  /** Another pool on the database at `url`, or on the file's shared one (another replica). */
  pool(url?: string): Promise<PgPool>;
  /** A pool on a fresh, migrated database of its own, and that database's URL. */
  fresh(): Promise<{ pool: PgPool; url: string }>;
}

/** Starts a test cluster for this file; every pool made through it is ended with the file. */
export function usePostgres(): TestDatabases {
  let server: TestPostgres | undefined;
  let shared = '';
  let tables: string[] = [];
  const replicaPools: PgPool[] = [];
  const pools: PgPool[] = [];
  const pool = async (url = shared) => {
    const p = await openPgPool(url, { max: 5 });
    pools.push(p);
    return p;
  };
  beforeAll(async () => {
    server = await TestPostgres.start();
    shared = await server.database();
    replicaPools.push(await pool());
    const { rows } = await replicaPools[0]!.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'fleet_schema'");
    tables = rows.map((r) => r.name);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(pools.splice(0).map((p) => p.end()));
    server?.stop();
  });
  const replicas = async (n: number) => {
    while (replicaPools.length < n) replicaPools.push(await pool());
    // session_replication_role = replica: no triggers fire (the audit log's refuses a TRUNCATE).
    await replicaPools[0]!.query(`BEGIN; SET LOCAL session_replication_role = replica; TRUNCATE ${tables.map((t) => `"${t}"`).join(', ')} RESTART IDENTITY; COMMIT`);
    return replicaPools.slice(0, n);
  };
  return {
    replicas,
    empty: async () => (await replicas(1))[0]!,
    pool,
    async fresh() {
      const url = await server!.database();
      return { pool: await pool(url), url };
    },
  };
}
