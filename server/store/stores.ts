// The stores as one set: what the services are given. `openSqliteStores` builds the embedded set
// on one SQLite file; a scale-out set (PostgreSQL) implements the same interfaces.
import { SqliteAuditLog, type AuditLog } from './audit-log';
import { openDatabase } from './database';
import { SqliteJobStore, type JobStore } from './job-store';
import { SqliteMachineStore, type MachineStore } from './machine-store';
import { SqliteNodeStore, type NodeStore } from './node-store';
import { SqliteSessionStore, type SessionStore } from './session-store';
import { SqliteStateStore, type StateStore } from './state-store';
import { SqliteTokenStore, type TokenStore } from './token-store';

/** One store per domain. No store reads or deletes another's rows. */
export interface Stores {
  nodes: NodeStore;
  tokens: TokenStore;
  jobs: JobStore;
  audit: AuditLog;
  sessions: SessionStore;
  machines: MachineStore;
  state: StateStore;
  /** Closes the connection(s); the stores are unusable after. */
  close(): Promise<void>;
}

/**
 * The embedded stores on one SQLite file (created and migrated if needed; `:memory:` for unit tests).
 * @throws StartupError when the file is newer than this server or cannot be migrated
 */
export function openSqliteStores(file: string): Stores {
  const db = openDatabase(file);
  return {
    nodes: new SqliteNodeStore(db),
    tokens: new SqliteTokenStore(db),
    jobs: new SqliteJobStore(db),
    audit: new SqliteAuditLog(db),
    sessions: new SqliteSessionStore(db),
    machines: new SqliteMachineStore(db),
    state: new SqliteStateStore(db),
    close: async () => {
      db.close();
    },
  };
}
