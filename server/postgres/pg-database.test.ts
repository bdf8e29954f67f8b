// Migrations on a real PostgreSQL: replicas starting together migrate once, a second start finds
// nothing to do, a database newer than the server is refused, and the audit log is append-only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StartupError } from '../errors';
import { migratePg, openPgPool, redactUrl } from './pg-database';
import { PG_MIGRATIONS } from './pg-migrations';
import { TestPostgres } from './test-postgres';

describe('PostgreSQL migrations', () => {
  let server: TestPostgres;
  beforeAll(async () => {
    server = await TestPostgres.start();
  }, 60_000);
  afterAll(() => server?.stop());

  it('migrates once when three replicas start together, and not again', async () => {
    const url = await server.database();
    const pools = await Promise.all([1, 2, 3].map(() => openPgPool(url, { migrate: false })));
    try {
      const runs = await Promise.all(pools.map((p) => migratePg(p)));
      // Exactly one replica ran the migrations; the others waited on the lock and found them done.
      expect(runs.filter((r) => r.from === 0 && r.to === PG_MIGRATIONS.length)).toHaveLength(1);
      expect(runs.filter((r) => r.from === PG_MIGRATIONS.length)).toHaveLength(2);
      expect(await migratePg(pools[0]!)).toEqual({ from: PG_MIGRATIONS.length, to: PG_MIGRATIONS.length });
      const tables = await pools[0]!.query<{ n: number }>("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'");
      expect(tables.rows[0]!.n).toBeGreaterThanOrEqual(20);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('reads BIGINT columns as numbers', async () => {
    const pool = await openPgPool(await server.database());
    try {
      const { rows } = await pool.query<{ t: number }>('SELECT 1796637210684::bigint AS t');
      expect(rows[0]!.t).toBe(1796637210684);
    } finally {
      await pool.end();
    }
  });

  it('refuses a database whose schema is newer than this server', async () => {
    const url = await server.database();
    const pool = await openPgPool(url);
    await pool.query('UPDATE fleet_schema SET version = $1', [PG_MIGRATIONS.length + 1]);
    await pool.end();
    await expect(openPgPool(url)).rejects.toThrow(new RegExp(`schema version ${PG_MIGRATIONS.length + 1}, newer than this fleet-server`));
  });

  it('says which database it cannot reach, without its password', async () => {
    const url = `postgres://fleet:s3cret@127.0.0.1:${server.port + 1}/nowhere`;
    const err = await openPgPool(url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupError);
    expect((err as Error).message).toMatch(/cannot use the PostgreSQL database at postgres:\/\/fleet:\*\*\*@127\.0\.0\.1/);
    expect((err as Error).message).not.toContain('s3cret');
    expect(redactUrl('not a url')).toBe('postgres://…');
  });

  it('keeps the audit log append-only', async () => {
    const pool = await openPgPool(await server.database());
    try {
      await pool.query("INSERT INTO audit_log (at, actor, action, ok) VALUES (1, 'a', 'x', true)");
      await expect(pool.query("UPDATE audit_log SET actor = 'b'")).rejects.toThrow(/append-only/);
      await expect(pool.query('DELETE FROM audit_log')).rejects.toThrow(/append-only/);
      await expect(pool.query('TRUNCATE audit_log')).rejects.toThrow(/append-only/);
    } finally {
      await pool.end();
    }
  });

  it('comes back after the server crashes', async () => {
    const pool = await openPgPool(await server.database());
    try {
      await pool.query("INSERT INTO settings (key, value) VALUES ('k', 'v')");
      server.crash();
      await expect(pool.query('SELECT 1')).rejects.toThrow();
      server.start();
      const { rows } = await pool.query<{ value: string }>("SELECT value FROM settings WHERE key = 'k'");
      expect(rows).toEqual([{ value: 'v' }]);
    } finally {
      await pool.end();
    }
  });
});

