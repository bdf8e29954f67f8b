// Desired state: plan and apply specs, follow, pause, resume and roll back rollouts, read each
// spec's history, and upload the files specs refer to. A limited token may plan and apply only
// specs confined to its scope, now and for nodes that join the selector later.
import type { ApplyResponse, Deployment, ListHistoryRequest, ListHistoryResponse, ListRolloutsRequest, ListRolloutsResponse, PlanResponse, Rollout, RolloutRequest, SpecRequest, UploadFileResponse } from '../../proto/gen/fleet/v1/control';
import { NoTargetsError, RolloutNotFoundError } from '../errors';
import type { DesiredStateService, HostedFiles, RolloutEngine } from '../state';
import { Role, type AuditLog, type StateStore } from '../store';
import { actorOf, type Caller } from './caller';
import type { Gate } from './gate';
import type { NodesService } from './nodes-service';

/** Rollout states after which nothing changes any more. */
const TERMINAL = new Set(['succeeded', 'failed', 'rolled-back']);
/** The most rollouts one list answers. */
const MAX_ROLLOUTS = 500;
/** The most deployments one history answers. */
const MAX_DEPLOYMENTS = 100_000;

export interface StateDeps {
  gate: Gate;
  nodes: NodesService;
  desired: DesiredStateService;
  rollouts: RolloutEngine;
  files: HostedFiles;
  stateStore: StateStore;
  audit: AuditLog;
}

/** What an upload says about its file before the bytes. */
export interface UploadInfo {
  name: string;
  size: number;
  sha256: string;
}

export class StateService {
  readonly #d: StateDeps;

  constructor(d: StateDeps) {
    this.#d = d;
  }

  /** A limited token may plan and apply only specs confined to its scope. */
  async #requireSpecInScope(caller: Caller, req: SpecRequest): Promise<void> {
    if (!caller.principal.scope) return;
    const spec = this.#d.desired.parse(req.yaml, req.fileName);
    this.#d.gate.access.requireSelector(caller.principal, spec.selector, `spec ${spec.name}`);
    this.#d.gate.access.requireNodes(caller.principal, await this.#d.desired.targets(spec), `spec ${spec.name}`);
  }

  /** A rollout the caller may see: every node in it within its scope. */
  async #visibleRollout(caller: Caller, id: string, operation: string): Promise<Rollout> {
    const r = await this.#d.rollouts.toProto(id);
    if (!(await this.#d.gate.access.seesIds(caller.principal, r.nodes.map((n) => n.nodeId)))) {
      await this.#d.gate.hidden(caller, operation, `rollout ${r.id}`);
      throw new RolloutNotFoundError(id);
    }
    return r;
  }

  async planSpec(caller: Caller, req: SpecRequest): Promise<PlanResponse> {
    this.#d.gate.require(caller, Role.Operator);
    await this.#requireSpecInScope(caller, req);
    return await this.#d.desired.plan(req.yaml, req.fileName, actorOf(caller));
  }

  async applySpec(caller: Caller, req: SpecRequest): Promise<ApplyResponse> {
    this.#d.gate.require(caller, Role.Operator);
    const actor = actorOf(caller);
    await this.#requireSpecInScope(caller, req);
    const spec = this.#d.desired.parse(req.yaml, req.fileName);
    const targets = await this.#d.desired.targets(spec);
    if (targets.length === 0) throw new NoTargetsError(`the selector of spec ${spec.name} ("${spec.selector}")`);
    const { revision, changed } = await this.#d.desired.storeRevision(spec, req.yaml, actor);
    const rollout = await this.#d.rollouts.start(spec, revision.revision, targets, actor);
    return { spec: spec.name, revision: revision.revision, specChanged: changed, rollout: await this.#d.rollouts.toProto(rollout.id) };
  }

  /** Rollouts, newest first, without their per-node lists. */
  async listRollouts(caller: Caller, req: ListRolloutsRequest): Promise<ListRolloutsResponse> {
    this.#d.gate.require(caller, Role.Viewer);
    const rollouts: Rollout[] = [];
    for (const record of await this.#d.stateStore.rollouts(Math.min(req.limit || 20, MAX_ROLLOUTS), req.spec || undefined)) {
      const r = await this.#d.rollouts.toProto(record.id);
      if (await this.#d.gate.access.seesIds(caller.principal, r.nodes.map((n) => n.nodeId))) rollouts.push({ ...r, nodes: [] });
    }
    return { rollouts };
  }

  async getRollout(caller: Caller, req: RolloutRequest): Promise<Rollout> {
    this.#d.gate.require(caller, Role.Viewer);
    return this.#visibleRollout(caller, req.id, 'GetRollout');
  }

  async pauseRollout(caller: Caller, req: RolloutRequest): Promise<Rollout> {
    this.#d.gate.require(caller, Role.Operator);
    await this.#visibleRollout(caller, req.id, 'PauseRollout');
    return this.#d.rollouts.toProto((await this.#d.rollouts.pause(req.id, actorOf(caller))).id);
  }

  async resumeRollout(caller: Caller, req: RolloutRequest): Promise<Rollout> {
    this.#d.gate.require(caller, Role.Operator);
    await this.#visibleRollout(caller, req.id, 'ResumeRollout');
    return this.#d.rollouts.toProto((await this.#d.rollouts.resume(req.id, actorOf(caller))).id);
  }

  async rollbackRollout(caller: Caller, req: RolloutRequest): Promise<Rollout> {
    this.#d.gate.require(caller, Role.Operator);
    await this.#visibleRollout(caller, req.id, 'RollbackRollout');
    return this.#d.rollouts.toProto((await this.#d.rollouts.rollback(req.id, actorOf(caller))).id);
  }

  /**
   * Sends the rollout now and again at every change until it ends (`send` gets `done` true on the
   * last one); returns a function that stops following.
   */
  async watchRollout(caller: Caller, req: RolloutRequest, send: (rollout: Rollout, done: boolean) => void): Promise<() => void> {
    this.#d.gate.require(caller, Role.Viewer);
    await this.#visibleRollout(caller, req.id, 'WatchRollout');
    let stop = () => {};
    let ended = false;
    // Changes come faster than a shared store answers: one read at a time, and one more after
    // it when something changed meanwhile, so the last state is always sent.
    let reading = false;
    let again = false;
    const update = async () => {
      if (reading) {
        again = true;
        return;
      }
      reading = true;
      try {
        do {
          again = false;
          if (ended) return;
          const r = await this.#d.rollouts.toProto(req.id);
          if (ended) return;
          ended = TERMINAL.has(r.state);
          if (ended) stop();
          send(r, ended);
        } while (again);
      } finally {
        reading = false;
      }
    };
    const changed = () => void update().catch(() => {});
    stop = this.#d.rollouts.watch(req.id, changed);
    await update();
    return () => {
      ended = true;
      stop();
    };
  }

  async listHistory(caller: Caller, req: ListHistoryRequest): Promise<ListHistoryResponse> {
    this.#d.gate.require(caller, Role.Viewer);
    const nodeId = req.node ? (await this.#d.nodes.visible(caller, req.node, 'ListHistory')).id : undefined;
    const deployments: Deployment[] = [];
    for (const x of await this.#d.stateStore.deployments({ spec: req.spec || undefined, nodeId, limit: Math.min(req.limit || 1000, MAX_DEPLOYMENTS) })) {
      if (await this.#d.gate.access.seesIds(caller.principal, [x.nodeId])) deployments.push(x);
    }
    const specs = new Set(deployments.map((x) => x.spec));
    if (req.spec) specs.add(req.spec);
    return { deployments, revisions: (await this.#d.stateStore.revisions(req.spec || undefined)).filter((r) => specs.has(r.spec) || !req.node) };
  }

  /**
   * Checks that the caller may upload (before any byte is read), then stores the file from
   * `data`; `existed` when the server had it already.
   */
  async uploadFile(caller: Caller, info: () => Promise<UploadInfo>, data: AsyncIterable<Buffer>): Promise<UploadFileResponse> {
    this.#d.gate.require(caller, Role.Operator);
    const actor = actorOf(caller);
    const meta = await info();
    const existed = await this.#d.files.store(meta, data, actor);
    if (!existed) await this.#d.audit.record({ actor, action: 'file.upload', target: meta.name, ok: true, detail: `sha256 ${meta.sha256}, ${meta.size} bytes` });
    return { sha256: meta.sha256, size: meta.size, existed };
  }
}
