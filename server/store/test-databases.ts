// SQLite databases for the store contract suites: `open()` is one fresh in-memory database;
// `open(n)` is one fresh database file opened `n` times, as `n` servers sharing it would (each
// handle its own connection). Everything is closed and removed after the test file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { openDatabase, type Db } from './database';

/** Registers the clean-up (call at the top level of a test file) and returns the opener. */
export function sqliteDatabases(): (n?: number) => Db[] {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-store-'));
  const open: Db[] = [];
  let files = 0;
  afterAll(() => {
    for (const db of open) db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return (n = 1) => {
    const file = n === 1 ? ':memory:' : join(dir, `${++files}.db`);
    const dbs = Array.from({ length: n }, () => openDatabase(file));
    open.push(...dbs);
    return dbs;
  };
}
