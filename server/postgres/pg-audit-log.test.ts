// PgAuditLog: the AuditLog contract (server/store/test-audit-log.ts) on a real PostgreSQL, with
// two servers' pools on one database where the contract has two servers at once.
import { auditLogContract } from '../store/test-audit-log';
import { PgAuditLog } from './pg-audit-log';
import { usePostgres } from './test-databases';

const pg = usePostgres();

auditLogContract('PgAuditLog', async (servers) => (await pg.replicas(servers ?? 1)).map((pool) => new PgAuditLog(pool)));
