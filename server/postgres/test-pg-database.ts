// One PostgreSQL database per test file for the store contract suites: a test cluster, a migrated
// database and two pools on it (two fleet-servers sharing it), opened once; `open(n)` empties
// every table and hands out `n` of the pools. Emptying costs a few milliseconds where a fresh
// database (or schema) and its migrations cost half a second, which keeps a suite of many small
// cases fast. The audit log's append-only trigger is set aside for the emptying only.
import { afterAll, beforeAll } from 'vitest';
import { openPgPool, type PgPool } from './pg-database';
import { TestPostgres } from './test-postgres';

/** How many servers a test may have share the database. */
const SERVERS = 2;

/** Registers the cluster's start and clean-up (call at the top level of a test file) and returns the opener. */
export function pgDatabase(): (n?: number) => Promise<PgPool[]> {
  let server: TestPostgres | undefined;
  let pools: PgPool[] = [];
  let tables: string[] = [];
  beforeAll(async () => {
    server = await TestPostgres.start();
    const url = await server.database();
    pools = [await openPgPool(url, { max: 5 })];
    for (let i = 1; i < SERVERS; i++) pools.push(await openPgPool(url, { max: 5, migrate: false }));
    const { rows } = await pools[0]!.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'fleet_schema'");
    tables = rows.map((r) => r.name);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.end()));
    server?.stop();
  });
  return async (n = 1) => {
    if (n > SERVERS) throw new Error(`at most ${SERVERS} servers share the test database`);
    // session_replication_role = replica: no triggers fire (the audit log's refuses deletes).
    await pools[0]!.query(`BEGIN; SET LOCAL session_replication_role = replica; ${tables.map((t) => `DELETE FROM "${t}";`).join(' ')} COMMIT`);
    return pools.slice(0, n);
  };
}
