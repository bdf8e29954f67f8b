// The Control service's desired-state calls: plan, apply, rollouts, node state, health, history
// and file uploads. Plugged into createControlService, which supplies authentication.
import type { ServerReadableStream, ServerWritableStream, handleUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import type { Rollout, UploadFileFrame, UploadFileResponse } from '../../proto/gen/fleet/v1/control';
import { parseSelector } from '../../common/labels';
import { toGrpcStatus } from '../../transport';
import type { Principal } from '../auth';
import type { AgentHub } from '../agent-hub';
import { HostedFileError, NoTargetsError, RolloutNotFoundError } from '../errors';
import type { AuditLog } from '../store/audit-log';
import type { NodeRecord, NodeStore } from '../store/node-store';
import type { StateStore } from '../store/state-store';
import { Role } from '../store/token-store';
import type { Access } from '../access';
import type { ApiAuth } from '../auth';
import type { Logger } from 'pino';
import type { DesiredStateService } from './desired-state';
import type { HostedFiles } from './hosted-files';
import type { RolloutEngine } from './rollouts';

type Unary = <Req, Res>(role: Role, handler: (request: Req, principal: Principal) => Res | Promise<Res>) => handleUnaryCall<Req, Res>;

export interface StateHandlerDeps {
  unary: Unary;
  actorOf: (p: Principal) => string;
  /** A node the principal may see (NodeNotFoundError otherwise). */
  findNode: (nameOrId: string, principal: Principal, method: string) => NodeRecord;
  /** Audits a refusal answered as "not found" (something outside the token's scope). */
  hidden: (principal: Principal, method: string, what: string) => void;
  auth: ApiAuth;
  access: Access;
  hub: AgentHub;
  nodes: NodeStore;
  audit: AuditLog;
  desired: DesiredStateService;
  rollouts: RolloutEngine;
  files: HostedFiles;
  stateStore: StateStore;
  log: Logger;
}

const TERMINAL = ['succeeded', 'failed', 'rolled-back'];

/** Handlers for ControlService's desired-state methods. */
export function createStateHandlers(d: StateHandlerDeps) {
  const { unary } = d;
  /** A limited token may plan and apply only specs confined to its scope (now and for nodes that join later). */
  const requireSpecInScope = (yaml: string, fileName: string, p: Principal) => {
    if (!p.scope) return;
    const spec = d.desired.parse(yaml, fileName);
    d.access.requireSelector(p, spec.selector, `spec ${spec.name}`);
    d.access.requireNodes(p, d.desired.targets(spec), `spec ${spec.name}`);
  };
  /** A rollout the principal may see: every node in it within its scope. */
  const visibleRollout = (id: string, p: Principal, method: string) => {
    const r = d.rollouts.toProto(id);
    if (!d.access.seesIds(p, r.nodes.map((n) => n.nodeId))) {
      d.hidden(p, method, `rollout ${r.id}`);
      throw new RolloutNotFoundError(id);
    }
    return r;
  };
  return {
    planSpec: unary(Role.Operator, (req: { yaml: string; fileName: string }, p) => {
      requireSpecInScope(req.yaml, req.fileName, p);
      return d.desired.plan(req.yaml, req.fileName, d.actorOf(p));
    }),

    applySpec: unary(Role.Operator, (req: { yaml: string; fileName: string }, p) => {
      const actor = d.actorOf(p);
      requireSpecInScope(req.yaml, req.fileName, p);
      const spec = d.desired.parse(req.yaml, req.fileName);
      const targets = d.desired.targets(spec);
      if (targets.length === 0) throw new NoTargetsError(`the selector of spec ${spec.name} ("${spec.selector}")`);
      const { revision, changed } = d.desired.storeRevision(spec, req.yaml, actor);
      const rollout = d.rollouts.start(spec, revision.revision, targets, actor);
      return { spec: spec.name, revision: revision.revision, specChanged: changed, rollout: d.rollouts.toProto(rollout.id) };
    }),

    listRollouts: unary(Role.Viewer, (req: { spec: string; limit: number }, p) => ({
      rollouts: d.stateStore
        .rollouts(Math.min(req.limit || 20, 500), req.spec || undefined)
        .map((r) => d.rollouts.toProto(r.id))
        .filter((r) => d.access.seesIds(p, r.nodes.map((n) => n.nodeId)))
        .map((r) => ({ ...r, nodes: [] })),
    })),
    getRollout: unary(Role.Viewer, (req: { id: string }, p) => visibleRollout(req.id, p, 'GetRollout')),
    pauseRollout: unary(Role.Operator, (req: { id: string }, p) => {
      visibleRollout(req.id, p, 'PauseRollout');
      return d.rollouts.toProto(d.rollouts.pause(req.id, d.actorOf(p)).id);
    }),
    resumeRollout: unary(Role.Operator, (req: { id: string }, p) => {
      visibleRollout(req.id, p, 'ResumeRollout');
      return d.rollouts.toProto(d.rollouts.resume(req.id, d.actorOf(p)).id);
    }),
    rollbackRollout: unary(Role.Operator, (req: { id: string }, p) => {
      visibleRollout(req.id, p, 'RollbackRollout');
      return d.rollouts.toProto(d.rollouts.rollback(req.id, d.actorOf(p)).id);
    }),

    watchRollout: (call: ServerWritableStream<{ id: string }, Rollout>) => {
      let stop = () => {};
      try {
        const principal = d.auth.authenticate(call);
        d.auth.require(principal, Role.Viewer);
        visibleRollout(call.request.id, principal, 'WatchRollout');
        const send = () => {
          const r = d.rollouts.toProto(call.request.id);
          call.write(r);
          if (TERMINAL.includes(r.state)) {
            stop();
            call.end();
          }
        };
        stop = d.rollouts.watch(call.request.id, send);
        send();
      } catch (err) {
        stop();
        call.emit('error', toGrpcStatus(err).status);
        return;
      }
      call.on('cancelled', stop);
      call.on('close', stop);
    },

    getNodeState: unary(Role.Viewer, (req: { node: string }, p) => {
      const node = d.findNode(req.node, p, 'GetNodeState');
      return {
        nodeId: node.id,
        nodeName: node.name,
        online: d.hub.isOnline(node.id),
        specs: d.stateStore.nodeSpecs(node.id).map((s) => ({
          spec: s.spec,
          desiredRevision: s.desiredRevision,
          appliedRevision: s.appliedRevision,
          status: s.status,
          resources: s.resources,
          reportedUnixMs: s.reportedAt,
          driftUnixMs: s.driftAt,
        })),
        checks: d.stateStore.checks(node.id),
      };
    }),

    listHealth: unary(Role.Viewer, (req: { selector: string }, p) => {
      const nodes = d.nodes.list();
      const selector = parseSelector(req.selector);
      return {
        nodes: nodes
          .filter((n) => selector.matches(n.labels) && d.access.sees(p, n))
          .sort((a, b) => a.name.localeCompare(b.name))
          .map((n) => ({ nodeId: n.id, nodeName: n.name, online: d.hub.isOnline(n.id), checks: d.stateStore.checks(n.id) })),
      };
    }),

    listHistory: unary(Role.Viewer, (req: { spec: string; node: string; limit: number }, p) => {
      const nodeId = req.node ? d.findNode(req.node, p, 'ListHistory').id : undefined;
      const deployments = d.stateStore
        .deployments({ spec: req.spec || undefined, nodeId, limit: Math.min(req.limit || 1000, 100_000) })
        .filter((x) => d.access.seesIds(p, [x.nodeId]));
      const specs = new Set(deployments.map((x) => x.spec));
      if (req.spec) specs.add(req.spec);
      return { deployments, revisions: d.stateStore.revisions(req.spec || undefined).filter((r) => specs.has(r.spec) || !req.node) };
    }),

    uploadFile: (call: ServerReadableStream<UploadFileFrame, UploadFileResponse>, callback: sendUnaryData<UploadFileResponse>) => {
      let actor: string;
      try {
        const principal = d.auth.authenticate(call);
        d.auth.require(principal, Role.Operator);
        actor = d.actorOf(principal);
      } catch (err) {
        call.destroy();
        return callback(toGrpcStatus(err).status);
      }
      const frames = call[Symbol.asyncIterator]() as AsyncIterator<UploadFileFrame>;
      void (async () => {
        const first = await frames.next();
        const info = !first.done && first.value.body?.$case === 'info' ? first.value.body.value : undefined;
        if (!info) throw new HostedFileError('the first frame of an upload must be info');
        const meta = { name: info.name, size: Number(info.size), sha256: info.sha256 };
        async function* data(): AsyncGenerator<Buffer> {
          for (let f = await frames.next(); !f.done; f = await frames.next()) {
            if (f.value.body?.$case !== 'data') throw new HostedFileError('only data frames may follow info');
            yield Buffer.from(f.value.body.value);
          }
        }
        const existed = await d.files.store(meta, data(), actor);
        if (!existed) d.audit.record({ actor, action: 'file.upload', target: meta.name, ok: true, detail: `sha256 ${meta.sha256}, ${meta.size} bytes` });
        return { sha256: meta.sha256, size: meta.size, existed };
      })().then(
        (res) => callback(null, res),
        (err: unknown) => {
          // A client that goes away mid-upload (or whose frames stop decoding) is its own failure, not the server's.
          const cut = (err as { code?: string }).code === 'ERR_STREAM_PREMATURE_CLOSE';
          const { status, known } = toGrpcStatus(cut ? new HostedFileError('the upload ended before its last frame') : err);
          if (!known) d.log.error({ err }, 'upload failed');
          callback(status);
        },
      );
    },
  };
}
