// PgNodeStore: the NodeStore contract (server/store/test-node-store.ts) on a real PostgreSQL, with
// two servers' pools on one database where the contract has two servers at once.
import { nodeStoreContract } from '../store/test-node-store';
import { PgNodeStore } from './pg-node-store';
import { pgDatabase } from './test-pg-database';

const database = pgDatabase();

nodeStoreContract('PgNodeStore', async (servers) => (await database(servers)).map((pool) => new PgNodeStore(pool)));
