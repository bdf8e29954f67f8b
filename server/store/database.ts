// Opens the server's SQLite database (WAL mode) and brings its schema up to date.
import Database from 'better-sqlite3';
import { MIGRATIONS } from './migrations';
import { StartupError } from '../errors';

export type Db = Database.Database;

/**
 * Opens (creating if needed) the database at `file` and runs pending migrations in one
 * transaction each. `:memory:` works for unit tests.
 */
export function openDatabase(file: string): Db {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    db.close();
    throw new StartupError(`database ${file} has schema version ${current}, newer than this fleet-server knows (${MIGRATIONS.length}); upgrade fleet-server`);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  reusePreparedStatements(db);
  return db;
}

/** Distinct SQL texts kept prepared; the stores use a few dozen. */
const MAX_CACHED_STATEMENTS = 500;

/**
 * Makes `db.prepare(sql)` return the statement prepared before for the same text. The stores
 * prepare inside their methods; on hot paths (every agent connect, Hello, inventory and health
 * report, every enrollment) compiling the SQL again each time cost more than running it.
 * Statements are only ever run with get/all/run (never iterate, pluck or raw), so sharing one is safe.
 */
function reusePreparedStatements(db: Db): void {
  const prepare = db.prepare.bind(db);
  const cache = new Map<string, Database.Statement>();
  db.prepare = ((sql: string) => {
    let statement = cache.get(sql);
    if (!statement) {
      statement = prepare(sql);
      if (cache.size < MAX_CACHED_STATEMENTS) cache.set(sql, statement);
    }
    return statement;
  }) as Db['prepare'];
}

/** `PRAGMA integrity_check` and the counts of a database file; throws the first problem as text. */
export function inspectDatabase(file: string): { schemaVersion: number; nodes: number; jobs: number; problem: string | null } {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (err) {
    return { schemaVersion: 0, nodes: 0, jobs: 0, problem: (err as Error).message };
  }
  try {
    const rows = db.pragma('integrity_check') as { integrity_check: string }[];
    const problem = rows.length === 1 && rows[0]!.integrity_check === 'ok' ? null : rows.map((r) => r.integrity_check).slice(0, 3).join('; ');
    const schemaVersion = db.pragma('user_version', { simple: true }) as number;
    if (problem) return { schemaVersion, nodes: 0, jobs: 0, problem };
    const count = (table: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { schemaVersion, nodes: count('nodes'), jobs: count('jobs'), problem: null };
  } catch (err) {
    return { schemaVersion: 0, nodes: 0, jobs: 0, problem: (err as Error).message };
  } finally {
    db.close();
  }
}

/** Copies a live database file consistently (SQLite's online backup), waiting up to 10 s for writers. */
export async function copySqliteFile(file: string, to: string): Promise<void> {
  const source = new Database(file, { readonly: true, fileMustExist: true });
  try {
    source.pragma('busy_timeout = 10000');
    await source.backup(to);
  } finally {
    source.close();
  }
}
