// PgNodeStore: the NodeStore contract (server/store/test-node-store.ts) on a real PostgreSQL, with
// two servers' pools on one database where the contract has two servers at once.
import { nodeStoreContract } from '../store/test-node-store';
import { PgNodeStore } from './pg-node-store';
import { usePostgres } from './test-databases';

const pg = usePostgres();

nodeStoreContract('PgNodeStore', async (servers) => (await pg.replicas(servers ?? 1)).map((pool) => new PgNodeStore(pool)));
