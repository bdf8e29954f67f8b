// Answers kept for a retry, in PostgreSQL, so a retry that reaches another replica than the first
// attempt gets the same answer. Values are stored as JSON text; a value with bytes in it (an
// EnrollResponse's signing key) passes a codec such as the ts-proto message's toJSON/fromJSON.
import type { ReplayCache } from '../replay-cache';
import type { PgPool } from './pg-database';

/** Expired answers swept by each new one, at most. */
const SWEEP_ROWS = 100;

/** How values become JSON and back (default: as they are, for plain data). */
export interface JsonCodec<T> {
  toJSON(value: T): unknown;
  fromJSON(json: unknown): T;
}

const plain: JsonCodec<never> = { toJSON: (value) => value, fromJSON: (json) => json as never };

/**
 * The ReplayCache of replicas sharing one database (table replay_answers). Each cache has a name
 * of its own ('enrollment'), so caches share the table and not their keys.
 * @example new PgReplayCache<EnrollResponse>(pool, 'enrollment', { codec: EnrollResponse })
 */
export class PgReplayCache<T> implements ReplayCache<T> {
  readonly #pool: PgPool;
  readonly #name: string;
  readonly #codec: JsonCodec<T>;
  readonly #now: () => number;

  constructor(pool: PgPool, name: string, options: { codec?: JsonCodec<T>; now?: () => number } = {}) {
    this.#pool = pool;
    this.#name = name;
    this.#codec = options.codec ?? plain;
    this.#now = options.now ?? Date.now;
  }

  async recall(key: string): Promise<T | undefined> {
    // An expired answer is deleted as it is found, so a clock turned back never revives it.
    const { rows } = await this.#pool.query<{ value: string }>(
      `WITH expired AS (DELETE FROM replay_answers WHERE cache = $1 AND key = $2 AND expires_at <= $3)
       SELECT value FROM replay_answers WHERE cache = $1 AND key = $2 AND expires_at > $3`,
      [this.#name, key, this.#now()],
    );
    return rows[0] && this.#codec.fromJSON(JSON.parse(rows[0].value));
  }

  async remember(key: string, value: T, ttlMs: number): Promise<void> {
    const now = this.#now();
    await this.#pool.query(
      `INSERT INTO replay_answers (cache, key, value, expires_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (cache, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
      [this.#name, key, JSON.stringify(this.#codec.toJSON(value)), now + ttlMs],
    );
    await this.#pool.query(
      'DELETE FROM replay_answers WHERE (cache, key) IN (SELECT cache, key FROM replay_answers WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)',
      [now, SWEEP_ROWS],
    );
  }
}
