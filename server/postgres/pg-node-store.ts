// NodeStore on PostgreSQL, for several fleet-servers sharing one database. Rows read and write as
// in SQLite (server/store's toNodeRecord, nodeValues). What SQLite's single writer gave for free
// is explicit here: a take-over is a conditional UPDATE, whose row lock makes a second server's
// take-over of the same node wait and then find it changed; a take-over and a removal lock the
// node's row before its MAC rows, and a batch of last-seen times locks its rows in id order, so
// two servers' writes queue behind each other instead of deadlocking.
import type { Labels } from '../../common/labels';
import type { Facts, MachineIdentity } from '../../proto/gen/fleet/v1/common';
import { indexedMacs, nodeJson, nodeValues, reenrollValues, toNodeRecord, type NodeRecord, type NodeRow, type NodeStore, type NodeTakeover } from '../store';
import { inTransaction, type PgPool } from './pg-database';

type Queryable = Pick<PgPool, 'query'>;

/** NodeStore on PostgreSQL: several fleet-servers may share it. */
export class PgNodeStore implements NodeStore {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  async #nodes(sql: string, values: unknown[]): Promise<NodeRecord[]> {
    return (await this.#pool.query<NodeRow>(sql, values)).rows.map(toNodeRecord);
  }

  async #exists(sql: string, values: unknown[]): Promise<boolean> {
    return ((await this.#pool.query(sql, values)).rowCount ?? 0) > 0;
  }

  async get(id: string): Promise<NodeRecord | undefined> {
    return (await this.#nodes('SELECT * FROM nodes WHERE id = $1', [id]))[0];
  }

  /** Finds a node by name first, then by id. */
  async find(nameOrId: string): Promise<NodeRecord | undefined> {
    return (await this.#nodes('SELECT * FROM nodes WHERE name = $1 OR id = $1 ORDER BY name = $1 DESC LIMIT 1', [nameOrId]))[0];
  }

  /** True when `fingerprint` (SHA-256 hex) is the current or just-renewed certificate of a node. */
  async hasCertificate(fingerprint: string): Promise<boolean> {
    return this.#exists('SELECT 1 FROM nodes WHERE cert_fingerprint = $1 OR prev_cert_fingerprint = $1 LIMIT 1', [fingerprint]);
  }

  /** How many nodes are enrolled. */
  async count(): Promise<number> {
    return (await this.#pool.query<{ n: number }>('SELECT count(*) AS n FROM nodes')).rows[0]!.n;
  }

  /** Every node by name, in byte order as SQLite sorts (whatever the database's collation). */
  async list(): Promise<NodeRecord[]> {
    return this.#nodes('SELECT * FROM nodes ORDER BY name COLLATE "C"', []);
  }

  async nameTaken(name: string): Promise<boolean> {
    return this.#exists('SELECT 1 FROM nodes WHERE name = $1', [name]);
  }

  /** Nodes that enrolled with any of these MAC addresses (lower-case), by name. */
  async withMacs(macs: readonly string[]): Promise<NodeRecord[]> {
    if (macs.length === 0) return [];
    return this.#nodes('SELECT * FROM nodes WHERE id IN (SELECT node_id FROM node_macs WHERE mac = ANY($1::text[])) ORDER BY name COLLATE "C"', [macs]);
  }

  async #indexMacs(client: Queryable, id: string, identity: MachineIdentity): Promise<void> {
    await client.query('DELETE FROM node_macs WHERE node_id = $1', [id]);
    await client.query('INSERT INTO node_macs (mac, node_id) SELECT unnest($1::text[]), $2 ON CONFLICT DO NOTHING', [indexedMacs(identity), id]);
  }

  /** Adds a node with its MAC index; throws (nothing stored) when its id or name is taken. */
  async insert(n: NodeRecord): Promise<void> {
    await inTransaction(this.#pool, async (client) => {
      await client.query(
        `INSERT INTO nodes (id, name, labels, facts, identity, cert_fingerprint, cert_not_after, agent_version, join_token_id, enrolled_at, last_seen_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        nodeValues(n),
      );
      await this.#indexMacs(client, n.id, n.identity);
    });
  }

  /**
   * A machine enrolled again and takes this node over (server/node-identity.ts). False (nothing
   * changed) when the node is no longer as `expected`; of two servers taking it over at once, the
   * second waits for the first and then finds its certificate changed.
   */
  async reenroll(id: string, expected: Pick<NodeRecord, 'name' | 'certFingerprint'>, n: NodeTakeover): Promise<boolean> {
    return inTransaction(this.#pool, async (client) => {
      const { rowCount } = await client.query(
        `UPDATE nodes SET identity = $1, labels = $2, cert_fingerprint = $3, prev_cert_fingerprint = NULL, cert_not_after = $4, agent_version = $5, join_token_id = $6, enrolled_at = $7
         WHERE id = $8 AND name = $9 AND cert_fingerprint = $10`,
        [...reenrollValues(n), id, expected.name, expected.certFingerprint],
      );
      if (rowCount === 1) await this.#indexMacs(client, id, n.identity);
      return rowCount === 1;
    });
  }

  /**
   * Records a node's new client certificate. The one it renewed with (`presented`) stays valid
   * until the node connects with the new one, so a renewal lost on the way locks nobody out.
   */
  async setCertificate(id: string, fingerprint: string, notAfter: number, presented: string): Promise<void> {
    await this.#pool.query('UPDATE nodes SET cert_fingerprint = $1, cert_not_after = $2, prev_cert_fingerprint = $3 WHERE id = $4', [fingerprint, notAfter, presented, id]);
  }

  /** The node has used its new certificate: the one it renewed from is no longer accepted. */
  async forgetPreviousCertificate(id: string): Promise<void> {
    await this.#pool.query('UPDATE nodes SET prev_cert_fingerprint = NULL WHERE id = $1 AND prev_cert_fingerprint IS NOT NULL', [id]);
  }

  /**
   * Removes a node: its record and MAC index go; its certificates are kept in removed_nodes so a
   * connection or renewal with them is refused. Two servers removing it at once both succeed.
   */
  async remove(node: NodeRecord, by: string, at: number): Promise<void> {
    await inTransaction(this.#pool, async (client) => {
      await client.query('DELETE FROM nodes WHERE id = $1', [node.id]);
      await client.query('DELETE FROM node_macs WHERE node_id = $1', [node.id]);
      await client.query(
        `INSERT INTO removed_nodes (node_id, name, cert_fingerprint, prev_cert_fingerprint, removed_at, removed_by) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (node_id) DO UPDATE SET name = EXCLUDED.name, cert_fingerprint = EXCLUDED.cert_fingerprint, prev_cert_fingerprint = EXCLUDED.prev_cert_fingerprint, removed_at = EXCLUDED.removed_at, removed_by = EXCLUDED.removed_by`,
        [node.id, node.name, node.certFingerprint, node.prevCertFingerprint, at, by],
      );
    });
  }

  /** The removed node a certificate (SHA-256 hex) belonged to, if any. */
  async removedByCertificate(fingerprint: string): Promise<{ nodeId: string; name: string; removedAt: number } | undefined> {
    const { rows } = await this.#pool.query<{ node_id: string; name: string; removed_at: number }>(
      'SELECT node_id, name, removed_at FROM removed_nodes WHERE cert_fingerprint = $1 OR prev_cert_fingerprint = $1 LIMIT 1',
      [fingerprint],
    );
    return rows[0] && { nodeId: rows[0].node_id, name: rows[0].name, removedAt: rows[0].removed_at };
  }

  async setLabels(id: string, labels: Labels): Promise<void> {
    await this.#pool.query('UPDATE nodes SET labels = $1 WHERE id = $2', [nodeJson.labels(labels), id]);
  }

  async setFacts(id: string, facts: Facts): Promise<void> {
    await this.#pool.query('UPDATE nodes SET facts = $1 WHERE id = $2', [nodeJson.facts(facts), id]);
  }

  async setAgentVersion(id: string, version: string, seenAt: number): Promise<void> {
    await this.#pool.query('UPDATE nodes SET agent_version = $1, last_seen_at = $2 WHERE id = $3', [version, seenAt, id]);
  }

  /**
   * Records last-seen times for many nodes in one transaction (heartbeats are a hot path). The
   * rows are locked in id order first: another server's batch over some of the same nodes (one
   * that moved between servers) then waits instead of deadlocking.
   */
  async touchMany(seen: Map<string, number>): Promise<void> {
    if (seen.size === 0) return;
    const ids = [...seen.keys()];
    await inTransaction(this.#pool, async (client) => {
      await client.query('SELECT 1 FROM nodes WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE', [ids]);
      await client.query('UPDATE nodes SET last_seen_at = s.at FROM unnest($1::text[], $2::bigint[]) AS s (id, at) WHERE nodes.id = s.id', [ids, [...seen.values()]]);
    });
  }
}
