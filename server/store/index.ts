// Public surface of the server's store: one async store interface per domain and the embedded
// SQLite set behind them. Only services and the wiring use it (the gRPC and HTTP adapters must
// not: see .dependency-cruiser.cjs). SQL lives only in this folder and in server/postgres, whose
// stores implement the same interfaces and map rows with the `to…Record` functions named here.
export type { AuditLog, AuditRecord } from './audit-log';
export { copySqliteFile, inspectDatabase, openDatabase, type Db } from './database';
export { runMayBecomeSql, toJobRecord, toOutputRecord, toRunRecord, type JobOutputRecord, type JobRecord, type JobRow, type JobStore, type OutputRecord, type OutputRow, type RunRecord, type RunRow } from './job-store';
export { MachineState, machineValues, toMachineRecord, type MachineRecord, type MachineStore } from './machine-store';
export { MIGRATIONS } from './migrations';
export type { NodeRecord, NodeStore } from './node-store';
export type { SessionStore } from './session-store';
export { CHECK_OUTPUT_MAX, changedChecks, checkKey, NodeRolloutState, RolloutState, toCheck, toDeployment, toHostedFile, toNodeSpec, toRevision, toRollout, toRolloutNode, toSpecRevision, type HostedFileRecord, type NodeSpecRecord, type RevisionRecord, type RolloutNodeRecord, type RolloutRecord, type StateStore } from './state-store';
export { Role, type ApiTokenRecord, type JoinTokenRecord, type TokenStore } from './token-store';
export { openSqliteStores, type Stores } from './stores';
// Row mapping shared with the PostgreSQL stores (server/postgres), so both read and write alike.
export { toAuditEntry, type AuditRow } from './audit-log';
export { indexedMacs, nodeJson, nodeValues, reenrollValues, toNodeRecord, type NodeRow, type NodeTakeover } from './node-store';
export { toSession, type SessionEnd, type SessionRow, type SessionStart } from './session-store';
export { apiValues, joinValues, toApiToken, toJoinToken, type ApiRow, type JoinRow } from './token-store';
