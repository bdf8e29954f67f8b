// Public surface of the PostgreSQL drivers: the connection pool with its migrations, and (as they
// land) the stores and shared state that let several fleet-servers serve one fleet.
export { inTransaction, migratePg, openPgPool, redactUrl, type PgOptions, type PgPool } from './pg-database';
export { openPostgres } from './pg-backend';
export { PgBus } from './pg-bus';
export { PgLeases, type PgLeaseOptions } from './pg-leases';
export { PG_MIGRATIONS } from './pg-migrations';
export { PgAuditLog } from './pg-audit-log';
export { PgNodeStore } from './pg-node-store';
export { PgSessionStore } from './pg-session-store';
export { PgTokenStore } from './pg-token-store';
export { PgJobStore } from './pg-job-store';
export { PgMachineStore } from './pg-machine-store';
export { PgStateStore } from './pg-state-store';
export { PgBlobs } from './pg-blobs';
export { postgresInfrastructure, type SharedInfrastructure } from './pg-infrastructure';
export { PgRecordings } from './pg-recordings';
export { PgReplayCache, type JsonCodec } from './pg-replay-cache';
export { PgSignInLimits } from './pg-sign-in-limits';
export { PgWebSessions } from './pg-web-sessions';
export { MasterKey, PgKeyMaterial, readMasterKey } from './pg-key-material';
export { PgLinkDirectory } from './pg-link-directory';
export { runClusterDoctor } from './pg-doctor';
