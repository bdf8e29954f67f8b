// The Control service the CLI talks to: authenticates each call by API token and role, audits
// changes, and delegates to the stores and the dispatcher.
import type { Logger } from 'pino';
import { status, type Metadata, type ServerDuplexStream, type ServerUnaryCall, type ServerWritableStream, type sendUnaryData, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { createReadStream, existsSync } from 'node:fs';
import { formatJoinToken, hashSecret, newTokenSecret, parseApiToken } from '../common/join-token';
import { parseSelector, validateLabels } from '../common/labels';
import { VERSION } from '../common/version';
import { FleetError } from '../common/errors';
import type { GetRecordingRequest, JobEvent, JoinToken, Node, RecordingChunk, ShellClientFrame, ShellServerFrame, UpgradeAgentsRequest, UpgradeEvent } from '../proto/gen/fleet/v1/control';
import { ERROR_CODE_TRAILER, toGrpcStatus } from '../transport';
import type { AgentHub } from './agent-hub';
import type { Access } from './access';
import { peerAddress, type ApiAuth, type Principal } from './auth';
import { HELD_BACK_PAUSE_MS } from './sign-in-limiter';
import { ApiTokenNotFoundError, InvalidRequestError, JobNotFoundError, NodeNotFoundError, NodeRemovedError, SessionNotFoundError, TokenNotFoundError } from './errors';
import type { JobDispatcher } from './jobs/dispatcher';
import type { AgentUpgrades } from './upgrades';
import type { ShellSessions, ShellSession } from './shells/sessions';
import type { AuditLog } from './store/audit-log';
import type { CheckState } from '../proto/gen/fleet/v1/common';
import { createStateHandlers } from './state/control-handlers';
import { createPxeHandlers } from './pxe/control-handlers';
import type { Machines } from './pxe/machines';
import type { DesiredStateService } from './state/desired-state';
import type { HostedFiles } from './state/hosted-files';
import type { RolloutEngine } from './state/rollouts';
import type { StateStore } from './store/state-store';
import type { NodeRecord, NodeStore } from './store/node-store';
import { Role, type JoinTokenRecord, type TokenStore } from './store/token-store';

const DEFAULT_TOKEN_TTL_MS = 3_600_000;
const MAX_TOKEN_TTL_MS = 365 * 86_400_000;

export interface ControlDeps {
  auth: ApiAuth;
  access: Access;
  nodes: NodeStore;
  tokens: TokenStore;
  hub: AgentHub;
  dispatcher: JobDispatcher;
  upgrades: AgentUpgrades;
  shells: ShellSessions;
  audit: AuditLog;
  desired: DesiredStateService;
  rollouts: RolloutEngine;
  files: HostedFiles;
  stateStore: StateStore;
  machines: Machines;
  /** The PXE port (0 when PXE is off). */
  pxePort: () => number;
  caHash: string;
  /** The HTTPS install port and its key pin (filled in once the port is bound). */
  install: { port: number; pin: string };
  log: Logger;
}

function toNode(n: NodeRecord, online: boolean, checks: CheckState[] = []): Node {
  return {
    id: n.id,
    name: n.name,
    online,
    labels: n.labels,
    facts: n.facts,
    identity: n.identity,
    agentVersion: n.agentVersion,
    enrolledUnixMs: n.enrolledAt,
    lastSeenUnixMs: n.lastSeenAt ?? 0,
    joinTokenId: n.joinTokenId ?? '',
    checks,
  };
}

function toJoinToken(t: JoinTokenRecord): JoinToken {
  return {
    id: t.id,
    description: t.description,
    createdUnixMs: t.createdAt,
    expiresUnixMs: t.expiresAt,
    maxUses: t.maxUses,
    used: t.used,
    revoked: t.revokedAt !== null,
    labels: t.labels,
  };
}

/** Builds the ControlService implementation for grpc-js. */
export function createControlService(d: ControlDeps): UntypedServiceImplementation {
  const actorOf = (p: Principal) => `api:${p.tokenId}`;

  /** Wraps a unary handler (which may return a promise) with authentication, a role check and error mapping. */
  function unary<Req, Res>(role: Role, handler: (request: Req, principal: Principal) => Res | Promise<Res>) {
    const fail = (err: unknown, callback: sendUnaryData<Res>) => {
      const { status, known } = toGrpcStatus(err);
      if (!known) d.log.error({ err }, 'control call failed');
      return callback(status);
    };
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      try {
        const principal = d.auth.authenticate(call);
        d.auth.require(principal, role);
        const result = handler(call.request, principal);
        if (result instanceof Promise) {
          result.then(
            (value) => callback(null, value),
            (err: unknown) => fail(err, callback),
          );
          return;
        }
        return callback(null, result);
      } catch (err) {
        return fail(err, callback);
      }
    };
  }

  const findNode = (nameOrId: string) => {
    const node = d.nodes.find(nameOrId);
    if (!node) throw new NodeNotFoundError(nameOrId);
    return node;
  };
  /** Audits a refusal that the caller sees as "not found" (something outside its scope). */
  const hidden = (p: Principal, method: string, what: string) =>
    d.audit.record({ actor: actorOf(p), action: 'access.denied', target: method, ok: false, detail: `${what} is outside the token's scope (${p.scope}); answered not found` });
  /** A node the principal may see; one outside its scope looks like one that does not exist. */
  const findVisibleNode = (nameOrId: string, p: Principal, method: string) => {
    const node = findNode(nameOrId);
    if (!d.access.sees(p, node)) {
      hidden(p, method, `node ${node.name}`);
      throw new NodeNotFoundError(nameOrId);
    }
    return node;
  };
  /** A job the principal may see (every node it ran on within its scope). */
  const visibleJob = (id: string, p: Principal, method: string) => {
    const job = d.dispatcher.describe(id);
    if (!d.access.seesIds(p, job.runs.map((r) => r.nodeId))) {
      hidden(p, method, `job ${job.id}`);
      throw new JobNotFoundError(id);
    }
    return job;
  };

  const service: UntypedServiceImplementation = {
    ...createStateHandlers({ ...d, unary, actorOf, findNode: findVisibleNode, hidden }),
    ...createPxeHandlers({ unary, actorOf, machines: d.machines, pxePort: d.pxePort, access: d.access }),

    whoAmI: unary(Role.Viewer, (_req, p) => ({
      tokenId: p.tokenId,
      role: p.role,
      serverVersion: VERSION,
      description: p.description,
      installPort: d.install.port,
      installPin: d.install.pin,
      caHash: d.caHash,
      scope: p.scope,
    })),

    listNodes: unary(Role.Viewer, (req: { selector: string }, p) => {
      const selector = parseSelector(req.selector);
      const checks = new Map<string, CheckState[]>();
      for (const c of d.stateStore.checks()) checks.set(c.nodeId, [...(checks.get(c.nodeId) ?? []), c]);
      return {
        nodes: d.nodes
          .list()
          .filter((n) => selector.matches(n.labels) && d.access.sees(p, n))
          .map((n) => toNode(n, d.hub.isOnline(n.id), checks.get(n.id))),
      };
    }),

    getNode: unary(Role.Viewer, (req: { node: string }, p) => {
      const node = findVisibleNode(req.node, p, 'GetNode');
      return toNode(node, d.hub.isOnline(node.id), d.stateStore.checks(node.id));
    }),

    labelNode: unary(Role.Operator, (req: { node: string; set: Record<string, string>; remove: string[] }, p) => {
      const node = findVisibleNode(req.node, p, 'LabelNode');
      validateLabels(req.set);
      const labels = { ...node.labels };
      for (const key of req.remove) delete labels[key];
      Object.assign(labels, req.set);
      // A limited token cannot move a node out of its scope (it would lose it) or change the labels that define it.
      d.access.requireNodes(p, [{ name: node.name, labels }], `relabelling ${node.name}`);
      d.nodes.setLabels(node.id, labels);
      const change = [...Object.entries(req.set).map(([k, v]) => `${k}=${v}`), ...req.remove.map((k) => `${k}-`)].join(' ');
      d.audit.record({ actor: actorOf(p), action: 'node.label', target: node.name, ok: true, detail: change });
      return toNode({ ...node, labels }, d.hub.isOnline(node.id));
    }),

    createJoinToken: unary(Role.Admin, (req: { ttlMs: number; maxUses: number; labels: Record<string, string>; description: string }, p) => {
      validateLabels(req.labels);
      const ttl = Number(req.ttlMs) || DEFAULT_TOKEN_TTL_MS;
      if (ttl > MAX_TOKEN_TTL_MS) throw new InvalidRequestError('a join token may live at most 365 days');
      if (req.description.length > 200) throw new InvalidRequestError('the description is longer than 200 characters');
      const { id, secret } = newTokenSecret();
      const now = Date.now();
      const record: JoinTokenRecord = {
        id,
        secretHash: hashSecret(secret),
        description: req.description,
        labels: req.labels,
        createdAt: now,
        createdBy: actorOf(p),
        expiresAt: now + ttl,
        maxUses: req.maxUses || 1,
        used: 0,
        revokedAt: null,
      };
      d.tokens.insertJoin(record);
      d.audit.record({ actor: actorOf(p), action: 'token.create', target: id, ok: true, detail: `uses ${record.maxUses}, expires ${new Date(record.expiresAt).toISOString()}` });
      return { info: toJoinToken(record), token: formatJoinToken({ id, secret, caHash: d.caHash }) };
    }),

    listJoinTokens: unary(Role.Admin, () => ({ tokens: d.tokens.listJoin().map(toJoinToken) })),

    revokeJoinToken: unary(Role.Admin, (req: { id: string }, p) => {
      const record = d.tokens.getJoin(req.id);
      if (!record) throw new TokenNotFoundError(req.id);
      d.tokens.revokeJoin(record.id, Date.now());
      d.audit.record({ actor: actorOf(p), action: 'token.revoke', target: record.id, ok: true });
      return toJoinToken(d.tokens.getJoin(record.id)!);
    }),

    createApiToken: unary(Role.Admin, (req: { role: string; description: string; scope: string }, p) => {
      if (!(Object.values(Role) as string[]).includes(req.role)) throw new InvalidRequestError(`role must be one of ${Object.values(Role).join(', ')}`);
      if (req.description.length > 200) throw new InvalidRequestError('the description is longer than 200 characters');
      const scope = req.scope.trim();
      if (scope && req.role === Role.Admin) throw new InvalidRequestError('an admin token manages the whole fleet and cannot be limited to a selector; give the limited token the operator or viewer role');
      if (scope && parseSelector(scope).empty) throw new InvalidRequestError('the scope selector is empty');
      const created = d.auth.createToken(req.role as Role, req.description, scope);
      d.audit.record({ actor: actorOf(p), action: 'token.api.create', target: created.id, ok: true, detail: `role ${req.role}${scope ? `, limited to ${scope}` : ''}` });
      return created;
    }),

    listApiTokens: unary(Role.Admin, () => ({
      tokens: d.tokens.listApi().map((t) => ({
        id: t.id,
        role: t.role,
        description: t.description,
        scope: t.scope,
        createdUnixMs: t.createdAt,
        revoked: t.revokedAt !== null,
        revokedUnixMs: t.revokedAt ?? 0,
      })),
    })),

    removeNode: unary(Role.Admin, (req: { node: string }, p) => {
      const node = findNode(req.node);
      const online = d.hub.isOnline(node.id);
      const at = Date.now();
      d.nodes.remove(node, actorOf(p), at);
      d.hub.disconnect(node.id, new NodeRemovedError(node.name, at));
      d.audit.record({ actor: actorOf(p), action: 'node.remove', target: node.name, ok: true, detail: `node ${node.id}; its certificate is refused from now on${online ? '; it was online and was disconnected' : ''}` });
      return toNode(node, false);
    }),

    revokeApiToken: unary(Role.Admin, (req: { id: string }, p) => {
      // Revoking a revoked token again is not an error (scripts may retry); an unknown id is.
      if (!d.tokens.revokeApi(req.id, Date.now()) && !d.tokens.listApi().some((t) => t.id === req.id)) throw new ApiTokenNotFoundError(req.id);
      d.audit.record({ actor: actorOf(p), action: 'token.api.revoke', target: req.id, ok: true });
      return {};
    }),

    startJob: unary(Role.Operator, (req: Parameters<JobDispatcher['startJob']>[0], p) =>
      d.dispatcher.startJob(req, actorOf(p), (targets) => d.access.requireNodes(p, targets, 'this job')),
    ),
    listJobs: unary(Role.Viewer, (req: { limit: number }, p) => {
      const jobs = d.access.newestVisible(p, Math.min(req.limit || 20, 500), (n) => d.dispatcher.list(n), (j) => j.runs.map((r) => r.nodeId));
      return { jobs };
    }),
    getJob: unary(Role.Viewer, (req: { id: string }, p) => visibleJob(req.id, p, 'GetJob')),
    listAudit: unary(Role.Admin, (req: { limit: number; action: string; sinceUnixMs: number }) => ({
      entries: d.audit.list(Math.min(req.limit || 50, 100_000), req.action || undefined, Number(req.sinceUnixMs) || undefined),
    })),

    upgradeAgents: (call: ServerWritableStream<UpgradeAgentsRequest, UpgradeEvent>) => {
      let run: ReturnType<AgentUpgrades['prepare']>;
      try {
        const principal = d.auth.authenticate(call);
        d.auth.require(principal, Role.Admin);
        run = d.upgrades.prepare(call.request, actorOf(principal));
      } catch (err) {
        const { status, known } = toGrpcStatus(err);
        if (!known) d.log.error({ err }, 'upgrade failed');
        call.emit('error', status);
        return;
      }
      // The upgrade goes on if the CLI goes away; it only stops being told.
      let open = true;
      call.on('cancelled', () => (open = false));
      run((event) => open && call.write(event)).then(
        () => open && call.end(),
        (err: unknown) => {
          d.log.error({ err }, 'upgrade failed');
          if (open) call.emit('error', toGrpcStatus(err).status);
        },
      );
    },

    listSessions: unary(Role.Operator, (req: { limit: number; node: string }, p) => {
      const nodeId = req.node ? findVisibleNode(req.node, p, 'ListSessions').id : undefined;
      const sessions = d.access.newestVisible(p, Math.min(req.limit || 20, 500), (n) => d.shells.history(n, nodeId), (s) => [s.nodeId]);
      return { sessions };
    }),

    getRecording: (call: ServerWritableStream<GetRecordingRequest, RecordingChunk>) => {
      try {
        const principal = d.auth.authenticate(call);
        d.auth.require(principal, Role.Operator);
        const record = d.shells.record(call.request.id);
        if (!record) throw new SessionNotFoundError(call.request.id);
        if (!d.access.seesIds(principal, [record.nodeId])) {
          hidden(principal, 'GetRecording', `session ${record.id}`);
          throw new SessionNotFoundError(call.request.id);
        }
      } catch (err) {
        call.emit('error', toGrpcStatus(err).status);
        return;
      }
      const file = d.shells.recordingFile(call.request.id);
      if (!existsSync(file)) {
        call.emit('error', toGrpcStatus(new SessionNotFoundError(call.request.id)).status);
        return;
      }
      const stream = createReadStream(file, { highWaterMark: 64 * 1024 });
      stream.on('data', (data) => call.write({ data: data as Buffer }));
      stream.on('end', () => call.end());
      stream.on('error', (err) => call.emit('error', toGrpcStatus(err).status));
      call.on('cancelled', () => stream.destroy());
    },

    shell: (call: ServerDuplexStream<ShellClientFrame, ShellServerFrame>) => {
      let session: ShellSession | undefined;
      let detach = () => {};
      let failed = false;
      const fail = (err: unknown) => {
        if (failed) return;
        failed = true;
        const { status, known } = toGrpcStatus(err);
        if (!known) d.log.error({ err }, 'shell failed');
        call.emit('error', status);
      };
      call.on('data', (frame: ShellClientFrame) => {
        const body = frame.body;
        if (!body) return;
        if (!session) {
          if (body.$case !== 'start') return fail(new InvalidRequestError('the first frame of a shell must be start'));
          try {
            const principal = d.auth.authenticate(call);
            d.auth.require(principal, Role.Operator);
            const start = body.value;
            findVisibleNode(start.node, principal, 'Shell');
            session = d.shells.open({
              node: start.node,
              user: actorOf(principal),
              source: 'cli',
              cols: start.size?.cols ?? 80,
              rows: start.size?.rows ?? 24,
              argv: start.argv,
              pty: start.pty,
              term: start.term,
            });
          } catch (err) {
            return fail(err);
          }
          call.write({ body: { $case: 'started', value: { sessionId: session.id, nodeName: session.nodeName } } });
          detach = session.attach({
            output: (data, stream) => call.write({ body: stream === 'out' ? { $case: 'output', value: data } : { $case: 'errorOutput', value: data } }),
            exit: (exitCode, reason) => {
              call.write({ body: { $case: 'exit', value: { exitCode, reason } } });
              call.end();
            },
          });
          return;
        }
        switch (body.$case) {
          case 'input':
            return session.write(Buffer.from(body.value));
          case 'resize':
            return session.resize(body.value.cols, body.value.rows);
          case 'ack':
            return session.ack(Number(body.value));
          case 'eof':
            return session.eof();
          default:
            return;
        }
      });
      // A CLI that goes away takes its shell with it (only web sessions wait to be reattached).
      const gone = () => {
        detach();
        session?.close('the client disconnected');
      };
      // A stream that ends before any start frame is answered, not left open (found by bench/fuzz).
      call.on('end', () => (session ? gone() : fail(new InvalidRequestError('the shell stream ended before its start frame'))));
      call.on('cancelled', gone);
      call.on('error', gone);
    },

    watchJob: (call: ServerWritableStream<{ id: string }, JobEvent>) => {
      let stop = () => {};
      let open = true;
      let release: (() => void) | undefined;
      // One wait for 'drain' shared by every event written meanwhile (a big job's live events
      // would otherwise add a listener each).
      let drained: Promise<void> | undefined;
      try {
        const principal = d.auth.authenticate(call);
        d.auth.require(principal, Role.Viewer);
        visibleJob(call.request.id, principal, 'WatchJob');
        stop = d.dispatcher.follow(call.request.id, (event) => {
          if (!open) return;
          const flowing = call.write(event);
          if (event.body?.$case === 'done') {
            open = false;
            stop();
            call.end();
            return;
          }
          // A reader that cannot keep up holds the replay back instead of filling memory.
          if (!flowing) {
            drained ??= new Promise<void>((resolve) => {
              release = resolve;
              call.once('drain', () => {
                drained = undefined;
                resolve();
              });
            });
            return drained;
          }
        });
      } catch (err) {
        const { status, known } = toGrpcStatus(err);
        if (!known || !(err instanceof FleetError)) d.log.error({ err }, 'watch failed');
        call.emit('error', status);
        return;
      }
      const gone = () => {
        open = false;
        stop();
        release?.();
      };
      call.on('cancelled', gone);
      call.on('close', gone);
    },
  };
  return auditRefusals(service, d);
}

/**
 * Wraps every method so that each refusal (no or a wrong token, too many failures, a role too
 * low, a node outside the token's scope) lands in the audit log with the method and the caller,
 * and a held-back address waits HELD_BACK_PAUSE_MS for its refusal.
 */
function auditRefusals(service: UntypedServiceImplementation, d: ControlDeps): UntypedServiceImplementation {
  const refused = new Set<number>([status.UNAUTHENTICATED, status.PERMISSION_DENIED, status.RESOURCE_EXHAUSTED]);
  /** When each held-back address was last audited: one row a minute, however fast it keeps trying. */
  const heldBack = new Map<string, number>();
  const wrapped: UntypedServiceImplementation = {};
  for (const [name, handler] of Object.entries(service)) {
    const method = name.charAt(0).toUpperCase() + name.slice(1);
    type Call = { metadata: Metadata; getPeer(): string; emit(event: string, ...args: unknown[]): boolean };
    const report = (call: Call, err: unknown) => {
      const e = err as { code?: number; details?: string; metadata?: Metadata } | null;
      if (!e || e.code === undefined || !refused.has(e.code)) return;
      const address = peerAddress(call.getPeer());
      if (e.code === status.RESOURCE_EXHAUSTED) {
        if (!isHeldBack(e)) return;
        // A held-back guesser gets one row a minute, so it cannot fill the log.
        const now = Date.now();
        if (now - (heldBack.get(address) ?? 0) < 60_000) return;
        heldBack.set(address, now);
        if (heldBack.size > 10_000) heldBack.clear();
      }
      const token = claimedTokenId(call.metadata);
      d.audit.record({ actor: token ? `api:${token}` : 'anonymous', action: 'access.denied', target: method, ok: false, detail: `from ${address}: ${e.details ?? ''}` });
    };
    const fn = handler as (call: Call, callback?: sendUnaryData<unknown>) => void;
    wrapped[name] = ((call: Call, callback?: sendUnaryData<unknown>) => {
      if (callback) {
        return fn(call, (err, value, ...rest) => {
          report(call, err);
          const answer = () => (callback as (...args: unknown[]) => void)(err, value, ...rest);
          if (isHeldBack(err)) setTimeout(answer, HELD_BACK_PAUSE_MS);
          else answer();
        });
      }
      const emit = call.emit.bind(call);
      call.emit = (event: string, ...args: unknown[]) => {
        if (event !== 'error') return emit(event, ...args);
        report(call, args[0]);
        if (!isHeldBack(args[0])) return emit(event, ...args);
        setTimeout(() => emit(event, ...args), HELD_BACK_PAUSE_MS);
        return true;
      };
      return fn(call);
    }) as UntypedServiceImplementation[string];
  }
  return wrapped;
}

/** True for the status of a wrong token from an address held back after too many (TooManySignInsError). */
function isHeldBack(err: unknown): boolean {
  const e = err as { code?: number; metadata?: Metadata } | null;
  return e?.code === status.RESOURCE_EXHAUSTED && e.metadata?.get(ERROR_CODE_TRAILER)[0] === 'TOO_MANY_SIGN_INS';
}

/** The token id a caller claims (not verified: for the audit log of a refusal). */
function claimedTokenId(metadata: Metadata): string {
  const header = metadata.get('authorization')[0];
  const parsed = typeof header === 'string' ? parseApiToken(header.replace(/^Bearer\s+/i, '')) : null;
  return parsed?.id ?? '';
}
