// SqliteAuditLog: the AuditLog contract (test-audit-log.ts), on SQLite.
import { SqliteAuditLog } from './audit-log';
import { sqliteDatabases } from './test-databases';
import { auditLogContract } from './test-audit-log';

const databases = sqliteDatabases();

auditLogContract('SqliteAuditLog', async (servers) => databases(servers).map((db) => new SqliteAuditLog(db)));
