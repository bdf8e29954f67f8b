// Nodes: identity, labels, facts and the fingerprint of the certificate each agent must present;
// the MAC addresses each enrolled with are indexed (node_macs) to recognise a reinstalled machine.
import { Facts, MachineIdentity } from '../../proto/gen/fleet/v1/common';
import type { Labels } from '../../common/labels';
import type { Db } from './database';

export interface NodeRecord {
  id: string;
  name: string;
  labels: Labels;
  facts: Facts | undefined;
  identity: MachineIdentity;
  certFingerprint: string;
  /** The certificate the node renewed from: still accepted until the new one is used. */
  prevCertFingerprint: string | null;
  certNotAfter: number;
  agentVersion: string;
  joinTokenId: string | null;
  enrolledAt: number;
  lastSeenAt: number | null;
}

/** What a node takes over from the machine that enrolled again (NodeStore.reenroll). */
export type NodeTakeover = Pick<NodeRecord, 'identity' | 'labels' | 'certFingerprint' | 'certNotAfter' | 'agentVersion' | 'joinTokenId' | 'enrolledAt'>;

/** A nodes row as both stores return it (JSON columns as text; times as numbers). */
export interface NodeRow {
  id: string;
  name: string;
  labels: string;
  facts: string | null;
  identity: string;
  cert_fingerprint: string;
  prev_cert_fingerprint: string | null;
  cert_not_after: number;
  agent_version: string;
  join_token_id: string | null;
  enrolled_at: number;
  last_seen_at: number | null;
}

/** A nodes row as a record (shared by the SQLite and PostgreSQL stores). */
export function toNodeRecord(r: NodeRow): NodeRecord {
  return {
    id: r.id,
    name: r.name,
    labels: JSON.parse(r.labels) as Labels,
    facts: r.facts ? Facts.fromJSON(JSON.parse(r.facts)) : undefined,
    identity: MachineIdentity.fromJSON(JSON.parse(r.identity)),
    certFingerprint: r.cert_fingerprint,
    prevCertFingerprint: r.prev_cert_fingerprint,
    certNotAfter: r.cert_not_after,
    agentVersion: r.agent_version,
    joinTokenId: r.join_token_id,
    enrolledAt: r.enrolled_at,
    lastSeenAt: r.last_seen_at,
  };
}

/** Labels, facts and identity as the JSON text both stores keep. */
export const nodeJson = {
  labels: (labels: Labels): string => JSON.stringify(labels),
  facts: (facts: Facts): string => JSON.stringify(Facts.toJSON(facts)),
  identity: (identity: MachineIdentity): string => JSON.stringify(MachineIdentity.toJSON(identity)),
};

/**
 * A new node's column values in the order `id, name, labels, facts, identity, cert_fingerprint,
 * cert_not_after, agent_version, join_token_id, enrolled_at, last_seen_at`.
 */
export function nodeValues(n: NodeRecord): unknown[] {
  return [n.id, n.name, nodeJson.labels(n.labels), n.facts ? nodeJson.facts(n.facts) : null, nodeJson.identity(n.identity), n.certFingerprint, n.certNotAfter, n.agentVersion, n.joinTokenId, n.enrolledAt, n.lastSeenAt];
}

/** What a node takes over on re-enrollment, in the order `identity, labels, cert_fingerprint, cert_not_after, agent_version, join_token_id, enrolled_at`. */
export function reenrollValues(n: NodeTakeover): unknown[] {
  return [nodeJson.identity(n.identity), nodeJson.labels(n.labels), n.certFingerprint, n.certNotAfter, n.agentVersion, n.joinTokenId, n.enrolledAt];
}

/** The MAC addresses a node is indexed under: lower-case, each once, none empty. */
export function indexedMacs(identity: MachineIdentity): string[] {
  return [...new Set(identity.macs.filter((mac) => mac).map((mac) => mac.toLowerCase()))];
}

/** Where nodeStore records live; every call is async so a shared database can stand behind it. */
export interface NodeStore {
  get(id: string): Promise<NodeRecord | undefined>;
  /** Finds a node by name first, then by id. */
  find(nameOrId: string): Promise<NodeRecord | undefined>;
  /** True when `fingerprint` (SHA-256 hex) is the current or just-renewed certificate of a node. */
  hasCertificate(fingerprint: string): Promise<boolean>;
  /** How many nodes are enrolled. */
  count(): Promise<number>;
  /** Every node, by name (in byte order). */
  list(): Promise<NodeRecord[]>;
  nameTaken(name: string): Promise<boolean>;
  /** Nodes that enrolled with any of these MAC addresses (lower-case), by name. */
  withMacs(macs: readonly string[]): Promise<NodeRecord[]>;
  /** Adds an enrolled node and indexes its MAC addresses; throws (storing nothing) when its id or name is taken. */
  insert(n: NodeRecord): Promise<void>;
  /**
   * A machine enrolled again and takes this node over (server/node-identity.ts): its identity,
   * labels, agent version and join token are replaced, and only the new certificate is accepted
   * from now on (the old one, and any it renewed from, are refused). Name, id and history stay.
   * False (nothing changed) when the node is no longer as `expected` (renamed, removed, or taken
   * over meanwhile).
   */
  reenroll(id: string, expected: Pick<NodeRecord, 'name' | 'certFingerprint'>, n: NodeTakeover): Promise<boolean>;
  /**
   * Records a node's new client certificate. The one it renewed with (`presented`) stays valid
   * until the node connects with the new one, so a renewal lost on the way locks nobody out.
   */
  setCertificate(id: string, fingerprint: string, notAfter: number, presented: string): Promise<void>;
  /** The node has used its new certificate: the one it renewed from is no longer accepted. */
  forgetPreviousCertificate(id: string): Promise<void>;
  /**
   * Removes a node: its record and MAC index go; its certificates are kept in removed_nodes so a
   * connection or renewal with them is refused with a clear reason. Its desired-state rows are the
   * StateStore's to forget (StateStore.forgetNode). Jobs, sessions and history keep its name.
   * Removing a node that is gone already (another server removed it meanwhile) is harmless.
   */
  remove(node: NodeRecord, by: string, at: number): Promise<void>;
  /** The removed node a certificate (SHA-256 hex) belonged to, if any. */
  removedByCertificate(fingerprint: string): Promise<{ nodeId: string; name: string; removedAt: number } | undefined>;
  setLabels(id: string, labels: Labels): Promise<void>;
  setFacts(id: string, facts: Facts): Promise<void>;
  setAgentVersion(id: string, version: string, seenAt: number): Promise<void>;
  /** Records last-seen times for many nodes in one transaction (heartbeats are a hot path). */
  touchMany(seen: Map<string, number>): Promise<void>;
}

/** NodeStore in SQLite (better-sqlite3): the embedded default. */
export class SqliteNodeStore implements NodeStore {
  readonly #db: Db;
  readonly #byId;
  readonly #byName;
  readonly #all;
  readonly #touch;

  constructor(db: Db) {
    this.#db = db;
    this.#byId = db.prepare('SELECT * FROM nodes WHERE id = ?');
    this.#byName = db.prepare('SELECT * FROM nodes WHERE name = ?');
    this.#all = db.prepare('SELECT * FROM nodes ORDER BY name');
    this.#touch = db.prepare('UPDATE nodes SET last_seen_at = ? WHERE id = ?');
  }

  async get(id: string): Promise<NodeRecord | undefined> {
    const row = this.#byId.get(id) as NodeRow | undefined;
    return row && toNodeRecord(row);
  }

  /** Finds a node by name first, then by id. */
  async find(nameOrId: string): Promise<NodeRecord | undefined> {
    const row = (this.#byName.get(nameOrId) ?? this.#byId.get(nameOrId)) as NodeRow | undefined;
    return row && toNodeRecord(row);
  }

  /** True when `fingerprint` (SHA-256 hex) is the current or just-renewed certificate of a node. */
  async hasCertificate(fingerprint: string): Promise<boolean> {
    return this.#db.prepare('SELECT 1 FROM nodes WHERE cert_fingerprint = ? OR prev_cert_fingerprint = ?').get(fingerprint, fingerprint) !== undefined;
  }

  /** How many nodes are enrolled. */
  async count(): Promise<number> {
    return (this.#db.prepare('SELECT COUNT(*) AS n FROM nodes').get() as { n: number }).n;
  }

  async list(): Promise<NodeRecord[]> {
    return (this.#all.all() as NodeRow[]).map(toNodeRecord);
  }

  async nameTaken(name: string): Promise<boolean> {
    return this.#byName.get(name) !== undefined;
  }

  /** Nodes that enrolled with any of these MAC addresses (lower-case), by name. */
  async withMacs(macs: readonly string[]): Promise<NodeRecord[]> {
    if (macs.length === 0) return [];
    const rows = this.#db
      .prepare(`SELECT * FROM nodes WHERE id IN (SELECT node_id FROM node_macs WHERE mac IN (${macs.map(() => '?').join(', ')})) ORDER BY name`)
      .all(...macs) as NodeRow[];
    return rows.map(toNodeRecord);
  }

  #indexMacs(id: string, identity: MachineIdentity): void {
    this.#db.prepare('DELETE FROM node_macs WHERE node_id = ?').run(id);
    const add = this.#db.prepare('INSERT OR IGNORE INTO node_macs (mac, node_id) VALUES (?, ?)');
    for (const mac of indexedMacs(identity)) add.run(mac, id);
  }

  async insert(n: NodeRecord): Promise<void> {
    this.#db
      .prepare(
        `INSERT INTO nodes (id, name, labels, facts, identity, cert_fingerprint, cert_not_after, agent_version, join_token_id, enrolled_at, last_seen_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(...nodeValues(n));
    this.#indexMacs(n.id, n.identity);
  }

  /**
   * A machine enrolled again and takes this node over (server/node-identity.ts): its identity,
   * labels, agent version and join token are replaced, and only the new certificate is accepted
   * from now on (the old one, and any it renewed from, are refused). Name, id and history stay.
   */
  async reenroll(id: string, expected: Pick<NodeRecord, 'name' | 'certFingerprint'>, n: NodeTakeover): Promise<boolean> {
    return this.#db.transaction(() => {
      const changed = this.#db
        .prepare(
          `UPDATE nodes SET identity = ?, labels = ?, cert_fingerprint = ?, prev_cert_fingerprint = NULL, cert_not_after = ?, agent_version = ?, join_token_id = ?, enrolled_at = ?
           WHERE id = ? AND name = ? AND cert_fingerprint = ?`,
        )
        .run(...reenrollValues(n), id, expected.name, expected.certFingerprint).changes;
      if (changed === 1) this.#indexMacs(id, n.identity);
      return changed === 1;
    })();
  }

  /**
   * Records a node's new client certificate. The one it renewed with (`presented`) stays valid
   * until the node connects with the new one, so a renewal lost on the way locks nobody out.
   */
  async setCertificate(id: string, fingerprint: string, notAfter: number, presented: string): Promise<void> {
    this.#db.prepare('UPDATE nodes SET cert_fingerprint = ?, cert_not_after = ?, prev_cert_fingerprint = ? WHERE id = ?').run(fingerprint, notAfter, presented, id);
  }

  /** The node has used its new certificate: the one it renewed from is no longer accepted. */
  async forgetPreviousCertificate(id: string): Promise<void> {
    this.#db.prepare('UPDATE nodes SET prev_cert_fingerprint = NULL WHERE id = ? AND prev_cert_fingerprint IS NOT NULL').run(id);
  }

  /**
   * Removes a node: its record and MAC index go; its certificates are kept in removed_nodes so a
   * connection or renewal with them is refused with a clear reason. Its desired-state rows are the
   * StateStore's to forget (StateStore.forgetNode). Jobs, sessions and history keep its name.
   */
  async remove(node: NodeRecord, by: string, at: number): Promise<void> {
    this.#db.transaction(() => {
      this.#db
        .prepare('INSERT OR REPLACE INTO removed_nodes (node_id, name, cert_fingerprint, prev_cert_fingerprint, removed_at, removed_by) VALUES (?, ?, ?, ?, ?, ?)')
        .run(node.id, node.name, node.certFingerprint, node.prevCertFingerprint, at, by);
      this.#db.prepare('DELETE FROM node_macs WHERE node_id = ?').run(node.id);
      this.#db.prepare('DELETE FROM nodes WHERE id = ?').run(node.id);
    })();
  }

  /** The removed node a certificate (SHA-256 hex) belonged to, if any. */
  async removedByCertificate(fingerprint: string): Promise<{ nodeId: string; name: string; removedAt: number } | undefined> {
    const r = this.#db.prepare('SELECT node_id, name, removed_at FROM removed_nodes WHERE cert_fingerprint = ? OR prev_cert_fingerprint = ?').get(fingerprint, fingerprint) as
      | { node_id: string; name: string; removed_at: number }
      | undefined;
    return r && { nodeId: r.node_id, name: r.name, removedAt: r.removed_at };
  }

  async setLabels(id: string, labels: Labels): Promise<void> {
    this.#db.prepare('UPDATE nodes SET labels = ? WHERE id = ?').run(nodeJson.labels(labels), id);
  }

  async setFacts(id: string, facts: Facts): Promise<void> {
    this.#db.prepare('UPDATE nodes SET facts = ? WHERE id = ?').run(nodeJson.facts(facts), id);
  }

  async setAgentVersion(id: string, version: string, seenAt: number): Promise<void> {
    this.#db.prepare('UPDATE nodes SET agent_version = ?, last_seen_at = ? WHERE id = ?').run(version, seenAt, id);
  }

  /** Records last-seen times for many nodes in one transaction (heartbeats are a hot path). */
  async touchMany(seen: Map<string, number>): Promise<void> {
    if (seen.size === 0) return;
    this.#db.transaction(() => {
      for (const [id, at] of seen) this.#touch.run(at, id);
    })();
  }
}
