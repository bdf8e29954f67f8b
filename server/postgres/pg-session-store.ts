// Remote shell sessions on PostgreSQL, shared by several fleet-servers. Rows read as in SQLite
// (server/store's toSession).
import type { Session } from '../../proto/gen/fleet/v1/control';
import { toSession, type SessionEnd, type SessionRow, type SessionStart, type SessionStore } from '../store';
import type { PgPool } from './pg-database';

/** SessionStore on PostgreSQL: several fleet-servers may share it. */
export class PgSessionStore implements SessionStore {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  async start(s: SessionStart): Promise<void> {
    await this.#pool.query('INSERT INTO sessions (id, node_id, node_name, "user", source, started_at) VALUES ($1, $2, $3, $4, $5, $6)', [s.id, s.nodeId, s.nodeName, s.user, s.source, s.startedAt]);
  }

  async end(id: string, e: SessionEnd): Promise<void> {
    await this.#pool.query('UPDATE sessions SET ended_at = $1, exit_code = $2, output_bytes = $3, end_reason = $4 WHERE id = $5', [e.endedAt, e.exitCode, e.outputBytes, e.reason, id]);
  }

  async get(id: string): Promise<Session | undefined> {
    const { rows } = await this.#pool.query<SessionRow>('SELECT * FROM sessions WHERE id = $1', [id]);
    return rows[0] && toSession(rows[0]);
  }

  /** The newest `limit` sessions (by start, newest first), of one node when `nodeId` is given. */
  async list(limit: number, nodeId?: string): Promise<Session[]> {
    const { rows } = await this.#pool.query<SessionRow>('SELECT * FROM sessions WHERE ($1::text IS NULL OR node_id = $1) ORDER BY started_at DESC LIMIT $2', [nodeId || null, limit]);
    return rows.map(toSession);
  }

  /**
   * Sessions that were open when the server stopped: they ended then. With several servers this
   * also ends the sessions open on the others (the table does not say which server holds one).
   */
  async closeDangling(at: number): Promise<void> {
    await this.#pool.query("UPDATE sessions SET ended_at = $1, end_reason = 'server restarted' WHERE ended_at IS NULL", [at]);
  }
}
