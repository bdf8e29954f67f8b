// Public surface of the server's store: the SQLite database, its migrations, and one store per
// domain. Only services and the wiring use it (the gRPC and HTTP adapters must not: see
// .dependency-cruiser.cjs).
export { AuditLog } from './audit-log';
export { openDatabase, type Db } from './database';
export { JobStore, type JobRecord, type RunRecord } from './job-store';
export { MachineState, MachineStore, type MachineRecord } from './machine-store';
export { MIGRATIONS } from './migrations';
export { NodeStore, type NodeRecord } from './node-store';
export { SessionStore } from './session-store';
export { NodeRolloutState, RolloutState, StateStore, type RevisionRecord, type RolloutNodeRecord, type RolloutRecord } from './state-store';
export { Role, TokenStore, type JoinTokenRecord } from './token-store';
