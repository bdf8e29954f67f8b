// Desired state in PostgreSQL: spec revisions, rollouts and their nodes, where each node stands per
// spec, the health checks agents report, the deployment history, and hosted files' metadata: the
// StateStore of several fleet-servers on one database. Where SQLite counted on being the only
// writer (the next revision number, a node's checks read and replaced), a transaction-scoped
// advisory lock per spec or per node makes servers that write at once take turns.
import type { CheckState, ResourceState } from '../../proto/gen/fleet/v1/common';
import type { Deployment, SpecRevision } from '../../proto/gen/fleet/v1/control';
import { changedChecks, CHECK_OUTPUT_MAX, checkKey, NodeRolloutState, toCheck, toDeployment, toHostedFile, toNodeSpec, toRevision, toRollout, toRolloutNode, toSpecRevision, type HostedFileRecord, type NodeSpecRecord, type RevisionRecord, type RolloutNodeRecord, type RolloutRecord, type StateStore } from '../store';
import { inTransaction, type PgPool } from './pg-database';

type Row = Record<string, unknown>;

/** The first key of the per-spec advisory locks ("spec" in ASCII); the second is hashtext(spec). */
const SPEC_LOCK = 0x73706563;
/** The first key of the per-node locks on health checks ("chks"); the second is hashtext(node id). */
const CHECKS_LOCK = 0x63686b73;

/**
 * StateStore in PostgreSQL. `addRevision` numbers a spec's revisions under the spec's lock, and
 * `replaceChecks` reads and replaces a node's checks under the node's lock, so servers writing at
 * once take turns and each answer is what it would be alone. Text is ordered byte by byte
 * (COLLATE "C"), as SQLite orders it; rollouts created in one millisecond keep their storing order.
 */
export class PgStateStore implements StateStore {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  // --- spec revisions

  async latestRevision(spec: string): Promise<RevisionRecord | undefined> {
    return this.#one(toRevision, 'SELECT * FROM spec_revisions WHERE spec = $1 ORDER BY revision DESC LIMIT 1', [spec]);
  }

  async revision(spec: string, revision: number): Promise<RevisionRecord | undefined> {
    return this.#one(toRevision, 'SELECT * FROM spec_revisions WHERE spec = $1 AND revision = $2', [spec, revision]);
  }

  /** Stores the next revision of `spec` under the spec's lock: servers adding at once get one number each. */
  async addRevision(r: Omit<RevisionRecord, 'revision'>): Promise<RevisionRecord> {
    return inTransaction(this.#pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [SPEC_LOCK, r.spec]);
      const { rows } = await client.query<{ revision: number }>(
        `INSERT INTO spec_revisions (spec, revision, yaml, spec_json, digest, created_by, created_at)
         SELECT $1, coalesce(max(revision), 0) + 1, $2, $3, $4, $5, $6 FROM spec_revisions WHERE spec = $1 RETURNING revision`,
        [r.spec, r.yaml, r.specJson, r.digest, r.createdBy, r.createdAt],
      );
      return { ...r, revision: rows[0]!.revision };
    });
  }

  /** Every spec that has a revision, by name. */
  async specNames(): Promise<string[]> {
    const { rows } = await this.#pool.query<{ spec: string }>('SELECT DISTINCT spec COLLATE "C" AS spec FROM spec_revisions ORDER BY 1');
    return rows.map((r) => r.spec);
  }

  async revisions(spec?: string): Promise<SpecRevision[]> {
    const { rows } = await this.#pool.query<Row>('SELECT * FROM spec_revisions WHERE $1::text IS NULL OR spec = $1 ORDER BY spec COLLATE "C", revision', [spec || null]);
    return rows.map(toRevision).map(toSpecRevision);
  }

  // --- rollouts

  /** Stores a rollout and its nodes (one multi-row insert) in one transaction. */
  async createRollout(r: RolloutRecord, nodes: Omit<RolloutNodeRecord, 'rolloutId' | 'resources' | 'error' | 'updatedAt' | 'state'>[]): Promise<void> {
    await inTransaction(this.#pool, async (client) => {
      await client.query(
        `INSERT INTO rollouts (id, spec, revision, previous_revision, state, reason, batch_size, current_batch, max_errors, health_gate_ms, auto_rollback, rollback_of, created_by, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
        [r.id, r.spec, r.revision, r.previousRevision, r.state, r.reason, r.batchSize, r.currentBatch, r.maxErrors, r.healthGateMs, r.autoRollback, r.rollbackOf, r.createdBy, r.createdAt, r.updatedAt],
      );
      if (nodes.length === 0) return;
      await client.query(
        `INSERT INTO rollout_nodes (rollout_id, node_id, node_name, batch, position, from_revision, to_revision, state, updated_at)
         SELECT $1, n.*, $8, $9 FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[]) AS n`,
        [r.id, ...(['nodeId', 'nodeName', 'batch', 'position', 'fromRevision', 'toRevision'] as const).map((f) => nodes.map((n) => n[f])), NodeRolloutState.Waiting, r.createdAt],
      );
    });
  }

  async rollout(id: string): Promise<RolloutRecord | undefined> {
    return this.#one(toRollout, 'SELECT * FROM rollouts WHERE id = $1', [id]);
  }

  async rollouts(limit: number, spec?: string): Promise<RolloutRecord[]> {
    return this.#all(toRollout, 'SELECT * FROM rollouts WHERE $2::text IS NULL OR spec = $2 ORDER BY created_at DESC, seq DESC LIMIT $1', [limit, spec || null]);
  }

  /** Rollouts that were going when the server stopped (running or rolling back), oldest first. */
  async unfinishedRollouts(): Promise<RolloutRecord[]> {
    return this.#all(toRollout, "SELECT * FROM rollouts WHERE state IN ('running', 'rolling-back') ORDER BY created_at, seq", []);
  }

  /** The newest rollout of `spec` that is not over (running, paused or rolling back). */
  async activeRollout(spec: string): Promise<RolloutRecord | undefined> {
    return this.#one(toRollout, "SELECT * FROM rollouts WHERE spec = $1 AND state IN ('running', 'paused', 'rolling-back') ORDER BY created_at DESC, seq DESC LIMIT 1", [spec]);
  }

  /** Changes the fields given in one statement (the others as they are in the row). */
  async updateRollout(id: string, fields: Partial<Pick<RolloutRecord, 'state' | 'reason' | 'currentBatch'>>): Promise<void> {
    await this.#pool.query('UPDATE rollouts SET state = coalesce($2, state), reason = coalesce($3, reason), current_batch = coalesce($4, current_batch), updated_at = $5 WHERE id = $1', [
      id,
      fields.state ?? null,
      fields.reason ?? null,
      fields.currentBatch ?? null,
      Date.now(),
    ]);
  }

  async rolloutNodes(id: string): Promise<RolloutNodeRecord[]> {
    return this.#all(toRolloutNode, 'SELECT * FROM rollout_nodes WHERE rollout_id = $1 ORDER BY position', [id]);
  }

  async updateRolloutNode(rolloutId: string, nodeId: string, state: NodeRolloutState, resources?: ResourceState[], error = ''): Promise<void> {
    await this.#pool.query('UPDATE rollout_nodes SET state = $3, resources = coalesce($4, resources), error = $5, updated_at = $6 WHERE rollout_id = $1 AND node_id = $2', [
      rolloutId,
      nodeId,
      state,
      resources ? JSON.stringify(resources) : null,
      error,
      Date.now(),
    ]);
  }

  // --- where nodes stand

  async nodeSpecs(nodeId: string): Promise<NodeSpecRecord[]> {
    return this.#all(toNodeSpec, 'SELECT * FROM node_specs WHERE node_id = $1 ORDER BY spec COLLATE "C"', [nodeId]);
  }

  async nodeSpec(nodeId: string, spec: string): Promise<NodeSpecRecord | undefined> {
    return this.#one(toNodeSpec, 'SELECT * FROM node_specs WHERE node_id = $1 AND spec = $2', [nodeId, spec]);
  }

  /** Records the revision the server has just sent the node. */
  async setDesired(nodeId: string, spec: string, revision: number): Promise<void> {
    await this.#pool.query(
      `INSERT INTO node_specs (node_id, spec, desired_revision, status) VALUES ($1, $2, $3, 'applying')
       ON CONFLICT (node_id, spec) DO UPDATE SET desired_revision = excluded.desired_revision, status = 'applying'`,
      [nodeId, spec, revision],
    );
  }

  /** The node no longer has the spec: forgets where it stood and its checks (one statement). */
  async forgetNodeSpec(nodeId: string, spec: string): Promise<void> {
    await this.#pool.query('WITH specs AS (DELETE FROM node_specs WHERE node_id = $1 AND spec = $2) DELETE FROM node_checks WHERE node_id = $1 AND spec = $2', [nodeId, spec]);
  }

  /** A node was removed: forgets every spec it had and every check it reported (one statement). */
  async forgetNode(nodeId: string): Promise<void> {
    await this.#pool.query('WITH specs AS (DELETE FROM node_specs WHERE node_id = $1) DELETE FROM node_checks WHERE node_id = $1', [nodeId]);
  }

  /** Records what the agent reported. */
  async setReported(nodeId: string, spec: string, revision: number, status: string, resources: ResourceState[], at: number, drift: boolean): Promise<void> {
    await this.#pool.query(
      `INSERT INTO node_specs (node_id, spec, desired_revision, applied_revision, status, resources, reported_at, drift_at) VALUES ($1, $2, $3, $3, $4, $5, $6, $7)
       ON CONFLICT (node_id, spec) DO UPDATE SET applied_revision = excluded.applied_revision, status = excluded.status, resources = excluded.resources,
         reported_at = excluded.reported_at, drift_at = CASE WHEN $8 THEN excluded.reported_at ELSE node_specs.drift_at END`,
      [nodeId, spec, revision, status, JSON.stringify(resources), at, drift ? at : 0, drift],
    );
  }

  // --- health checks

  async checks(nodeId?: string): Promise<(CheckState & { nodeId: string })[]> {
    return this.#all(toCheck, 'SELECT * FROM node_checks WHERE $1::text IS NULL OR node_id = $1 ORDER BY node_id COLLATE "C", spec COLLATE "C", name COLLATE "C"', [nodeId || null]);
  }

  /** Replaces a node's checks under the node's lock; the checks it had come back from the delete. */
  async replaceChecks(nodeId: string, checks: CheckState[]): Promise<{ check: CheckState; before: boolean | undefined }[]> {
    return inTransaction(this.#pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [CHECKS_LOCK, nodeId]);
      const { rows } = await client.query<{ spec: string; name: string; passing: boolean }>('DELETE FROM node_checks WHERE node_id = $1 RETURNING spec, name, passing', [nodeId]);
      // A check named twice in the report: the later one is stored (as SQLite's INSERT OR REPLACE does).
      const stored = [...new Map(checks.map((c) => [checkKey(c), c])).values()];
      if (stored.length) {
        await client.query(
          `INSERT INTO node_checks (node_id, spec, name, passing, output, since_at, checked_at)
           SELECT $1, * FROM unnest($2::text[], $3::text[], $4::boolean[], $5::text[], $6::bigint[], $7::bigint[])`,
          [
            nodeId,
            stored.map((c) => c.spec),
            stored.map((c) => c.name),
            stored.map((c) => c.passing),
            stored.map((c) => c.output.slice(0, CHECK_OUTPUT_MAX)),
            stored.map((c) => Number(c.sinceUnixMs)),
            stored.map((c) => Number(c.checkedUnixMs)),
          ],
        );
      }
      return changedChecks(new Map(rows.map((r) => [checkKey(r), r.passing])), checks);
    });
  }

  // --- history

  async recordDeployment(d: Omit<Deployment, 'atUnixMs'>, at = Date.now()): Promise<void> {
    await this.#pool.query('INSERT INTO deployments (at, spec, revision, node_id, node_name, rollout_id, actor, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)', [
      at,
      d.spec,
      d.revision,
      d.nodeId,
      d.nodeName,
      d.rolloutId,
      d.actor,
      d.outcome,
      d.detail,
    ]);
  }

  /** The newest `limit` deployments (of a spec, to a node, when given), oldest first. */
  async deployments(filter: { spec?: string; nodeId?: string; limit: number }): Promise<Deployment[]> {
    const newest = await this.#all(
      toDeployment,
      'SELECT * FROM deployments WHERE ($1::text IS NULL OR spec = $1) AND ($2::text IS NULL OR node_id = $2) ORDER BY id DESC LIMIT $3',
      [filter.spec || null, filter.nodeId || null, filter.limit],
    );
    return newest.reverse();
  }

  // --- hosted files

  async hostedFile(sha256: string): Promise<HostedFileRecord | undefined> {
    return this.#one(toHostedFile, 'SELECT * FROM hosted_files WHERE sha256 = $1', [sha256]);
  }

  /** Records a hosted file; one already recorded under that digest is kept as it was. */
  async addHostedFile(f: HostedFileRecord): Promise<void> {
    await this.#pool.query('INSERT INTO hosted_files (sha256, name, size, created_by, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING', [
      f.sha256,
      f.name,
      f.size,
      f.createdBy,
      f.createdAt,
    ]);
  }

  async #one<T>(to: (r: Row) => T, sql: string, values: unknown[]): Promise<T | undefined> {
    const { rows } = await this.#pool.query<Row>(sql, values);
    return rows[0] && to(rows[0]);
  }

  async #all<T>(to: (r: Row) => T, sql: string, values: unknown[]): Promise<T[]> {
    const { rows } = await this.#pool.query<Row>(sql, values);
    return rows.map(to);
  }
}
