// PgTokenStore: the TokenStore contract (server/store/test-token-store.ts) on a real PostgreSQL, with
// two servers' pools on one database where the contract has two servers at once.
import { tokenStoreContract } from '../store/test-token-store';
import { PgTokenStore } from './pg-token-store';
import { usePostgres } from './test-databases';

const pg = usePostgres();

tokenStoreContract('PgTokenStore', async (servers) => (await pg.replicas(servers ?? 1)).map((pool) => new PgTokenStore(pool)));
