// Remote shell sessions: who opened which node, when, for how long, and how it ended.
import type { Session } from '../../proto/gen/fleet/v1/control';
import type { Db } from './database';

/** A sessions row as both stores return it. */
export interface SessionRow {
  id: string;
  node_id: string;
  node_name: string;
  user: string;
  source: string;
  started_at: number;
  ended_at: number | null;
  exit_code: number | null;
  output_bytes: number;
  end_reason: string;
}

/** A sessions row as a Session (shared by the SQLite and PostgreSQL stores). */
export function toSession(r: SessionRow): Session {
  return {
    id: r.id,
    nodeId: r.node_id,
    nodeName: r.node_name,
    user: r.user,
    source: r.source,
    startedUnixMs: r.started_at,
    endedUnixMs: r.ended_at ?? 0,
    exitCode: r.exit_code ?? 0,
    outputBytes: r.output_bytes,
    endReason: r.end_reason,
  };
}

/** A session as it opens. */
export interface SessionStart {
  id: string;
  nodeId: string;
  nodeName: string;
  user: string;
  source: string;
  startedAt: number;
}

/** How a session ended. */
export interface SessionEnd {
  endedAt: number;
  exitCode: number;
  outputBytes: number;
  reason: string;
}

/** Where sessionStore records live; every call is async so a shared database can stand behind it. */
export interface SessionStore {
  /** Records a session as it opens (still open: `endedUnixMs` 0, exit 0, no output counted, no reason). */
  start(s: SessionStart): Promise<void>;
  /** Records how a session ended. */
  end(id: string, e: SessionEnd): Promise<void>;
  get(id: string): Promise<Session | undefined>;
  /** The newest `limit` sessions (by start, newest first), of one node when `nodeId` is given. */
  list(limit: number, nodeId?: string): Promise<Session[]>;
  /** Sessions that were open when the server stopped: they ended then. */
  closeDangling(at: number): Promise<void>;
}

/** SessionStore in SQLite (better-sqlite3): the embedded default. */
export class SqliteSessionStore implements SessionStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async start(s: SessionStart): Promise<void> {
    this.#db
      .prepare('INSERT INTO sessions (id, node_id, node_name, user, source, started_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(s.id, s.nodeId, s.nodeName, s.user, s.source, s.startedAt);
  }

  async end(id: string, e: SessionEnd): Promise<void> {
    this.#db.prepare('UPDATE sessions SET ended_at = ?, exit_code = ?, output_bytes = ?, end_reason = ? WHERE id = ?').run(e.endedAt, e.exitCode, e.outputBytes, e.reason, id);
  }

  async get(id: string): Promise<Session | undefined> {
    const row = this.#db.prepare('SELECT * FROM sessions WHERE id = ?').get(id) as SessionRow | undefined;
    return row && toSession(row);
  }

  async list(limit: number, nodeId?: string): Promise<Session[]> {
    const rows = (
      nodeId
        ? this.#db.prepare('SELECT * FROM sessions WHERE node_id = ? ORDER BY started_at DESC LIMIT ?').all(nodeId, limit)
        : this.#db.prepare('SELECT * FROM sessions ORDER BY started_at DESC LIMIT ?').all(limit)
    ) as SessionRow[];
    return rows.map(toSession);
  }

  /** Sessions that were open when the server stopped: they ended then. */
  async closeDangling(at: number): Promise<void> {
    this.#db.prepare("UPDATE sessions SET ended_at = ?, end_reason = 'server restarted' WHERE ended_at IS NULL").run(at);
  }
}
