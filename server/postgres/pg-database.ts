// The connection pool to PostgreSQL and its schema migrations. Replicas that start together
// migrate once: each takes a session-level advisory lock before reading the schema version, so
// the second waits for the first and then finds nothing to do.
import pg from 'pg';
import { StartupError } from '../errors';
import { PG_MIGRATIONS } from './pg-migrations';

export type PgPool = pg.Pool;

/** The advisory-lock key every fleet-server takes around migrations ("fleet" in ASCII). */
const MIGRATION_LOCK = 0x666c656574;

/**
 * BIGINT (unix-millisecond times, counters, identities) read as numbers, not strings: every value
 * fleet keeps there is below 2^53.
 */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

/** How the pool is made. */
export interface PgOptions {
  /** Connections at most (default 10). */
  max?: number;
  /** Run pending migrations (default true); `fleet-server migrate` runs them on their own. */
  migrate?: boolean;
}

/**
 * Connects to `url` (postgres://user@host:port/db) and brings the schema up to date.
 * @throws StartupError when the database cannot be reached, or is newer than this server
 */
export async function openPgPool(url: string, options: PgOptions = {}): Promise<PgPool> {
  const pool = new pg.Pool({ connectionString: url, max: options.max ?? 10, types, connectionTimeoutMillis: 10_000 });
  // An idle connection that breaks (the database restarted) is dropped from the pool; the next
  // query opens a new one. Without a listener the error would end the process.
  pool.on('error', () => {});
  try {
    await pool.query('SELECT 1');
    if (options.migrate ?? true) await migratePg(pool);
  } catch (err) {
    await pool.end().catch(() => {});
    if (err instanceof StartupError) throw err;
    throw new StartupError(`cannot use the PostgreSQL database at ${redactUrl(url)}: ${(err as Error).message}`, err);
  }
  return pool;
}

/**
 * Runs pending migrations, each in its own transaction, under the migration lock.
 * @returns the schema version before and after
 * @throws StartupError when the database's schema is newer than this server knows
 */
export async function migratePg(pool: PgPool): Promise<{ from: number; to: number }> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query('CREATE TABLE IF NOT EXISTS fleet_schema (version INTEGER NOT NULL)');
      const row = (await client.query<{ version: number }>('SELECT version FROM fleet_schema')).rows[0];
      const from = row?.version ?? 0;
      if (from > PG_MIGRATIONS.length) {
        throw new StartupError(`the database has schema version ${from}, newer than this fleet-server knows (${PG_MIGRATIONS.length}); upgrade fleet-server`);
      }
      for (let v = from; v < PG_MIGRATIONS.length; v++) {
        await client.query('BEGIN');
        try {
          await client.query(PG_MIGRATIONS[v]!);
          await client.query(v === 0 ? 'INSERT INTO fleet_schema (version) VALUES (1)' : 'UPDATE fleet_schema SET version = $1', v === 0 ? [] : [v + 1]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK');
          throw new StartupError(`PostgreSQL migration ${v + 1} failed: ${(err as Error).message}`, err);
        }
      }
      return { from, to: PG_MIGRATIONS.length };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    client.release();
  }
}

/** Runs `fn` in one transaction on one connection: committed when it returns, rolled back when it throws. */
export async function inTransaction<T>(pool: PgPool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A connection that breaks while checked out (the database restarted while a transaction waits
  // for its caller) reports on the client, not the pool: without a listener the error would end
  // the process. The next query on it fails, and the pool drops it when it is released.
  client.on('error', ignore);
  try {
    await client.query('BEGIN');
    try {
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  } finally {
    client.off('error', ignore);
    client.release();
  }
}

function ignore(): void {}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}
