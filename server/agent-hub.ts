// Keeps track of connected agents: authenticates each link against the node table, answers
// Hello with Welcome, tracks heartbeats (a node silent for offlineAfterMs is offline), stores
// inventory, and hands exec events to whoever listens (the job dispatcher).
import type { Logger } from 'pino';
import type { AgentMessage, CommandRejected, ExecEvent, HealthReport, Hello, ServerMessage, StateReport } from '../proto/gen/fleet/v1/agent';
import type { AgentConnection } from '../transport';
import { VERSION } from '../common/version';
import { KeyedQueue } from '../common/keyed-queue';
import { AgentRefusedError, NodeRemovedError } from './errors';
import type { AuditLog, NodeRecord, NodeStore } from './store';

/** Messages a link may send while its node is being looked up; past that it is closed. */
const MAX_EARLY_MESSAGES = 64;

/** What the hub tells the rest of the server. */
export interface AgentHubListener {
  onOnline(nodeId: string, hello: Hello): void;
  onOffline(nodeId: string): void;
  onExecEvent(nodeId: string, event: ExecEvent): void;
  onCommandRejected(nodeId: string, rejection: CommandRejected): void;
  onStateReport(nodeId: string, report: StateReport): void;
  onHealthReport(nodeId: string, report: HealthReport): void;
}

/**
 * Which nodes have a live link, and closing one. The services and engines see agents only through
 * this. Embedded, the hub holds every link; with several replicas, each replica keeps a view of
 * all links (online/offline events on the bus name the replica that holds each), so these answers
 * stay synchronous, and `disconnect` reaches the holder over the bus.
 */
export interface Presence {
  /** True while the node has a live, welcomed link (on any replica). */
  isOnline(nodeId: string): boolean;
  /** Nodes online now. */
  onlineCount(): number;
  /** Closes the node's link, wherever it is held (the node was removed or re-enrolled). */
  disconnect(nodeId: string, reason: Error): void;
}

interface Session {
  connection: AgentConnection;
  lastSeen: number;
  welcomed: boolean;
}

export class AgentHub implements Presence {
  readonly #nodes: NodeStore;
  readonly #audit: AuditLog;
  readonly #log: Logger;
  readonly #offlineAfterMs: number;
  readonly #heartbeatMs: number;
  readonly #sessions = new Map<string, Session>();
  readonly #seen = new Map<string, number>();
  readonly #listeners: Partial<AgentHubListener>[] = [];
  /** Nodes restarting into a new agent version, until when they are expected back. */
  readonly #restarting = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  /** One node's writes (version, inventory) are stored in the order they came. */
  readonly #writes: KeyedQueue;

  constructor(deps: { nodes: NodeStore; audit: AuditLog; log: Logger; offlineAfterMs: number; heartbeatMs: number }) {
    this.#writes = new KeyedQueue((err, nodeId) => deps.log.error({ err, nodeId }, 'could not store what an agent sent'));
    this.#nodes = deps.nodes;
    this.#audit = deps.audit;
    this.#log = deps.log;
    this.#offlineAfterMs = deps.offlineAfterMs;
    this.#heartbeatMs = deps.heartbeatMs;
  }

  addListener(listener: Partial<AgentHubListener>): void {
    this.#listeners.push(listener);
  }

  #emit<K extends keyof AgentHubListener>(event: K, ...args: Parameters<AgentHubListener[K]>): void {
    for (const l of this.#listeners) {
      try {
        (l[event] as ((...a: Parameters<AgentHubListener[K]>) => void) | undefined)?.(...args);
      } catch (err) {
        this.#log.error({ err, event }, 'agent event handler failed');
      }
    }
  }

  /** The node will drop its link to restart (self-upgrade) and should be back before `untilMs`. */
  expectRestart(nodeId: string, untilMs: number): void {
    this.#restarting.set(nodeId, untilMs);
  }

  /** True while a node is away restarting and still within its expected time. */
  isRestarting(nodeId: string): boolean {
    const until = this.#restarting.get(nodeId);
    if (until === undefined) return false;
    if (Date.now() <= until) return true;
    this.#restarting.delete(nodeId);
    return false;
  }

  /** Starts the sweeper that marks silent nodes offline and flushes last-seen times. */
  start(): void {
    this.#timer = setInterval(() => this.#sweep(), Math.min(1000, this.#heartbeatMs));
    this.#timer.unref();
  }

  /** Closes every link and stores what is still in memory (last-seen times, inventory). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    const touched = this.#flushSeen();
    for (const s of this.#sessions.values()) s.connection.close();
    this.#sessions.clear();
    await Promise.all([touched, this.#writes.idle()]);
  }

  /** True while the node has a live, welcomed link. */
  isOnline(nodeId: string): boolean {
    return this.#sessions.get(nodeId)?.welcomed === true;
  }

  onlineCount(): number {
    let n = 0;
    for (const s of this.#sessions.values()) if (s.welcomed) n++;
    return n;
  }

  /** Closes a node's link now (the node was removed); its agent will be refused when it comes back. */
  disconnect(nodeId: string, reason: Error): void {
    this.#sessions.get(nodeId)?.connection.close(reason);
  }

  /** Sends a message to a node's agent; false when the node is not connected. */
  send(nodeId: string, message: ServerMessage): boolean {
    const session = this.#sessions.get(nodeId);
    return session?.welcomed === true && session.connection.send(message);
  }

  /**
   * Transport entry point: takes over a link authenticated as `connection.nodeId`. The node is
   * looked up first (messages that arrive meanwhile wait, in order); a link whose certificate is
   * not the node's on record is audited and closed with the reason.
   */
  connect(connection: AgentConnection): void {
    const early: AgentMessage[] = [];
    let deliver: ((message: AgentMessage) => void) | undefined;
    connection.onMessage((message) => {
      if (deliver) deliver(message);
      else if (early.push(message) > MAX_EARLY_MESSAGES) connection.close(new AgentRefusedError('too many messages before the link was accepted'));
    });
    this.#admit(connection).then(
      (node) => {
        deliver = this.#attach(connection, node);
        for (const message of early.splice(0)) deliver(message);
      },
      (err: unknown) => connection.close(err instanceof Error ? err : new AgentRefusedError(String(err))),
    );
  }

  /** The node a link belongs to, or why it is refused (audited). */
  async #admit(connection: AgentConnection): Promise<NodeRecord> {
    const node = await this.#nodes.get(connection.nodeId);
    if (!node || ![node.certFingerprint, node.prevCertFingerprint].includes(connection.credentialFingerprint)) {
      const removed = await this.#nodes.removedByCertificate(connection.credentialFingerprint);
      await this.#audit.record({
        actor: `node:${connection.nodeId}`,
        action: 'node.connect',
        target: removed?.name,
        ok: false,
        detail: `from ${connection.remoteAddress}: ${removed ? 'the node was removed' : 'unknown node or replaced certificate'}`,
      });
      if (removed) throw new NodeRemovedError(removed.name, removed.removedAt);
      throw new AgentRefusedError('this agent certificate does not belong to a current node (was the node removed or re-enrolled?)');
    }
    // Connecting with a renewed certificate retires the one it replaced.
    if (connection.credentialFingerprint === node.certFingerprint && node.prevCertFingerprint) await this.#nodes.forgetPreviousCertificate(node.id);
    return node;
  }

  /** Makes an admitted link the node's session; returns what handles its messages. */
  #attach(connection: AgentConnection, node: NodeRecord): (message: AgentMessage) => void {
    const previous = this.#sessions.get(node.id);
    const session: Session = { connection, lastSeen: Date.now(), welcomed: false };
    this.#sessions.set(node.id, session);
    if (previous) {
      this.#log.info({ node: node.name }, 'agent reconnected; closing its previous link');
      previous.connection.close();
    }
    connection.onClose((error) => {
      if (this.#sessions.get(node.id) !== session) return;
      this.#sessions.delete(node.id);
      if (session.welcomed) {
        this.#log.info({ node: node.name, reason: error?.message }, 'node offline');
        this.#emit('onOffline', node.id);
      }
    });
    return (message) => {
      try {
        this.#handle(node, session, message);
      } catch (err) {
        this.#log.error({ err, node: node.name }, 'failed to handle an agent message');
      }
    };
  }

  #handle(node: NodeRecord, session: Session, message: AgentMessage): void {
    const nodeId = node.id;
    session.lastSeen = Date.now();
    this.#seen.set(nodeId, session.lastSeen);
    const body = message.body;
    if (!body) return;
    if (!session.welcomed && body.$case !== 'hello') {
      session.connection.close(new AgentRefusedError('the first message on Connect must be Hello'));
      return;
    }
    switch (body.$case) {
      case 'hello': {
        if (session.welcomed) return;
        const version = body.value.agentVersion.slice(0, 64);
        const at = session.lastSeen;
        void this.#writes.run(nodeId, () => this.#nodes.setAgentVersion(nodeId, version, at));
        session.welcomed = true;
        session.connection.send({
          body: { $case: 'welcome', value: { nodeId, nodeName: node.name, heartbeatIntervalMs: this.#heartbeatMs, serverVersion: VERSION } },
        });
        this.#log.info({ node: node.name, version: body.value.agentVersion, from: session.connection.remoteAddress }, 'node online');
        this.#restarting.delete(nodeId);
        this.#emit('onOnline', nodeId, body.value);
        return;
      }
      case 'heartbeat':
        session.connection.send({ body: { $case: 'heartbeat', value: { sentUnixMs: Date.now() } } });
        return;
      case 'inventory':
        if (body.value.facts) {
          const facts = body.value.facts;
          void this.#writes.run(nodeId, () => this.#nodes.setFacts(nodeId, facts));
        }
        return;
      case 'execEvent':
        this.#emit('onExecEvent', nodeId, body.value);
        return;
      case 'commandRejected': {
        // A refusal may mean someone tried to inject or replay a command: always audited.
        const { commandId, reason } = body.value;
        void this.#writes.run(nodeId, () => this.#audit.record({ actor: `node:${nodeId}`, action: 'command.rejected', target: node.name, ok: false, detail: `command ${commandId.slice(0, 200) || '(unreadable)'}: ${reason.slice(0, 500)}` }));
        this.#emit('onCommandRejected', nodeId, body.value);
        return;
      }
      case 'stateReport':
        this.#emit('onStateReport', nodeId, body.value);
        return;
      case 'healthReport':
        this.#emit('onHealthReport', nodeId, body.value);
        return;
    }
  }

  #sweep(): void {
    const now = Date.now();
    for (const [nodeId, session] of this.#sessions) {
      if (now - session.lastSeen > this.#offlineAfterMs) {
        this.#log.warn({ nodeId, silentMs: now - session.lastSeen }, 'no heartbeat; closing link');
        session.connection.close(new AgentRefusedError('no heartbeat received in time'));
        // onClose removes the session and reports the node offline; make sure even if the
        // transport never reports the close.
        if (this.#sessions.get(nodeId) === session) {
          this.#sessions.delete(nodeId);
          if (session.welcomed) this.#emit('onOffline', nodeId);
        }
      }
    }
    void this.#flushSeen();
  }

  #flushSeen(): Promise<void> {
    if (this.#seen.size === 0) return Promise.resolve();
    const seen = new Map(this.#seen);
    this.#seen.clear();
    return this.#nodes.touchMany(seen).catch((err: unknown) => this.#log.error({ err, nodes: seen.size }, 'could not store when nodes were last seen'));
  }
}
