// Desired state in SQLite: spec revisions, rollouts and their nodes, where each node stands per
// spec, the health checks agents report, the deployment history, and hosted files' metadata.
import type { CheckState, ResourceState } from '../../proto/gen/fleet/v1/common';
import type { Deployment, SpecRevision } from '../../proto/gen/fleet/v1/control';
import type { Db } from './database';

export interface RevisionRecord {
  spec: string;
  revision: number;
  yaml: string;
  /** The parsed spec (common/spec Spec) as JSON. */
  specJson: string;
  digest: string;
  createdBy: string;
  createdAt: number;
}

export const RolloutState = {
  Running: 'running',
  Paused: 'paused',
  Succeeded: 'succeeded',
  Failed: 'failed',
  RollingBack: 'rolling-back',
  RolledBack: 'rolled-back',
} as const;
export type RolloutState = (typeof RolloutState)[keyof typeof RolloutState];

export interface RolloutRecord {
  id: string;
  spec: string;
  revision: number;
  previousRevision: number;
  state: RolloutState;
  reason: string;
  batchSize: number;
  currentBatch: number;
  maxErrors: number;
  healthGateMs: number;
  autoRollback: boolean;
  rollbackOf: string;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
}

export const NodeRolloutState = {
  Waiting: 'waiting',
  Applying: 'applying',
  Applied: 'applied',
  Unchanged: 'unchanged',
  Healthy: 'healthy',
  Unhealthy: 'unhealthy',
  Failed: 'failed',
  Offline: 'offline',
  RollingBack: 'rolling-back',
  RolledBack: 'rolled-back',
} as const;
export type NodeRolloutState = (typeof NodeRolloutState)[keyof typeof NodeRolloutState];

export interface RolloutNodeRecord {
  rolloutId: string;
  nodeId: string;
  nodeName: string;
  batch: number;
  position: number;
  fromRevision: number;
  toRevision: number;
  state: NodeRolloutState;
  resources: ResourceState[];
  error: string;
  updatedAt: number;
}

export interface NodeSpecRecord {
  nodeId: string;
  spec: string;
  desiredRevision: number;
  appliedRevision: number;
  /** converged, drifted, failed, applying */
  status: string;
  resources: ResourceState[];
  reportedAt: number;
  driftAt: number;
}

export interface HostedFileRecord {
  sha256: string;
  name: string;
  size: number;
  createdBy: string;
  createdAt: number;
}

type Row = Record<string, unknown>;

/** How much of a check's output is kept (characters). */
export const CHECK_OUTPUT_MAX = 500;

// Rows as records, shared with the PostgreSQL driver (flags are 0/1 in SQLite, booleans there).

export const toRevision = (r: Row): RevisionRecord => ({
  spec: r.spec as string,
  revision: r.revision as number,
  yaml: r.yaml as string,
  specJson: r.spec_json as string,
  digest: r.digest as string,
  createdBy: r.created_by as string,
  createdAt: r.created_at as number,
});

export const toRollout = (r: Row): RolloutRecord => ({
  id: r.id as string,
  spec: r.spec as string,
  revision: r.revision as number,
  previousRevision: r.previous_revision as number,
  state: r.state as RolloutState,
  reason: r.reason as string,
  batchSize: r.batch_size as number,
  currentBatch: r.current_batch as number,
  maxErrors: r.max_errors as number,
  healthGateMs: r.health_gate_ms as number,
  autoRollback: Boolean(r.auto_rollback),
  rollbackOf: r.rollback_of as string,
  createdBy: r.created_by as string,
  createdAt: r.created_at as number,
  updatedAt: r.updated_at as number,
});

export const toRolloutNode = (r: Row): RolloutNodeRecord => ({
  rolloutId: r.rollout_id as string,
  nodeId: r.node_id as string,
  nodeName: r.node_name as string,
  batch: r.batch as number,
  position: r.position as number,
  fromRevision: r.from_revision as number,
  toRevision: r.to_revision as number,
  state: r.state as NodeRolloutState,
  resources: JSON.parse(r.resources as string) as ResourceState[],
  error: r.error as string,
  updatedAt: r.updated_at as number,
});

export const toNodeSpec = (r: Row): NodeSpecRecord => ({
  nodeId: r.node_id as string,
  spec: r.spec as string,
  desiredRevision: r.desired_revision as number,
  appliedRevision: r.applied_revision as number,
  status: r.status as string,
  resources: JSON.parse(r.resources as string) as ResourceState[],
  reportedAt: r.reported_at as number,
  driftAt: r.drift_at as number,
});

export const toCheck = (r: Row): CheckState & { nodeId: string } => ({
  nodeId: r.node_id as string,
  spec: r.spec as string,
  name: r.name as string,
  passing: Boolean(r.passing),
  output: r.output as string,
  sinceUnixMs: r.since_at as number,
  checkedUnixMs: r.checked_at as number,
});

/** A revision as the API shows it. */
export const toSpecRevision = (r: RevisionRecord): SpecRevision => ({ spec: r.spec, revision: r.revision, yaml: r.yaml, digest: r.digest, createdBy: r.createdBy, createdUnixMs: r.createdAt });

export const toDeployment = (r: Row): Deployment => {
  const text = (column: string) => r[column] as string;
  const [nodeId, nodeName, rolloutId] = [text('node_id'), text('node_name'), text('rollout_id')];
  return { atUnixMs: r.at as number, spec: text('spec'), revision: r.revision as number, nodeId, nodeName, rolloutId, actor: text('actor'), outcome: text('outcome'), detail: text('detail') };
};

export const toHostedFile = (r: Row): HostedFileRecord => ({ sha256: r.sha256 as string, name: r.name as string, size: r.size as number, createdBy: r.created_by as string, createdAt: r.created_at as number });

/**
 * What `replaceChecks` answers: the reported checks whose passing flag differs from `before` (keyed
 * by `checkKey`), or that are new. Shared with the PostgreSQL driver.
 */
export function changedChecks(before: ReadonlyMap<string, boolean>, checks: readonly CheckState[]): { check: CheckState; before: boolean | undefined }[] {
  const changed: { check: CheckState; before: boolean | undefined }[] = [];
  for (const c of checks) {
    const was = before.get(checkKey(c));
    if (was !== c.passing) changed.push({ check: c, before: was });
  }
  return changed;
}

/** A check's key among one node's checks. */
export const checkKey = (c: { spec: string; name: string }): string => `${c.spec}\0${c.name}`;

/** Where stateStore records live; every call is async so a shared database can stand behind it. */
export interface StateStore {
  latestRevision(spec: string): Promise<RevisionRecord | undefined>;
  revision(spec: string, revision: number): Promise<RevisionRecord | undefined>;
  /** Stores the next revision of `spec` (1 for the first) and returns it; servers adding at once get one number each. */
  addRevision(r: Omit<RevisionRecord, 'revision'>): Promise<RevisionRecord>;
  /** Every spec that has a revision, by name. */
  specNames(): Promise<string[]>;
  /** The revisions of `spec` (or of every spec, by spec name), oldest first. */
  revisions(spec?: string): Promise<SpecRevision[]>;
  /** Stores a rollout and its nodes (waiting, changed at the rollout's creation) in one transaction. */
  createRollout(r: RolloutRecord, nodes: Omit<RolloutNodeRecord, 'rolloutId' | 'resources' | 'error' | 'updatedAt' | 'state'>[]): Promise<void>;
  rollout(id: string): Promise<RolloutRecord | undefined>;
  /** The newest `limit` rollouts (of `spec`), newest first; of two created in the same millisecond, the one stored later first. */
  rollouts(limit: number, spec?: string): Promise<RolloutRecord[]>;
  /** Rollouts that were going when the server stopped (running or rolling back), oldest first. */
  unfinishedRollouts(): Promise<RolloutRecord[]>;
  /** The newest rollout of `spec` that is not over (running, paused or rolling back). */
  activeRollout(spec: string): Promise<RolloutRecord | undefined>;
  /** Changes the fields given and `updatedAt` (to now); nothing when there is no such rollout. */
  updateRollout(id: string, fields: Partial<Pick<RolloutRecord, 'state' | 'reason' | 'currentBatch'>>): Promise<void>;
  /** A rollout's nodes in their position order. */
  rolloutNodes(id: string): Promise<RolloutNodeRecord[]>;
  /** Sets a rollout node's state, error ('' when not given) and `updatedAt`; its resources only when given. */
  updateRolloutNode(rolloutId: string, nodeId: string, state: NodeRolloutState, resources?: ResourceState[], error?: string): Promise<void>;
  /** Where a node stands on each spec it has, by spec name. */
  nodeSpecs(nodeId: string): Promise<NodeSpecRecord[]>;
  nodeSpec(nodeId: string, spec: string): Promise<NodeSpecRecord | undefined>;
  /** Records the revision the server has just sent the node (status `applying`; what it reported stays). */
  setDesired(nodeId: string, spec: string, revision: number): Promise<void>;
  /** The node no longer has the spec (it was removed there): forgets where it stood and its checks. */
  forgetNodeSpec(nodeId: string, spec: string): Promise<void>;
  /** A node was removed: forgets every spec it had and every check it reported. */
  forgetNode(nodeId: string): Promise<void>;
  /**
   * Records what the agent reported: the revision applied, status and resources at `at`; `drift`
   * moves `driftAt` to `at` (else it stays). A spec the server never sent is recorded as desired too.
   */
  setReported(nodeId: string, spec: string, revision: number, status: string, resources: ResourceState[], at: number, drift: boolean): Promise<void>;
  /** A node's checks by spec and name, or every node's by node, spec and name. */
  checks(nodeId?: string): Promise<(CheckState & { nodeId: string })[]>;
  /**
   * Replaces a node's checks with what it reported (a check named twice: the later one; output
   * cut to CHECK_OUTPUT_MAX); returns the checks whose passing flag changed (or are new), in the
   * order reported. Two reports of one node stored at once replace one after the other.
   */
  replaceChecks(nodeId: string, checks: CheckState[]): Promise<{ check: CheckState; before: boolean | undefined }[]>;
  /** Adds a deployment to the history, at `at` (now by default). */
  recordDeployment(d: Omit<Deployment, 'atUnixMs'>, at?: number): Promise<void>;
  /** The newest `limit` deployments (of a spec, to a node, when given), oldest first. */
  deployments(filter: { spec?: string; nodeId?: string; limit: number }): Promise<Deployment[]>;
  hostedFile(sha256: string): Promise<HostedFileRecord | undefined>;
  /** Records a hosted file; one already recorded under that digest is kept as it was. */
  addHostedFile(f: HostedFileRecord): Promise<void>;
}

/** StateStore in SQLite (better-sqlite3): the embedded default. */
export class SqliteStateStore implements StateStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  // --- spec revisions

  async latestRevision(spec: string): Promise<RevisionRecord | undefined> {
    return this.#latestRevision(spec);
  }

  #latestRevision(spec: string): RevisionRecord | undefined {
    const row = this.#db.prepare('SELECT * FROM spec_revisions WHERE spec = ? ORDER BY revision DESC LIMIT 1').get(spec) as Row | undefined;
    return row && toRevision(row);
  }

  async revision(spec: string, revision: number): Promise<RevisionRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM spec_revisions WHERE spec = ? AND revision = ?').get(spec, revision) as Row | undefined;
    return row && toRevision(row);
  }

  /** Stores the next revision of `spec` and returns it. */
  async addRevision(r: Omit<RevisionRecord, 'revision'>): Promise<RevisionRecord> {
    return this.#db.transaction(() => {
      const revision = (this.#latestRevision(r.spec)?.revision ?? 0) + 1;
      this.#db
        .prepare('INSERT INTO spec_revisions (spec, revision, yaml, spec_json, digest, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(r.spec, revision, r.yaml, r.specJson, r.digest, r.createdBy, r.createdAt);
      return { ...r, revision };
    })();
  }

  /** Every spec that has a revision. */
  async specNames(): Promise<string[]> {
    return (this.#db.prepare('SELECT DISTINCT spec FROM spec_revisions ORDER BY spec').all() as { spec: string }[]).map((r) => r.spec);
  }

  async revisions(spec?: string): Promise<SpecRevision[]> {
    const rows = (spec ? this.#db.prepare('SELECT * FROM spec_revisions WHERE spec = ? ORDER BY revision').all(spec) : this.#db.prepare('SELECT * FROM spec_revisions ORDER BY spec, revision').all()) as Row[];
    return rows.map(toRevision).map(toSpecRevision);
  }

  // --- rollouts

  async createRollout(r: RolloutRecord, nodes: Omit<RolloutNodeRecord, 'rolloutId' | 'resources' | 'error' | 'updatedAt' | 'state'>[]): Promise<void> {
    this.#db.transaction(() => {
      this.#db
        .prepare(
          `INSERT INTO rollouts (id, spec, revision, previous_revision, state, reason, batch_size, current_batch, max_errors, health_gate_ms, auto_rollback, rollback_of, created_by, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(r.id, r.spec, r.revision, r.previousRevision, r.state, r.reason, r.batchSize, r.currentBatch, r.maxErrors, r.healthGateMs, r.autoRollback ? 1 : 0, r.rollbackOf, r.createdBy, r.createdAt, r.updatedAt);
      const insert = this.#db.prepare('INSERT INTO rollout_nodes (rollout_id, node_id, node_name, batch, position, from_revision, to_revision, state, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
      for (const n of nodes) insert.run(r.id, n.nodeId, n.nodeName, n.batch, n.position, n.fromRevision, n.toRevision, NodeRolloutState.Waiting, r.createdAt);
    })();
  }

  async rollout(id: string): Promise<RolloutRecord | undefined> {
    return this.#rollout(id);
  }

  #rollout(id: string): RolloutRecord | undefined {
    const row = this.#db.prepare('SELECT * FROM rollouts WHERE id = ?').get(id) as Row | undefined;
    return row && toRollout(row);
  }

  async rollouts(limit: number, spec?: string): Promise<RolloutRecord[]> {
    const rows = (spec
      ? this.#db.prepare('SELECT * FROM rollouts WHERE spec = ? ORDER BY created_at DESC, rowid DESC LIMIT ?').all(spec, limit)
      : this.#db.prepare('SELECT * FROM rollouts ORDER BY created_at DESC, rowid DESC LIMIT ?').all(limit)) as Row[];
    return rows.map(toRollout);
  }

  /** Rollouts that were going when the server stopped. */
  async unfinishedRollouts(): Promise<RolloutRecord[]> {
    return (this.#db.prepare("SELECT * FROM rollouts WHERE state IN ('running', 'rolling-back') ORDER BY created_at, rowid").all() as Row[]).map(toRollout);
  }

  /** The newest rollout of `spec` that is not over (running, paused or rolling back). */
  async activeRollout(spec: string): Promise<RolloutRecord | undefined> {
    const row = this.#db.prepare("SELECT * FROM rollouts WHERE spec = ? AND state IN ('running', 'paused', 'rolling-back') ORDER BY created_at DESC, rowid DESC LIMIT 1").get(spec) as Row | undefined;
    return row && toRollout(row);
  }

  async updateRollout(id: string, fields: Partial<Pick<RolloutRecord, 'state' | 'reason' | 'currentBatch'>>): Promise<void> {
    const current = this.#rollout(id);
    if (!current) return;
    const next = { ...current, ...fields };
    this.#db.prepare('UPDATE rollouts SET state = ?, reason = ?, current_batch = ?, updated_at = ? WHERE id = ?').run(next.state, next.reason, next.currentBatch, Date.now(), id);
  }

  async rolloutNodes(id: string): Promise<RolloutNodeRecord[]> {
    return (this.#db.prepare('SELECT * FROM rollout_nodes WHERE rollout_id = ? ORDER BY position').all(id) as Row[]).map(toRolloutNode);
  }

  async updateRolloutNode(rolloutId: string, nodeId: string, state: NodeRolloutState, resources?: ResourceState[], error = ''): Promise<void> {
    if (resources) {
      this.#db.prepare('UPDATE rollout_nodes SET state = ?, resources = ?, error = ?, updated_at = ? WHERE rollout_id = ? AND node_id = ?').run(state, JSON.stringify(resources), error, Date.now(), rolloutId, nodeId);
    } else {
      this.#db.prepare('UPDATE rollout_nodes SET state = ?, error = ?, updated_at = ? WHERE rollout_id = ? AND node_id = ?').run(state, error, Date.now(), rolloutId, nodeId);
    }
  }

  // --- where nodes stand

  async nodeSpecs(nodeId: string): Promise<NodeSpecRecord[]> {
    return (this.#db.prepare('SELECT * FROM node_specs WHERE node_id = ? ORDER BY spec').all(nodeId) as Row[]).map(toNodeSpec);
  }

  async nodeSpec(nodeId: string, spec: string): Promise<NodeSpecRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM node_specs WHERE node_id = ? AND spec = ?').get(nodeId, spec) as Row | undefined;
    return row && toNodeSpec(row);
  }

  /** Records the revision the server has just sent the node. */
  async setDesired(nodeId: string, spec: string, revision: number): Promise<void> {
    this.#db
      .prepare(
        `INSERT INTO node_specs (node_id, spec, desired_revision, status) VALUES (?, ?, ?, 'applying')
         ON CONFLICT (node_id, spec) DO UPDATE SET desired_revision = excluded.desired_revision, status = 'applying'`,
      )
      .run(nodeId, spec, revision);
  }

  /** The node no longer has the spec (it was removed there): forgets where it stood and its checks. */
  async forgetNodeSpec(nodeId: string, spec: string): Promise<void> {
    this.#db.transaction(() => {
      this.#db.prepare('DELETE FROM node_specs WHERE node_id = ? AND spec = ?').run(nodeId, spec);
      this.#db.prepare('DELETE FROM node_checks WHERE node_id = ? AND spec = ?').run(nodeId, spec);
    })();
  }
  async forgetNode(nodeId: string): Promise<void> {
    this.#db.transaction(() => {
      this.#db.prepare('DELETE FROM node_specs WHERE node_id = ?').run(nodeId);
      this.#db.prepare('DELETE FROM node_checks WHERE node_id = ?').run(nodeId);
    })();
  }


  /** Records what the agent reported. */
  async setReported(nodeId: string, spec: string, revision: number, status: string, resources: ResourceState[], at: number, drift: boolean): Promise<void> {
    this.#db
      .prepare(
        `INSERT INTO node_specs (node_id, spec, desired_revision, applied_revision, status, resources, reported_at, drift_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (node_id, spec) DO UPDATE SET applied_revision = excluded.applied_revision, status = excluded.status,
           resources = excluded.resources, reported_at = excluded.reported_at,
           drift_at = CASE WHEN ? THEN excluded.reported_at ELSE node_specs.drift_at END`,
      )
      .run(nodeId, spec, revision, revision, status, JSON.stringify(resources), at, drift ? at : 0, drift ? 1 : 0);
  }

  // --- health checks

  async checks(nodeId?: string): Promise<(CheckState & { nodeId: string })[]> {
    return this.#checks(nodeId);
  }

  #checks(nodeId?: string): (CheckState & { nodeId: string })[] {
    const rows = (nodeId ? this.#db.prepare('SELECT * FROM node_checks WHERE node_id = ? ORDER BY spec, name').all(nodeId) : this.#db.prepare('SELECT * FROM node_checks ORDER BY node_id, spec, name').all()) as Row[];
    return rows.map(toCheck);
  }

  /** Replaces a node's checks with what it reported; returns the checks whose passing flag changed (or are new). */
  async replaceChecks(nodeId: string, checks: CheckState[]): Promise<{ check: CheckState; before: boolean | undefined }[]> {
    return this.#db.transaction(() => {
      const before = new Map(this.#checks(nodeId).map((c) => [checkKey(c), c.passing]));
      this.#db.prepare('DELETE FROM node_checks WHERE node_id = ?').run(nodeId);
      const insert = this.#db.prepare('INSERT OR REPLACE INTO node_checks (node_id, spec, name, passing, output, since_at, checked_at) VALUES (?, ?, ?, ?, ?, ?, ?)');
      for (const c of checks) insert.run(nodeId, c.spec, c.name, c.passing ? 1 : 0, c.output.slice(0, CHECK_OUTPUT_MAX), Number(c.sinceUnixMs), Number(c.checkedUnixMs));
      return changedChecks(before, checks);
    })();
  }

  // --- history

  async recordDeployment(d: Omit<Deployment, 'atUnixMs'>, at = Date.now()): Promise<void> {
    this.#db
      .prepare('INSERT INTO deployments (at, spec, revision, node_id, node_name, rollout_id, actor, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(at, d.spec, d.revision, d.nodeId, d.nodeName, d.rolloutId, d.actor, d.outcome, d.detail);
  }

  async deployments(filter: { spec?: string; nodeId?: string; limit: number }): Promise<Deployment[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.spec) {
      where.push('spec = ?');
      args.push(filter.spec);
    }
    if (filter.nodeId) {
      where.push('node_id = ?');
      args.push(filter.nodeId);
    }
    const rows = this.#db.prepare(`SELECT * FROM deployments ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`).all(...args, filter.limit) as Row[];
    return rows.reverse().map(toDeployment);
  }

  // --- hosted files

  async hostedFile(sha256: string): Promise<HostedFileRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM hosted_files WHERE sha256 = ?').get(sha256) as Row | undefined;
    return row && toHostedFile(row);
  }

  async addHostedFile(f: HostedFileRecord): Promise<void> {
    this.#db.prepare('INSERT OR IGNORE INTO hosted_files (sha256, name, size, created_by, created_at) VALUES (?, ?, ?, ?, ?)').run(f.sha256, f.name, f.size, f.createdBy, f.createdAt);
  }
}
