// Web sessions in PostgreSQL, shared by every replica: a browser signed in on one replica is signed
// in on all of them, and a sign-out or a revoked token ends its sessions everywhere at once. Rows
// are keyed by the SHA-256 of the cookie (the cookie itself is never stored).
import type { WebSession, WebSessionStore } from '../http';
import type { PgPool } from './pg-database';

/** Expired rows swept by each new session, at most (the periodic `expire` takes the rest). */
const SWEEP_ROWS = 100;

interface SessionRow {
  principal: string;
  csrf: string;
  created_at: number;
  expires_at: number;
}

/** The WebSessionStore of replicas sharing one database (table web_sessions). */
export class PgWebSessions implements WebSessionStore {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  async create(key: string, session: WebSession): Promise<void> {
    await this.#pool.query(
      `INSERT INTO web_sessions (key, token_id, principal, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (key) DO UPDATE SET token_id = excluded.token_id, principal = excluded.principal, csrf = excluded.csrf,
         created_at = excluded.created_at, expires_at = excluded.expires_at`,
      [key, session.principal.tokenId, JSON.stringify(session.principal), session.csrf, session.createdAt, session.expiresAt],
    );
    // Sessions nobody signs out of expire here, a few at a time, whichever replica signs someone in.
    await this.#pool.query(
      'DELETE FROM web_sessions WHERE key IN (SELECT key FROM web_sessions WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)',
      [session.createdAt, SWEEP_ROWS],
    );
  }

  async get(key: string, now: number): Promise<WebSession | undefined> {
    // An expired session is deleted as it is found, so a clock turned back never revives it.
    const { rows } = await this.#pool.query<SessionRow>(
      `WITH expired AS (DELETE FROM web_sessions WHERE key = $1 AND expires_at <= $2)
       SELECT principal, csrf, created_at, expires_at FROM web_sessions WHERE key = $1 AND expires_at > $2`,
      [key, now],
    );
    const row = rows[0];
    return row && { principal: JSON.parse(row.principal), csrf: row.csrf, createdAt: row.created_at, expiresAt: row.expires_at };
  }

  async delete(key: string): Promise<void> {
    await this.#pool.query('DELETE FROM web_sessions WHERE key = $1', [key]);
  }

  async deleteForToken(tokenId: string): Promise<void> {
    await this.#pool.query('DELETE FROM web_sessions WHERE token_id = $1', [tokenId]);
  }

  async expire(now: number): Promise<number> {
    const { rowCount } = await this.#pool.query('DELETE FROM web_sessions WHERE expires_at <= $1', [now]);
    return rowCount ?? 0;
  }
}
