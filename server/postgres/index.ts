// Public surface of the PostgreSQL drivers: the connection pool with its migrations, and (as they
// land) the stores and shared state that let several fleet-servers serve one fleet.
export { inTransaction, migratePg, openPgPool, redactUrl, type PgOptions, type PgPool } from './pg-database';
export { PG_MIGRATIONS } from './pg-migrations';
export { MasterKey, PgKeyMaterial, readMasterKey } from './pg-key-material';
