// PgSessionStore: the SessionStore contract (server/store/test-session-store.ts) on a real PostgreSQL, with
// two servers' pools on one database where the contract has two servers at once.
import { sessionStoreContract } from '../store/test-session-store';
import { PgSessionStore } from './pg-session-store';
import { usePostgres } from './test-databases';

const pg = usePostgres();

sessionStoreContract('PgSessionStore', async (servers) => (await pg.replicas(servers ?? 1)).map((pool) => new PgSessionStore(pool)));
