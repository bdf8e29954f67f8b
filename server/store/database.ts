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
  return db;
}
