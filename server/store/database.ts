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
