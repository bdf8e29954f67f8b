// One replica's view of every agent link in a cluster of replicas sharing a database. Each replica
// holds the links of the agents connected to it (its AgentHub); this class adds the others':
// - presence: a replica records the links it takes and drops (LinkDirectory) and announces them on
//   the bus, so every replica answers "is this node online?" at once, from memory;
// - routing: a message for a node whose link another replica holds goes to that replica over the
//   bus (its topic `replica.<id>`), which hands it to its hub; the commands to one node keep their
//   order (one topic, delivered in publish order);
// - liveness: each replica beats every `beatMs`; the links of a replica not heard from in
//   `deadAfterMs` (killed, cut off) count as offline until their agents come back elsewhere.
import type { Logger } from 'pino';
import type { ServerMessage } from '../../proto/gen/fleet/v1/agent';
import type { AgentHub, Presence } from '../agent-hub';
import type { EventBus } from '../bus';

/** Where replicas record the links they hold and that they are alive (PostgreSQL: PgLinkDirectory). */
export interface LinkDirectory {
  /** Marks `replica` alive now; answers the replicas alive (heard from within `deadAfterMs`), itself included. Forgets the links of dead ones. */
  beat(replica: string, deadAfterMs: number): Promise<string[]>;
  /** `replica` holds the node's link now. */
  hold(nodeId: string, replica: string): Promise<void>;
  /** The node's link is gone, if `replica` held it. */
  release(nodeId: string, replica: string): Promise<void>;
  /** `replica` holds no links and is gone (it is stopping). */
  releaseAll(replica: string): Promise<void>;
  /** The links held by replicas alive. */
  links(deadAfterMs: number): Promise<{ nodeId: string; replica: string }[]>;
}

/** A link taken or dropped by a replica (topic `links`). */
interface LinkEvent {
  replica: string;
  nodeId: string;
  online: boolean;
}

/** What one replica asks the one holding a link to do (topic `replica.<id>`). */
type RelayEvent = { send: { nodeId: string; message: ServerMessage } } | { disconnect: { nodeId: string; reason: string } };

const LINKS_TOPIC = 'links';
const relayTopic = (replica: string) => `replica.${replica}`;

/** What a cluster view tells, for links on any replica. */
export interface PresenceListener {
  onOnline?(nodeId: string): void;
  onOffline?(nodeId: string): void;
}

export interface ClusterLinksOptions {
  hub: AgentHub;
  bus: EventBus;
  directory: LinkDirectory;
  /** This replica's id (unique among the replicas alive). */
  replica: string;
  log: Logger;
  /** How often this replica beats (default 2 s). */
  beatMs?: number;
  /** A replica not heard from this long is gone (default 10 s). */
  deadAfterMs?: number;
}

/**
 * Presence and message routing across replicas; used where the embedded server uses its AgentHub.
 * Listeners hear onOnline/onOffline for links on every replica.
 */
export class ClusterLinks implements Presence {
  readonly #hub: AgentHub;
  readonly #bus: EventBus;
  readonly #directory: LinkDirectory;
  readonly #log: Logger;
  readonly replica: string;
  readonly #beatMs: number;
  readonly #deadAfterMs: number;
  /** Links held by other replicas: node → replica. */
  readonly #remote = new Map<string, string>();
  #alive = new Set<string>();
  readonly #listeners: PresenceListener[] = [];
  readonly #unsubscribe: (() => void)[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** The directory's writes, one after another, so a node's hold and release land in order. */
  #writes: Promise<void> = Promise.resolve();

  constructor(o: ClusterLinksOptions) {
    this.#hub = o.hub;
    this.#bus = o.bus;
    this.#directory = o.directory;
    this.replica = o.replica;
    this.#log = o.log;
    this.#beatMs = o.beatMs ?? 2000;
    this.#deadAfterMs = o.deadAfterMs ?? 10_000;
    // From construction on: agents may connect before start().
    this.#hub.addListener({
      onOnline: (nodeId) => this.#local(nodeId, true),
      onOffline: (nodeId) => this.#local(nodeId, false),
    });
    this.#unsubscribe.push(
      this.#bus.subscribe<LinkEvent>(LINKS_TOPIC, (e) => this.#heard(e)),
      this.#bus.subscribe<RelayEvent>(relayTopic(this.replica), (e) => this.#relayed(e)),
    );
  }

  addListener(listener: PresenceListener): void {
    this.#listeners.push(listener);
  }

  /** Loads the links the other replicas hold now, and starts beating. */
  async start(): Promise<void> {
    this.#alive = new Set(await this.#directory.beat(this.replica, this.#deadAfterMs));
    for (const { nodeId, replica } of await this.#directory.links(this.#deadAfterMs)) {
      // Events heard since subscribing are newer than the table.
      if (replica !== this.replica && !this.#remote.has(nodeId) && !this.#hub.isOnline(nodeId)) this.#remote.set(nodeId, replica);
    }
    this.#timer = setInterval(() => void this.#beat(), this.#beatMs);
    this.#timer.unref();
  }

  /** Stops beating and forgets this replica's links in the directory (its hub closes them). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    for (const u of this.#unsubscribe.splice(0)) u();
    await this.#writes;
    await this.#directory.releaseAll(this.replica).catch((err: unknown) => this.#log.warn({ err }, 'could not clear this replica’s links'));
  }

  isOnline(nodeId: string): boolean {
    return this.#hub.isOnline(nodeId) || this.#holder(nodeId) !== undefined;
  }

  onlineCount(): number {
    let n = this.#hub.onlineCount();
    for (const nodeId of this.#remote.keys()) if (this.#holder(nodeId) !== undefined && !this.#hub.isOnline(nodeId)) n++;
    return n;
  }

  /** A node restarting into a new agent version (known to the replica that asked it to). */
  isRestarting(nodeId: string): boolean {
    return this.#hub.isRestarting(nodeId);
  }

  disconnect(nodeId: string, reason: Error): void {
    if (this.#hub.isOnline(nodeId)) return this.#hub.disconnect(nodeId, reason);
    const holder = this.#holder(nodeId);
    if (holder) this.#bus.publish<RelayEvent>(relayTopic(holder), { disconnect: { nodeId, reason: reason.message } });
  }

  /** Sends to the node's agent through whichever replica holds its link; false when none does. */
  send(nodeId: string, message: ServerMessage): boolean {
    if (this.#hub.isOnline(nodeId)) return this.#hub.send(nodeId, message);
    const holder = this.#holder(nodeId);
    if (!holder) return false;
    this.#bus.publish<RelayEvent>(relayTopic(holder), { send: { nodeId, message } });
    return true;
  }

  /** The live replica holding a node's link elsewhere. */
  #holder(nodeId: string): string | undefined {
    const replica = this.#remote.get(nodeId);
    return replica !== undefined && this.#alive.has(replica) ? replica : undefined;
  }

  /** A link taken or dropped on this replica: record it, tell the others and the listeners. */
  #local(nodeId: string, online: boolean): void {
    if (online) this.#remote.delete(nodeId);
    this.#write(() => (online ? this.#directory.hold(nodeId, this.replica) : this.#directory.release(nodeId, this.replica)));
    this.#bus.publish<LinkEvent>(LINKS_TOPIC, { replica: this.replica, nodeId, online });
    // Dropped here but held by another replica already (the agent moved): still online.
    if (!online && this.#holder(nodeId)) return;
    this.#emit(nodeId, online);
  }

  #heard(e: LinkEvent): void {
    if (e.replica === this.replica) return;
    if (e.online) {
      this.#alive.add(e.replica);
      const was = this.isOnline(e.nodeId);
      this.#remote.set(e.nodeId, e.replica);
      if (!was) this.#emit(e.nodeId, true);
    } else if (this.#remote.get(e.nodeId) === e.replica) {
      // Only the holder's own drop counts: the agent may have moved on to another replica since.
      this.#remote.delete(e.nodeId);
      if (!this.#hub.isOnline(e.nodeId)) this.#emit(e.nodeId, false);
    }
  }

  #relayed(e: RelayEvent): void {
    if ('send' in e) {
      if (!this.#hub.send(e.send.nodeId, e.send.message)) this.#log.debug({ node: e.send.nodeId }, 'a message relayed for a node whose link has gone');
    } else {
      this.#hub.disconnect(e.disconnect.nodeId, new Error(e.disconnect.reason));
    }
  }

  async #beat(): Promise<void> {
    let alive: Set<string>;
    try {
      alive = new Set(await this.#directory.beat(this.replica, this.#deadAfterMs));
    } catch (err) {
      this.#log.warn({ err }, 'could not beat in the shared database');
      return;
    }
    const gone = [...this.#alive].filter((r) => !alive.has(r));
    this.#alive = alive;
    if (gone.length === 0) return;
    this.#log.warn({ replicas: gone }, 'replicas stopped beating; their agents count as offline until they come back');
    for (const [nodeId, replica] of [...this.#remote]) {
      if (alive.has(replica)) continue;
      this.#remote.delete(nodeId);
      if (!this.#hub.isOnline(nodeId)) this.#emit(nodeId, false);
    }
  }

  #write(fn: () => Promise<void>): void {
    this.#writes = this.#writes.then(fn).catch((err: unknown) => this.#log.warn({ err }, 'could not record an agent link in the shared database'));
  }

  #emit(nodeId: string, online: boolean): void {
    for (const l of this.#listeners) {
      try {
        if (online) l.onOnline?.(nodeId);
        else l.onOffline?.(nodeId);
      } catch (err) {
        this.#log.error({ err, node: nodeId }, 'a presence handler failed');
      }
    }
  }
}
