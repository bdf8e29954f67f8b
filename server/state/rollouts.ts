// The rollout engine: takes a spec revision to its nodes batch by batch. Each batch is applied,
// then must pass the spec's health checks for the health gate before the next one starts. Past
// maxErrors (or when every node failed) the rollout stops and, with autoRollback, returns every node
// it touched to the revision it had before — revision 0 meaning the spec's removal. Every step is
// stored, so a restarted server carries on where it stopped.
import type { Logger } from 'pino';
import type { DesiredState, Spec } from '../../common/spec';
import { parseDuration } from '../../common/duration';
import type { Rollout } from '../../proto/gen/fleet/v1/control';
import type { StateReport } from '../../proto/gen/fleet/v1/agent';
import type { Presence } from '../agent-hub';
import { LocalBus, LocalLeases, rolloutTopic, type DriverLeases, type EventBus } from '../bus';
import { RolloutConflictError, RolloutNotFoundError } from '../errors';
import { newId } from '../ids';
import { type AuditLog, type NodeRecord, NodeRolloutState, type NodeStore, type RolloutNodeRecord, type RolloutRecord, RolloutState, type StateStore } from '../store';
import { APPLY_TIMEOUT_MS, type DesiredStateService } from './desired-state';
import type { Webhooks } from './webhooks';

/** How long a batch waits for an offline node to come back before counting it as failed. */
const OFFLINE_WAIT_MS = 60_000;
const POLL_MS = 250;

const FAILED_STATES: readonly string[] = [NodeRolloutState.Failed, NodeRolloutState.Unhealthy, NodeRolloutState.Offline];
const TOUCHED_STATES: readonly string[] = [NodeRolloutState.Applying, NodeRolloutState.Applied, NodeRolloutState.Unchanged, NodeRolloutState.Healthy, NodeRolloutState.Unhealthy, NodeRolloutState.Failed, NodeRolloutState.RollingBack];

export interface RolloutDeps {
  store: StateStore;
  nodes: NodeStore;
  /** Which nodes are online (the agent hub, or a replica's view of every hub). */
  hub: Presence;
  state: DesiredStateService;
  audit: AuditLog;
  webhooks: Webhooks;
  log: Logger;
  /** Where rollout changes go to watchers (default: in-process). */
  bus?: EventBus;
  /** Which rollouts this server drives (default: all it starts or finds unfinished). */
  leases?: DriverLeases;
  /** Other replicas drive rollouts too: look for unfinished rollouts whose driver's lease lapsed every `scanMs`. */
  replicated?: { scanMs: number };
}

/** Nodes per batch for `batch` (a count or "N%") over `total` nodes; at least 1. */
export function batchSize(batch: number | string, total: number): number {
  if (typeof batch === 'number') return Math.max(1, batch);
  return Math.max(1, Math.ceil((total * Number(batch.replace('%', ''))) / 100));
}

/** Where a rollout stands after one of its batches. */
export interface BatchTally {
  /** Nodes of the rollout failed so far (failed, unhealthy, offline), in every batch done. */
  errors: number;
  /** Nodes in the rollout. */
  total: number;
  maxErrors: number;
  /** The batch just done (zero-based) and how many there are. */
  batch: number;
  batches: number;
  /** A rollback rollout (`fleet rollouts rollback`). */
  rollback: boolean;
}

/**
 * Why the rollout stops after this batch, or null when it goes on. maxErrors is how many failed
 * nodes a rollout may carry and still go on — never a way to succeed with nothing deployed: once
 * every node has failed, the rollout has failed. A rollback tolerates no failure at all: a node
 * it could not return is left broken, which is not a successful rollback.
 */
export function stopReason(t: BatchTally): string | null {
  if (t.rollback) return t.errors > 0 ? `rollback failed on ${t.errors} of ${t.total} node(s)` : null;
  if (t.errors > t.maxErrors) return `${t.errors} node(s) failed in batch ${t.batch + 1} of ${t.batches} (maxErrors ${t.maxErrors})`;
  if (t.batch + 1 >= t.batches && t.total > 0 && t.errors === t.total) return `all ${t.total} node(s) failed`;
  return null;
}

/** Why a node's report is a failure (its error, or its failed resources), or null when it is not one. */
export function reportFailure(report: StateReport | null, timeoutMs: number): string | null {
  if (!report) return `no answer within ${timeoutMs / 60_000} min`;
  const failed = report.resources.filter((x) => x.status === 'failed');
  if (report.error || failed.length > 0) return report.error || failed.map((x) => `${x.id}: ${x.error}`).join('; ');
  return null;
}

/** A node's error once its rollback failed: what went wrong first, then why the rollback failed. */
export function rollbackError(original: string, why: string): string {
  return original ? `${original}; rollback failed: ${why}` : `rollback failed: ${why}`;
}

export class RolloutEngine {
  readonly #d: RolloutDeps;
  readonly #driving = new Set<string>();
  readonly #bus: EventBus;
  readonly #leases: DriverLeases;
  /** When each node was last sent an apply (health reports after it are fresh). */
  readonly #appliedAt = new Map<string, number>();
  #stopped = false;
  /** Rollouts whose lease this server lost while driving them: their drive stops at the next step. */
  readonly #lost = new Set<string>();
  #scanTimer: NodeJS.Timeout | undefined;

  constructor(deps: RolloutDeps) {
    this.#d = deps;
    this.#bus = deps.bus ?? new LocalBus(deps.log);
    this.#leases = deps.leases ?? new LocalLeases();
    this.#leases.onLost((id) => {
      if (!this.#driving.has(id)) return;
      this.#d.log.warn({ rollout: id }, 'lost the lease on a rollout; another replica drives it now');
      this.#lost.add(id);
    });
  }

  /**
   * Carries on with the rollouts that were going when the server stopped; with other replicas,
   * also every scanMs with those whose driver stopped (its lease lapsed).
   */
  async resumeUnfinished(): Promise<void> {
    await this.#resume();
    const scanMs = this.#d.replicated?.scanMs;
    if (scanMs && !this.#scanTimer) {
      this.#scanTimer = setInterval(() => {
        this.#resume().catch((err: unknown) => this.#d.log.warn({ err }, 'could not look for rollouts to take over'));
      }, scanMs);
      this.#scanTimer.unref();
    }
  }

  async #resume(): Promise<void> {
    for (const r of await this.#d.store.unfinishedRollouts()) {
      if (this.#driving.has(r.id) || this.#stopped) continue;
      void this.#drive(r.id, () => this.#d.log.info({ rollout: r.id, spec: r.spec, batch: r.currentBatch }, 'resuming rollout'));
    }
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#scanTimer);
  }

  /** Starts rolling `revision` of `spec` out to `targets`. */
  async start(spec: Spec, revision: number, targets: NodeRecord[], actor: string): Promise<RolloutRecord> {
    const active = await this.#d.store.activeRollout(spec.name);
    if (active) throw new RolloutConflictError(`rollout ${active.id} of ${spec.name} is still ${active.state}; wait for it, or \`fleet rollouts rollback ${active.id}\``);
    const size = batchSize(spec.rollout.batch, targets.length);
    const now = Date.now();
    const record: RolloutRecord = {
      id: newId('r'),
      spec: spec.name,
      revision,
      previousRevision: revision > 1 ? revision - 1 : 0,
      state: RolloutState.Running,
      reason: '',
      batchSize: size,
      currentBatch: 0,
      maxErrors: spec.rollout.maxErrors,
      healthGateMs: parseDuration(spec.rollout.healthGate),
      autoRollback: spec.rollout.autoRollback,
      rollbackOf: '',
      createdBy: actor,
      createdAt: now,
      updatedAt: now,
    };
    const applied = new Map<string, number>();
    for (const n of targets) applied.set(n.id, (await this.#d.store.nodeSpec(n.id, spec.name))?.appliedRevision ?? 0);
    await this.#d.store.createRollout(
      record,
      targets.map((n, i) => ({ nodeId: n.id, nodeName: n.name, batch: Math.floor(i / size), position: i, fromRevision: applied.get(n.id)!, toRevision: revision })),
    );
    await this.#d.audit.record({ actor, action: 'rollout.start', target: spec.name, ok: true, detail: `${record.id}: revision ${revision} to ${targets.length} node(s), batches of ${size}` });
    void this.#drive(record.id);
    return record;
  }

  /** Starts a rollout that returns the nodes `id` touched to the revisions they had before it. */
  async rollback(id: string, actor: string): Promise<RolloutRecord> {
    const original = await this.#get(id);
    const active = await this.#d.store.activeRollout(original.spec);
    if (active) throw new RolloutConflictError(`rollout ${active.id} of ${original.spec} is still ${active.state}; pause it or wait for it first`);
    const touched = (await this.#d.store.rolloutNodes(id)).filter((n) => n.state !== NodeRolloutState.Waiting && n.state !== NodeRolloutState.RolledBack);
    if (touched.length === 0) throw new RolloutConflictError(`rollout ${id} left no node to roll back`);
    const now = Date.now();
    const record: RolloutRecord = {
      ...original,
      id: newId('r'),
      revision: original.previousRevision,
      previousRevision: original.revision,
      state: RolloutState.Running,
      reason: '',
      batchSize: touched.length,
      currentBatch: 0,
      // Every node is tried (one batch), and any that cannot be returned fails the rollback.
      maxErrors: 0,
      healthGateMs: 0,
      autoRollback: false,
      rollbackOf: id,
      createdBy: actor,
      createdAt: now,
      updatedAt: now,
    };
    await this.#d.store.createRollout(
      record,
      touched.map((n, i) => ({ nodeId: n.nodeId, nodeName: n.nodeName, batch: 0, position: i, fromRevision: n.toRevision, toRevision: n.fromRevision })),
    );
    await this.#d.audit.record({ actor, action: 'rollout.rollback', target: original.spec, ok: true, detail: `${record.id} undoes ${id} on ${touched.length} node(s)` });
    void this.#drive(record.id);
    return record;
  }

  async pause(id: string, actor: string): Promise<RolloutRecord> {
    const r = await this.#get(id);
    if (r.state !== RolloutState.Running) throw new RolloutConflictError(`rollout ${id} is ${r.state}; only a running rollout can be paused`);
    await this.#d.store.updateRollout(id, { state: RolloutState.Paused, reason: `paused by ${actor}` });
    await this.#d.audit.record({ actor, action: 'rollout.pause', target: r.spec, ok: true, detail: id });
    this.#changed(id);
    return await this.#get(id);
  }

  async resume(id: string, actor: string): Promise<RolloutRecord> {
    const r = await this.#get(id);
    if (r.state !== RolloutState.Paused) throw new RolloutConflictError(`rollout ${id} is ${r.state}; only a paused rollout can be resumed`);
    await this.#d.store.updateRollout(id, { state: RolloutState.Running, reason: '' });
    await this.#d.audit.record({ actor, action: 'rollout.resume', target: r.spec, ok: true, detail: id });
    this.#changed(id);
    void this.#drive(id);
    return await this.#get(id);
  }

  /** Calls `listener` whenever the rollout changes; returns the unsubscribe function. */
  watch(id: string, listener: () => void): () => void {
    return this.#bus.subscribe(rolloutTopic(id), listener);
  }

  /** The rollout with its nodes, as the Control service returns it. */
  async toProto(id: string): Promise<Rollout> {
    const r = await this.#get(id);
    const nodes = await this.#d.store.rolloutNodes(id);
    const batches = nodes.length === 0 ? 0 : Math.max(...nodes.map((n) => n.batch)) + 1;
    return {
      id: r.id,
      spec: r.spec,
      revision: r.revision,
      previousRevision: r.previousRevision,
      state: r.state,
      reason: r.reason,
      createdBy: r.createdBy,
      createdUnixMs: r.createdAt,
      updatedUnixMs: r.updatedAt,
      batchSize: r.batchSize,
      batches,
      currentBatch: Math.min(r.currentBatch, batches),
      maxErrors: r.maxErrors,
      errors: nodes.filter((n) => FAILED_STATES.includes(n.state)).length,
      healthGateMs: r.healthGateMs,
      autoRollback: r.autoRollback,
      rollbackOf: r.rollbackOf,
      nodes: nodes.map((n) => ({ nodeId: n.nodeId, nodeName: n.nodeName, batch: n.batch, state: n.state, resources: n.resources, error: n.error, updatedUnixMs: n.updatedAt })),
    };
  }

  async #get(id: string): Promise<RolloutRecord> {
    const r = await this.#d.store.rollout(id);
    if (!r) throw new RolloutNotFoundError(id);
    return r;
  }

  #changed(id: string): void {
    this.#bus.publish(rolloutTopic(id), null);
  }

  async #setNode(r: RolloutRecord, n: RolloutNodeRecord, state: NodeRolloutState, report?: StateReport | null, error = ''): Promise<void> {
    await this.#d.store.updateRolloutNode(r.id, n.nodeId, state, report?.resources, error);
    this.#changed(r.id);
  }

  async #finish(id: string, state: RolloutState, reason: string): Promise<void> {
    await this.#d.store.updateRollout(id, { state, reason });
    const r = await this.#get(id);
    await this.#d.audit.record({ actor: r.createdBy, action: 'rollout.end', target: r.spec, ok: state === RolloutState.Succeeded, detail: `${id}: ${state}${reason ? ` (${reason})` : ''}` });
    this.#d.log.info({ rollout: id, spec: r.spec, state, reason }, 'rollout ended');
    if (state !== RolloutState.Succeeded) {
      this.#d.webhooks.notify({ type: 'rollout', rollout: id, spec: r.spec, revision: r.revision, state, reason, at: new Date().toISOString() });
    }
    if (r.rollbackOf) (await this.#settleUndone(r.rollbackOf, id, state === RolloutState.Succeeded));
    this.#changed(id);
  }

  /**
   * After rollback `by` of rollout `id` ended: `id` is rolled back only when the rollback
   * succeeded; either way its reason keeps why it failed and says what became of the rollback.
   */
  async #settleUndone(id: string, by: string, succeeded: boolean): Promise<void> {
    const original = await this.#d.store.rollout(id);
    if (!original) return;
    const said = original.reason ? `${original.reason}; ` : '';
    if (succeeded) (await this.#d.store.updateRollout(id, { state: RolloutState.RolledBack, reason: `${said}rolled back by ${by}` }));
    else (await this.#d.store.updateRollout(id, { reason: `${said}rollback ${by} failed` }));
    this.#changed(id);
  }

  async #drive(id: string, claimed?: () => void): Promise<void> {
    if (this.#driving.has(id)) return;
    this.#driving.add(id);
    this.#lost.delete(id);
    let drove = false;
    try {
      // With shared leases another replica may be driving it; its changes reach watchers over the bus.
      if (!(await this.#leases.claim(id))) return;
      drove = true;
      claimed?.();
      while (!this.#stopped && !this.#lost.has(id)) {
        const r = await this.#get(id);
        if (r.state === RolloutState.Running) {
          if (!(await this.#runBatch(r))) return;
        } else if (r.state === RolloutState.RollingBack) {
          await this.#rollBack(r);
          return;
        } else {
          return;
        }
      }
    } catch (err) {
      this.#d.log.error({ err, rollout: id }, 'rollout failed unexpectedly');
      await this.#finish(id, RolloutState.Failed, `internal error: ${(err as Error).message}`).catch((e: unknown) => this.#d.log.error({ err: e, rollout: id }, 'could not store that the rollout failed'));
    } finally {
      this.#driving.delete(id);
      // Stopping keeps the lease until it runs out (another replica takes over after that).
      if (drove && !this.#stopped && !this.#lost.delete(id)) await this.#leases.release(id).catch((err: unknown) => this.#d.log.error({ err, rollout: id }, 'could not release the lease of a rollout'));
    }
  }

  /** Runs the current batch; false when the rollout is over. */
  async #runBatch(r: RolloutRecord): Promise<boolean> {
    const nodes = await this.#d.store.rolloutNodes(r.id);
    const batches = nodes.length === 0 ? 0 : Math.max(...nodes.map((n) => n.batch)) + 1;
    if (r.currentBatch >= batches) {
      await this.#finish(r.id, RolloutState.Succeeded, '');
      return false;
    }
    const revision = await this.#d.store.revision(r.spec, r.revision);
    const spec = revision && this.#d.state.specOf(revision);
    const batch = nodes.filter((n) => n.batch === r.currentBatch);
    await Promise.all(batch.filter((n) => n.state === NodeRolloutState.Waiting || n.state === NodeRolloutState.Applying).map((n) => this.#applyNode(r, n)));
    if (spec && spec.checks.length > 0) await this.#healthGate(r, spec);
    const all = await this.#d.store.rolloutNodes(r.id);
    const errors = all.filter((n) => FAILED_STATES.includes(n.state)).length;
    const reason = stopReason({ errors, total: all.length, maxErrors: r.maxErrors, batch: r.currentBatch, batches, rollback: r.rollbackOf !== '' });
    if (reason !== null) {
      if (r.autoRollback) {
        await this.#d.store.updateRollout(r.id, { state: RolloutState.RollingBack, reason });
        this.#changed(r.id);
        return true;
      }
      await this.#finish(r.id, RolloutState.Failed, reason);
      return false;
    }
    await this.#d.store.updateRollout(r.id, { currentBatch: r.currentBatch + 1 });
    this.#changed(r.id);
    return true;
  }

  /** Waits (a while) for an offline node; true when it is online. */
  async #waitOnline(nodeId: string): Promise<boolean> {
    for (const until = Date.now() + OFFLINE_WAIT_MS; !this.#stopped; ) {
      if (this.#d.hub.isOnline(nodeId)) return true;
      if (Date.now() > until) return false;
      await new Promise((res) => setTimeout(res, POLL_MS));
    }
    return false;
  }

  async #applyNode(r: RolloutRecord, n: RolloutNodeRecord): Promise<void> {
    const node = await this.#d.nodes.get(n.nodeId);
    if (!node) return await this.#setNode(r, n, NodeRolloutState.Failed, null, 'node was removed');
    await this.#setNode(r, n, NodeRolloutState.Applying);
    if (!(await this.#waitOnline(n.nodeId))) {
      await this.#record(r, n, 'failed', 'offline');
      return await this.#setNode(r, n, NodeRolloutState.Offline, null, `offline for ${OFFLINE_WAIT_MS / 1000} s`);
    }
    let desired: DesiredState;
    try {
      desired = await this.#d.state.desiredFor(r.spec, n.toRevision, node);
    } catch (err) {
      await this.#record(r, n, 'failed', (err as Error).message);
      return await this.#setNode(r, n, NodeRolloutState.Failed, null, (err as Error).message);
    }
    await this.#d.store.setDesired(n.nodeId, r.spec, n.toRevision);
    this.#appliedAt.set(n.nodeId, Date.now());
    const report = await this.#d.state.send(n.nodeId, desired, { dryRun: false, rolloutId: r.id, timeoutMs: APPLY_TIMEOUT_MS });
    const why = reportFailure(report, APPLY_TIMEOUT_MS);
    if (!report || why !== null) {
      await this.#record(r, n, 'failed', report ? why! : 'no report in time');
      return await this.#setNode(r, n, NodeRolloutState.Failed, report, why!);
    }
    const changed = report.resources.some((x) => x.status !== 'ok');
    await this.#record(r, n, r.rollbackOf ? 'rolled-back' : changed ? 'applied' : 'unchanged', report.resources.filter((x) => x.status !== 'ok').map((x) => x.id).join(', '));
    await this.#setNode(r, n, changed ? NodeRolloutState.Applied : NodeRolloutState.Unchanged, report);
  }

  async #record(r: RolloutRecord, n: RolloutNodeRecord, outcome: string, detail: string): Promise<void> {
    await this.#d.store.recordDeployment({ spec: r.spec, revision: n.toRevision, nodeId: n.nodeId, nodeName: n.nodeName, rolloutId: r.id, actor: r.createdBy, outcome, detail: detail.slice(0, 2000) });
  }

  /**
   * Waits until every applied node of the batch has reported all of the spec's checks passing,
   * continuously for the health gate, after the apply; a node that does not get there in time is
   * unhealthy.
   */
  async #healthGate(r: RolloutRecord, spec: Spec): Promise<void> {
    const slowest = Math.max(...spec.checks.map((c) => parseDuration(c.interval) + parseDuration(c.timeout)));
    const start = Date.now();
    const deadline = start + r.healthGateMs + 2 * slowest + 5000;
    const pending = new Map(
      (await this.#d.store.rolloutNodes(r.id))
        .filter((n) => n.batch === r.currentBatch && (n.state === NodeRolloutState.Applied || n.state === NodeRolloutState.Unchanged))
        .map((n) => [n.nodeId, n]),
    );
    const okSince = new Map<string, number>();
    while (pending.size > 0 && !this.#stopped) {
      const now = Date.now();
      for (const [nodeId, n] of pending) {
        const checks = (await this.#d.store.checks(nodeId)).filter((c) => c.spec === r.spec);
        // Results the agent sent after this apply (it reports every check once they have all run
        // again), or, failing that, whatever is known once every check has had time to run.
        const fresh = this.#d.state.healthReportedAt(nodeId) >= (this.#appliedAt.get(nodeId) ?? start) || now - start > slowest;
        const passing = fresh && spec.checks.every((c) => checks.some((s) => s.name === c.name && s.passing));
        if (!passing) okSince.delete(nodeId);
        else if (!okSince.has(nodeId)) okSince.set(nodeId, now);
        if (passing && now - okSince.get(nodeId)! >= r.healthGateMs) {
          pending.delete(nodeId);
          await this.#setNode(r, n, NodeRolloutState.Healthy);
        } else if (now > deadline) {
          pending.delete(nodeId);
          const failing = checks.filter((c) => !c.passing).map((c) => `${c.name}: ${c.output}`);
          const why = `health checks not passing for ${Math.round(r.healthGateMs / 1000)} s${failing.length ? ` (${failing.join('; ')})` : ''}`;
          await this.#record(r, n, 'unhealthy', why);
          await this.#setNode(r, n, NodeRolloutState.Unhealthy, null, why);
        }
      }
      if (pending.size > 0) await new Promise((res) => setTimeout(res, POLL_MS));
    }
  }

  /**
   * Returns every node the rollout touched to the revision it had before (its removal, for a
   * node that had none). The rollout ends rolled-back only when every node went back; otherwise
   * failed, and each node that could not go back keeps its first error beside the rollback's.
   */
  async #rollBack(r: RolloutRecord): Promise<void> {
    const nodes = (await this.#d.store.rolloutNodes(r.id)).filter((n) => n.batch <= r.currentBatch && TOUCHED_STATES.includes(n.state));
    let failures = 0;
    await Promise.all(
      nodes.map(async (n) => {
        await this.#d.store.updateRolloutNode(r.id, n.nodeId, NodeRolloutState.RollingBack, undefined, n.error);
        this.#changed(r.id);
        const why = await this.#returnNode(r, n);
        if (why !== null) failures++;
        await this.#d.store.recordDeployment({ spec: r.spec, revision: n.fromRevision, nodeId: n.nodeId, nodeName: n.nodeName, rolloutId: r.id, actor: r.createdBy, outcome: why === null ? 'rolled-back' : 'failed', detail: why === null ? `from revision ${n.toRevision}` : `rollback failed: ${why}`.slice(0, 2000) });
      }),
    );
    if (failures === 0) (await this.#finish(r.id, RolloutState.RolledBack, `${r.reason}; ${nodes.length} of ${nodes.length} node(s) rolled back`));
    else (await this.#finish(r.id, RolloutState.Failed, `${r.reason}; rollback failed on ${failures} of ${nodes.length} node(s)${failures < nodes.length ? ` (${nodes.length - failures} rolled back)` : ''}`));
  }

  /** Sends one node the revision it had before the rollout; returns why that failed, or null. */
  async #returnNode(r: RolloutRecord, n: RolloutNodeRecord): Promise<string | null> {
    const node = await this.#d.nodes.get(n.nodeId);
    let why: string | null;
    let report: StateReport | null = null;
    if (!node) why = 'node was removed';
    else if (!(await this.#waitOnline(n.nodeId))) why = `offline for ${OFFLINE_WAIT_MS / 1000} s`;
    else {
      try {
        const desired = await this.#d.state.desiredFor(r.spec, n.fromRevision, node);
        await this.#d.store.setDesired(n.nodeId, r.spec, n.fromRevision);
        report = await this.#d.state.send(n.nodeId, desired, { dryRun: false, rolloutId: r.id, timeoutMs: APPLY_TIMEOUT_MS });
        why = reportFailure(report, APPLY_TIMEOUT_MS);
      } catch (err) {
        why = (err as Error).message;
      }
    }
    if (why === null) (await this.#setNode(r, n, NodeRolloutState.RolledBack, report, n.error));
    else (await this.#setNode(r, n, NodeRolloutState.Failed, report, rollbackError(n.error, why)));
    return why;
  }
}
