// The StateStore contract on the embedded SQLite store (an in-memory database per test).
import { openDatabase } from './database';
import { SqliteStateStore } from './state-store';
import { stateStoreContract } from './test-state-store';

stateStoreContract('SqliteStateStore', async () => new SqliteStateStore(openDatabase(':memory:')));
