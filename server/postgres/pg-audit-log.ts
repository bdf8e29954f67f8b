// The append-only audit log on PostgreSQL, shared by several fleet-servers. Entries are numbered by
// an identity column, so "newest first" is the order servers appended them in; a trigger of the
// migration refuses UPDATE, DELETE and TRUNCATE on the table.
import type { AuditEntry } from '../../proto/gen/fleet/v1/control';
import { toAuditEntry, type AuditLog, type AuditRecord, type AuditRow } from '../store';
import type { PgPool } from './pg-database';

/** AuditLog on PostgreSQL: several fleet-servers may append to it. */
export class PgAuditLog implements AuditLog {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  /** Appends one entry. */
  async record(r: AuditRecord, at = Date.now()): Promise<void> {
    await this.#pool.query('INSERT INTO audit_log (at, actor, action, target, ok, detail) VALUES ($1, $2, $3, $4, $5, $6)', [at, r.actor, r.action, r.target ?? '', r.ok, r.detail ?? '']);
  }

  /** The newest `limit` entries (newest first), of one action and at or after `sinceMs` when given. */
  async list(limit: number, action?: string, sinceMs?: number): Promise<AuditEntry[]> {
    const { rows } = await this.#pool.query<AuditRow>('SELECT * FROM audit_log WHERE ($1::text IS NULL OR action = $1) AND at >= $2 ORDER BY id DESC LIMIT $3', [action ?? null, sinceMs ?? 0, limit]);
    return rows.map(toAuditEntry);
  }
}
