// Failed sign-ins per address in PostgreSQL, counted by every replica together: one row per
// (limit, address) holds the times of its failures in the window. Counting is one statement
// (INSERT … ON CONFLICT DO UPDATE … WHERE the window is not full), which PostgreSQL runs one at a
// time per row, so replicas together let no more than `max` failures through per window.
import { heldBack, type SignInLimitOptions, type SignInLimits } from '../sign-in-limiter';
import type { PgPool } from './pg-database';

/** Aged-out addresses swept by each counted failure, at most. */
const SWEEP_ROWS = 100;

/**
 * The SignInLimits of replicas sharing one database (table sign_in_failures). Each limit has a
 * name of its own ('api', 'web', 'join'), so the limits share the table and not their counts.
 * Times are each replica's clock (Date.now by default): replicas' clocks are assumed close.
 */
export class PgSignInLimits implements SignInLimits {
  readonly #pool: PgPool;
  readonly #name: string;
  readonly #max: number;
  readonly #windowMs: number;
  readonly #now: () => number;

  constructor(pool: PgPool, name: string, options: Partial<SignInLimitOptions> & { now?: () => number } = {}) {
    this.#pool = pool;
    this.#name = name;
    this.#max = options.max ?? 5;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  async failed(address: string): Promise<void> {
    const now = this.#now();
    const since = now - this.#windowMs;
    // Counted unless the window already holds `max` failures; the row keeps only those in the window.
    const counted = await this.#pool.query(
      `INSERT INTO sign_in_failures AS f (limiter, address, times, until) VALUES ($1, $2, ARRAY[$3::bigint], $3::bigint + $5::bigint)
       ON CONFLICT (limiter, address) DO UPDATE
         SET times = ARRAY(SELECT t FROM unnest(f.times) AS t WHERE t > $4::bigint ORDER BY t) || $3::bigint,
             until = GREATEST(f.until, $3::bigint + $5::bigint)
         WHERE (SELECT count(*) FROM unnest(f.times) AS t WHERE t > $4::bigint) < $6::bigint
       RETURNING 1`,
      [this.#name, address, now, since, this.#windowMs, this.#max],
    );
    if (counted.rowCount) {
      // Addresses whose failures all aged out go, a few at a time, whichever replica counts.
      await this.#pool.query(
        'DELETE FROM sign_in_failures WHERE (limiter, address) IN (SELECT limiter, address FROM sign_in_failures WHERE until <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)',
        [now, SWEEP_ROWS],
      );
      return;
    }
    // Held back until the oldest failure in the window ages out.
    const { rows } = await this.#pool.query<{ oldest: number | null }>(
      'SELECT min(t) AS oldest FROM sign_in_failures AS f, unnest(f.times) AS t WHERE f.limiter = $1 AND f.address = $2 AND t > $3',
      [this.#name, address, since],
    );
    throw heldBack(rows[0]?.oldest ?? since, this.#windowMs, now);
  }
}
