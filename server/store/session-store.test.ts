// SqliteSessionStore: the SessionStore contract (test-session-store.ts), on SQLite.
import { SqliteSessionStore } from './session-store';
import { sqliteDatabases } from './test-databases';
import { sessionStoreContract } from './test-session-store';

const databases = sqliteDatabases();

sessionStoreContract('SqliteSessionStore', async (servers) => databases(servers).map((db) => new SqliteSessionStore(db)));
