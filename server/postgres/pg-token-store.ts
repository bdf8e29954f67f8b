// TokenStore on PostgreSQL, for several fleet-servers sharing one database. Rows read and write as
// in SQLite (server/store's toJoinToken, joinValues). Counting a join token's use is one
// conditional UPDATE: a second server counting at the same moment waits for the row and checks
// the count again, so all servers together never count more uses than the token allows.
import { apiValues, joinValues, toApiToken, toJoinToken, type ApiRow, type ApiTokenRecord, type JoinRow, type JoinTokenRecord, type TokenStore } from '../store';
import { inTransaction, type PgPool } from './pg-database';

/** The advisory-lock key of the first admin's insert ("admin" in ASCII). */
const FIRST_ADMIN_LOCK = 0x61646d696e;

/** TokenStore on PostgreSQL: several fleet-servers may share it. */
export class PgTokenStore implements TokenStore {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  async #changes(sql: string, values: unknown[]): Promise<number> {
    return (await this.#pool.query(sql, values)).rowCount ?? 0;
  }

  async insertJoin(t: JoinTokenRecord): Promise<void> {
    await this.#pool.query(
      `INSERT INTO join_tokens (id, secret_hash, description, labels, created_at, created_by, expires_at, max_uses, used, revoked_at, machine_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      joinValues(t),
    );
  }

  async getJoin(id: string): Promise<JoinTokenRecord | undefined> {
    const { rows } = await this.#pool.query<JoinRow>('SELECT * FROM join_tokens WHERE id = $1', [id]);
    return rows[0] && toJoinToken(rows[0]);
  }

  /** Every join token, newest first, then by id (byte order, as SQLite sorts). */
  async listJoin(): Promise<JoinTokenRecord[]> {
    return (await this.#pool.query<JoinRow>('SELECT * FROM join_tokens ORDER BY created_at DESC, id COLLATE "C"')).rows.map(toJoinToken);
  }

  /** Counts one use if the token still has one left; false when it was used up meanwhile (by any server). */
  async consumeJoin(id: string): Promise<boolean> {
    return (await this.#changes('UPDATE join_tokens SET used = used + 1 WHERE id = $1 AND used < max_uses', [id])) === 1;
  }

  /** Gives back a use counted by consumeJoin (the enrollment it was for did not happen). */
  async releaseJoin(id: string): Promise<void> {
    await this.#pool.query('UPDATE join_tokens SET used = used - 1 WHERE id = $1 AND used > 0', [id]);
  }

  /** Revokes a machine's unused tokens (a newly minted one replaces them). */
  async revokeMachineTokens(machineId: string, at: number): Promise<void> {
    await this.#pool.query('UPDATE join_tokens SET revoked_at = $1 WHERE machine_id = $2 AND revoked_at IS NULL AND used < max_uses', [at, machineId]);
  }

  async revokeJoin(id: string, at: number): Promise<void> {
    await this.#pool.query('UPDATE join_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [at, id]);
  }

  async insertApi(t: ApiTokenRecord): Promise<void> {
    await this.#pool.query('INSERT INTO api_tokens (id, secret_hash, role, description, scope, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)', apiValues(t));
  }

  /** The first admin: under a transaction-scoped advisory lock, so two servers starting at once insert one. */
  async insertFirstApi(t: ApiTokenRecord): Promise<boolean> {
    return await inTransaction(this.#pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [FIRST_ADMIN_LOCK]);
      const { rowCount } = await client.query(
        'INSERT INTO api_tokens (id, secret_hash, role, description, scope, created_at, revoked_at) SELECT $1, $2, $3, $4, $5, $6, $7 WHERE NOT EXISTS (SELECT 1 FROM api_tokens)',
        apiValues(t),
      );
      return rowCount === 1;
    });
  }

  async getApi(id: string): Promise<ApiTokenRecord | undefined> {
    const { rows } = await this.#pool.query<ApiRow>('SELECT * FROM api_tokens WHERE id = $1', [id]);
    return rows[0] && toApiToken(rows[0]);
  }

  /** Every API token, newest first, then by id (revoked ones included). */
  async listApi(): Promise<ApiTokenRecord[]> {
    return (await this.#pool.query<ApiRow>('SELECT * FROM api_tokens ORDER BY created_at DESC, id COLLATE "C"')).rows.map(toApiToken);
  }

  /** Revokes an API token; false when there is none by that id, or it was revoked already (by any server). */
  async revokeApi(id: string, at: number): Promise<boolean> {
    return (await this.#changes('UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [at, id])) === 1;
  }
}
