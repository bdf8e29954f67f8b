// Driver leases in PostgreSQL: which replica drives a job or a rollout. A lease is a row naming
// its holder, a fence number and when it lapses, all in the database's clock (replicas' clocks
// may disagree; the database's is the one they share). The holder renews what it holds every
// third of the lease's time; a lease not renewed in time may be claimed by another replica, which
// raises its fence. A holder that cannot renew — the database answers that someone else holds it,
// or does not answer for a whole lease time — reports the lease lost and must stop driving.
// Writes that must come from the current holder only can check the fence (`fence(id)`) in the
// same transaction.
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { DriverLeases } from '../bus';
import type { PgPool } from './pg-database';

/** The database's clock in unix milliseconds. */
const NOW = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

/** Leases lapsed this long are deleted (a holder that old gave up long ago: see #renew). */
const FORGET_AFTER_MS = 3_600_000;
const SWEEP_EVERY_MS = 600_000;

export interface PgLeaseOptions {
  /** How long a lease lasts without renewal (default 10 s): how soon another replica takes over. */
  ttlMs?: number;
  /** This replica's name in the leases (default host:pid:random). */
  holder?: string;
}

export class PgLeases implements DriverLeases {
  readonly #pool: PgPool;
  readonly #log: Logger;
  readonly #ttlMs: number;
  readonly holder: string;
  /** Held leases → their fence. */
  readonly #held = new Map<string, number>();
  readonly #lostListeners: ((id: string) => void)[] = [];
  #lastRenewed = Date.now();
  #lastSwept = 0;
  #timer: NodeJS.Timeout | undefined;
  #renewing = false;

  constructor(pool: PgPool, log: Logger, options: PgLeaseOptions = {}) {
    this.#pool = pool;
    this.#log = log;
    this.#ttlMs = options.ttlMs ?? 10_000;
    this.holder = options.holder ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.#timer = setInterval(() => void this.#renew(), Math.max(50, Math.floor(this.#ttlMs / 3))).unref();
  }

  /** Takes the lease when it is free, lapsed or already ours. */
  async claim(id: string): Promise<boolean> {
    const { rows } = await this.#pool.query<{ fence: number }>(
      `INSERT INTO driver_leases (id, holder, fence, expires_at) VALUES ($1, $2, 1, ${NOW} + $3)
       ON CONFLICT (id) DO UPDATE SET
         fence = CASE WHEN driver_leases.holder = EXCLUDED.holder THEN driver_leases.fence ELSE driver_leases.fence + 1 END,
         holder = EXCLUDED.holder,
         expires_at = EXCLUDED.expires_at
       WHERE driver_leases.holder = EXCLUDED.holder OR driver_leases.expires_at < ${NOW}
       RETURNING fence`,
      [id, this.holder, this.#ttlMs],
    );
    if (!rows[0]) return false;
    this.#held.set(id, rows[0].fence);
    return true;
  }

  async release(id: string): Promise<void> {
    this.#held.delete(id);
    // Lapsed, not deleted: the next holder's fence must rise above this one's.
    await this.#pool.query('UPDATE driver_leases SET expires_at = 0 WHERE id = $1 AND holder = $2', [id, this.holder]);
  }

  onLost(listener: (id: string) => void): void {
    this.#lostListeners.push(listener);
  }

  /** The fence of a lease this replica holds (it rises each time the lease changes hands). */
  fence(id: string): number | undefined {
    return this.#held.get(id);
  }

  /** The ids this replica drives now. */
  held(): string[] {
    return [...this.#held.keys()];
  }

  /** Stops renewing and gives up every lease held, so other replicas take over at once. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    const ids = this.held();
    this.#held.clear();
    if (ids.length) await this.#pool.query('UPDATE driver_leases SET expires_at = 0 WHERE holder = $1 AND id = ANY($2)', [this.holder, ids]).catch((err: unknown) => this.#log.warn({ err }, 'could not give up the leases held'));
  }

  async #renew(): Promise<void> {
    if (this.#renewing || this.#held.size === 0) {
      if (this.#held.size === 0) this.#lastRenewed = Date.now();
      return;
    }
    this.#renewing = true;
    const ids = this.held();
    try {
      const { rows } = await this.#pool.query<{ id: string }>(`UPDATE driver_leases SET expires_at = ${NOW} + $3 WHERE holder = $1 AND id = ANY($2) RETURNING id`, [this.holder, ids, this.#ttlMs]);
      this.#lastRenewed = Date.now();
      if (this.#lastRenewed - this.#lastSwept > SWEEP_EVERY_MS) {
        this.#lastSwept = this.#lastRenewed;
        await this.#pool.query(`DELETE FROM driver_leases WHERE expires_at < ${NOW} - $1`, [FORGET_AFTER_MS]);
      }
      const kept = new Set(rows.map((r) => r.id));
      this.#lose(ids.filter((id) => !kept.has(id) && this.#held.has(id)));
    } catch (err) {
      // Past a whole lease time without renewing, another replica may hold any of them.
      if (Date.now() - this.#lastRenewed >= this.#ttlMs) {
        this.#log.error({ err }, 'could not renew the leases in time; giving up driving what they cover');
        this.#lose(this.held());
      } else {
        this.#log.warn({ err }, 'could not renew the leases; trying again');
      }
    } finally {
      this.#renewing = false;
    }
  }

  #lose(ids: string[]): void {
    for (const id of ids) {
      this.#held.delete(id);
      this.#log.warn({ id }, 'lost the lease; another replica drives this now');
      for (const listener of this.#lostListeners) {
        try {
          listener(id);
        } catch (err) {
          this.#log.error({ err, id }, 'a lost-lease listener failed');
        }
      }
    }
  }
}
