// Which replica holds each agent's link, in PostgreSQL, and which replicas are alive: each replica
// beats every few seconds (in the database's clock); a replica not heard from in `deadAfterMs` is
// gone, and the links it held with it. See server/cluster/cluster-links.ts.
import type { LinkDirectory } from '../cluster';
import type { PgPool } from './pg-database';

/** The database's clock in unix milliseconds. */
const NOW = '(extract(epoch from clock_timestamp()) * 1000)::bigint';
/** Replicas gone this long are forgotten. */
const FORGET_AFTER_MS = 3_600_000;

export class PgLinkDirectory implements LinkDirectory {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  async beat(replica: string, deadAfterMs: number): Promise<string[]> {
    const { rows } = await this.#pool.query<{ id: string }>(
      `WITH me AS (
         INSERT INTO replicas (id, started_at, seen_at) VALUES ($1, ${NOW}, ${NOW})
         ON CONFLICT (id) DO UPDATE SET seen_at = EXCLUDED.seen_at
       ),
       gone AS (DELETE FROM replicas WHERE seen_at < ${NOW} - $3::bigint AND id <> $1),
       dead AS (DELETE FROM agent_links WHERE replica IN (SELECT id FROM replicas WHERE seen_at < ${NOW} - $2::bigint AND id <> $1))
       SELECT id FROM replicas WHERE seen_at >= ${NOW} - $2::bigint AND id <> $1`,
      [replica, deadAfterMs, FORGET_AFTER_MS],
    );
    // The statement's reads do not see its own insert: this replica is added here.
    return [replica, ...rows.map((r) => r.id)];
  }

  async hold(nodeId: string, replica: string): Promise<void> {
    await this.#pool.query(
      `INSERT INTO agent_links (node_id, replica, since) VALUES ($1, $2, ${NOW})
       ON CONFLICT (node_id) DO UPDATE SET replica = EXCLUDED.replica, since = EXCLUDED.since`,
      [nodeId, replica],
    );
  }

  async release(nodeId: string, replica: string): Promise<void> {
    await this.#pool.query('DELETE FROM agent_links WHERE node_id = $1 AND replica = $2', [nodeId, replica]);
  }

  async releaseAll(replica: string): Promise<void> {
    await this.#pool.query('DELETE FROM agent_links WHERE replica = $1', [replica]);
    await this.#pool.query('DELETE FROM replicas WHERE id = $1', [replica]);
  }

  async links(deadAfterMs: number): Promise<{ nodeId: string; replica: string }[]> {
    const { rows } = await this.#pool.query<{ node_id: string; replica: string }>(
      `SELECT l.node_id, l.replica FROM agent_links l JOIN replicas r ON r.id = l.replica WHERE r.seen_at >= ${NOW} - $1::bigint`,
      [deadAfterMs],
    );
    return rows.map((r) => ({ nodeId: r.node_id, replica: r.replica }));
  }
}
