// PgSessionStore: the SessionStore contract (server/store/test-session-store.ts) on a real PostgreSQL, with
// two servers' pools on one database where the contract has two servers at once.
import { sessionStoreContract } from '../store/test-session-store';
import { PgSessionStore } from './pg-session-store';
import { pgDatabase } from './test-pg-database';

const database = pgDatabase();

sessionStoreContract('PgSessionStore', async (servers) => (await database(servers)).map((pool) => new PgSessionStore(pool)));
