// SqliteTokenStore: the TokenStore contract (test-token-store.ts), on SQLite.
import { SqliteTokenStore } from './token-store';
import { sqliteDatabases } from './test-databases';
import { tokenStoreContract } from './test-token-store';

const databases = sqliteDatabases();

tokenStoreContract('SqliteTokenStore', async (servers) => databases(servers).map((db) => new SqliteTokenStore(db)));
