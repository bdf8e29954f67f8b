// The append-only audit log: who did what to which target, and whether it was allowed.
import type { AuditEntry } from '../../proto/gen/fleet/v1/control';
import type { Db } from './database';

export interface AuditRecord {
  actor: string;
  action: string;
  target?: string;
  ok: boolean;
  detail?: string;
}

/** An audit_log row as both stores return it (SQLite keeps `ok` as 0/1, PostgreSQL as a boolean). */
export interface AuditRow {
  id: number;
  at: number;
  actor: string;
  action: string;
  target: string;
  ok: number | boolean;
  detail: string;
}

/** An audit_log row as an entry (shared by the SQLite and PostgreSQL logs). */
export function toAuditEntry(r: AuditRow): AuditEntry {
  return { id: r.id, atUnixMs: r.at, actor: r.actor, action: r.action, target: r.target, ok: r.ok === true || r.ok === 1, detail: r.detail };
}

/** Where audit entries live (append-only); every call is async so a shared database can stand behind it. */
export interface AuditLog {
  /** Appends one entry, at `at` (now when not given). */
  record(r: AuditRecord, at?: number): Promise<void>;
  /**
   * The newest `limit` entries (newest first: the last appended first, whichever server appended
   * it), of one action and at or after `sinceMs` when given.
   */
  list(limit: number, action?: string, sinceMs?: number): Promise<AuditEntry[]>;
}

/** AuditLog in SQLite (better-sqlite3): the embedded default. */
export class SqliteAuditLog implements AuditLog {
  readonly #insert;
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
    this.#insert = db.prepare('INSERT INTO audit_log (at, actor, action, target, ok, detail) VALUES (?, ?, ?, ?, ?, ?)');
  }

  /** Appends one entry. */
  async record(r: AuditRecord, at = Date.now()): Promise<void> {
    this.#insert.run(at, r.actor, r.action, r.target ?? '', r.ok ? 1 : 0, r.detail ?? '');
  }

  /** The newest `limit` entries (newest first), of one action and at or after `sinceMs` when given. */
  async list(limit: number, action?: string, sinceMs?: number): Promise<AuditEntry[]> {
    const rows = this.#db
      .prepare(`SELECT * FROM audit_log WHERE (? IS NULL OR action = ?) AND at >= ? ORDER BY id DESC LIMIT ?`)
      .all(action ?? null, action ?? null, sinceMs ?? 0, limit) as AuditRow[];
    return rows.map(toAuditEntry);
  }
}
