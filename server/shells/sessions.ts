// Shell sessions on the server. Opening one sends the node a signed ShellCommand; the agent then
// opens a channel, which is paired with the session here. The session relays input to the agent
// and output to whoever is attached (CLI stream or web socket), forwards the consumer's acks to
// the agent (flow control end to end), keeps the output the consumer has not acknowledged yet so
// a web client can reattach without loss, records everything as asciicast v2, and enforces the
// limits: operator role, shells per user, idle timeout, maximum duration.
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { formatDuration } from '../../common/duration';
import { ErrorKind, FleetError } from '../../common/errors';
import type { ChannelFrame } from '../../proto/gen/fleet/v1/agent';
import type { Session } from '../../proto/gen/fleet/v1/control';
import type { ChannelConnection } from '../../transport';
import type { Presence } from '../agent-hub';
import { AgentRefusedError, NodeNotFoundError } from '../errors';
import { newId } from '../ids';
import type { CommandSender } from '../commands';
import type { AuditLog, NodeStore, SessionStore } from '../store';
import { envDefault } from '../../common/env';
import { Recording } from './recording';
import type { RecordingStore } from './recording-store';
import type { ChannelRelay } from './channel-relay';

export interface ShellLimits {
  /** Open shells one user (API token) may have at once. */
  maxPerUser: number;
  /** A session with no input or output this long is closed. */
  idleMs: number;
  /** A session is closed after this long whatever happens. */
  maxMs: number;
  /** A detached web session waits this long for its client to come back. */
  reattachGraceMs: number;
  /** Record keystrokes too ("i" events). */
  recordInput: boolean;
}

export const defaultShellLimits = (): ShellLimits => ({
  maxPerUser: envDefault('FLEET_SHELL_MAX_PER_USER'),
  idleMs: envDefault('FLEET_SHELL_IDLE_MS'),
  maxMs: envDefault('FLEET_SHELL_MAX_MS'),
  reattachGraceMs: envDefault('FLEET_SHELL_GRACE_MS'),
  recordInput: envDefault('FLEET_SHELL_RECORD_INPUT'),
});

export class ShellLimitError extends FleetError {
  constructor(message: string) {
    super(message, 'SHELL_LIMIT', ErrorKind.Exhausted);
    this.name = 'ShellLimitError';
  }
}

export class NodeOfflineError extends FleetError {
  constructor(node: string) {
    super(`node ${node} is offline`, 'NODE_OFFLINE', ErrorKind.Unavailable);
    this.name = 'NodeOfflineError';
  }
}

/** Who receives a session's output. */
export interface ShellConsumer {
  /** A chunk; `end` is the total number of output bytes once this chunk is counted. */
  output(data: Buffer, stream: 'out' | 'err', end: number): void;
  exit(exitCode: number, reason: string): void;
}

export interface OpenShell {
  node: string;
  user: string;
  source: 'cli' | 'web';
  cols: number;
  rows: number;
  argv: string[];
  pty: boolean;
  term: string;
}

const OPEN_TIMEOUT_MS = 15_000;

export class ShellSession {
  readonly id: string;
  readonly nodeId: string;
  readonly nodeName: string;
  readonly user: string;
  readonly source: string;
  readonly startedAt = Date.now();
  #channel: ChannelConnection | undefined;
  #queued: ChannelFrame[] = [];
  #buffer: { end: number; data: Buffer; stream: 'out' | 'err' }[] = [];
  #total = 0;
  #acked = 0;
  /** An ack waits for the recording to catch up (the latest `#acked` is sent then). */
  #ackHeld = false;
  #consumer: ShellConsumer | undefined;
  #exit: { code: number; reason: string } | undefined;
  #lastActivity = Date.now();
  #graceTimer: NodeJS.Timeout | undefined;
  readonly #recording: Recording;
  readonly #manager: ShellSessions;

  constructor(manager: ShellSessions, init: { id: string; nodeId: string; nodeName: string; user: string; source: string; recording: Recording }) {
    this.#manager = manager;
    this.id = init.id;
    this.nodeId = init.nodeId;
    this.nodeName = init.nodeName;
    this.user = init.user;
    this.source = init.source;
    this.#recording = init.recording;
  }

  /** How the session ended, once it has. */
  get exitStatus(): { code: number; reason: string } | undefined {
    return this.#exit;
  }

  get outputBytes(): number {
    return this.#total;
  }

  get idleSince(): number {
    return this.#lastActivity;
  }

  /** Pairs the agent's channel with this session and sends what was typed meanwhile. */
  bind(channel: ChannelConnection): void {
    this.#channel = channel;
    channel.onMessage((frame) => this.#fromAgent(frame));
    channel.onClose((error) => this.end(-1, error ? `channel lost: ${error.message}` : 'channel closed'));
    for (const f of this.#queued) channel.send(f);
    this.#queued = [];
  }

  #toAgent(frame: ChannelFrame): void {
    if (this.#exit) return;
    if (this.#channel) this.#channel.send(frame);
    else this.#queued.push(frame);
  }

  #fromAgent(frame: ChannelFrame): void {
    const body = frame.body;
    if (!body) return;
    if (body.$case === 'data' || body.$case === 'stderr') {
      const data = Buffer.from(body.value);
      const stream = body.$case === 'data' ? 'out' : 'err';
      this.#total += data.length;
      this.#lastActivity = Date.now();
      this.#recording.output(data);
      this.#buffer.push({ end: this.#total, data, stream });
      this.#consumer?.output(data, stream, this.#total);
    } else if (body.$case === 'close') {
      this.end(body.value.exitCode, body.value.reason);
    }
  }

  write(data: Buffer): void {
    this.#lastActivity = Date.now();
    if (this.#manager.limits.recordInput) this.#recording.input(data);
    this.#toAgent({ body: { $case: 'data', value: data } });
  }

  resize(cols: number, rows: number): void {
    if (!(cols > 0 && rows > 0 && cols <= 1000 && rows <= 1000)) return;
    this.#recording.resize(cols, rows);
    this.#toAgent({ body: { $case: 'resize', value: { cols, rows } } });
  }

  eof(): void {
    this.#toAgent({ body: { $case: 'eof', value: true } });
  }

  /**
   * The consumer has taken everything up to `total`: drop it here and tell the agent — once the
   * recording has caught up with the disk, so the agent's window (agent/shell.ts) also bounds the
   * output waiting to be recorded.
   */
  ack(total: number): void {
    if (!(total > this.#acked) || total > this.#total) return;
    this.#acked = total;
    while (this.#buffer.length && this.#buffer[0]!.end <= total) this.#buffer.shift();
    if (!this.#recording.backlogged) return this.#toAgent({ body: { $case: 'ack', value: total } });
    if (this.#ackHeld) return;
    this.#ackHeld = true;
    this.#recording.whenCaughtUp(() => {
      this.#ackHeld = false;
      this.#toAgent({ body: { $case: 'ack', value: this.#acked } });
    });
  }

  /**
   * Makes `consumer` the receiver, first replaying output after `from` (what it already had)
   * that it has not acknowledged. Returns a function that detaches it.
   */
  attach(consumer: ShellConsumer, from = 0): () => void {
    clearTimeout(this.#graceTimer);
    this.#consumer = consumer;
    this.ack(from);
    for (const chunk of this.#buffer) {
      const start = chunk.end - chunk.data.length;
      if (chunk.end <= from) continue;
      consumer.output(start < from ? chunk.data.subarray(from - start) : chunk.data, chunk.stream, chunk.end);
    }
    if (this.#exit) consumer.exit(this.#exit.code, this.#exit.reason);
    return () => {
      if (this.#consumer !== consumer) return;
      this.#consumer = undefined;
      if (!this.#exit) this.#graceTimer = setTimeout(() => this.close('the client did not come back'), this.#manager.limits.reattachGraceMs);
    };
  }

  /** Ends the session from the server side (client gone, limit reached, shutdown). */
  close(reason: string): void {
    if (this.#exit) return;
    this.#channel?.send({ body: { $case: 'close', value: { exitCode: -1, reason } } });
    this.end(-1, reason);
  }

  /** Records the end once, tells the consumer, closes the channel. */
  end(code: number, reason: string): void {
    if (this.#exit) return;
    this.#exit = { code, reason };
    clearTimeout(this.#graceTimer);
    this.#channel?.close();
    void this.#recording.close();
    this.#consumer?.exit(code, reason);
    this.#manager.ended(this);
  }
}

export class ShellSessions {
  readonly limits: ShellLimits;
  readonly #nodes: NodeStore;
  readonly #hub: Pick<Presence, 'isOnline'>;
  readonly #relay: ChannelRelay | undefined;
  /** Sessions opened here waiting for their channel on another replica: stop waiting. */
  readonly #remoteWaits = new Map<string, () => void>();
  readonly #commands: CommandSender;
  readonly #store: SessionStore;
  readonly #audit: AuditLog;
  readonly #log: Logger;
  readonly #recordings: RecordingStore;
  readonly #open = new Map<string, ShellSession>();
  readonly #pendingOpen = new Map<string, NodeJS.Timeout>();
  readonly #recentlyEnded = new Map<string, ShellSession>();
  /** Shells per user being stored right now (not yet open). */
  readonly #opening = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  /**
   * `hub`: which nodes are online (every replica's, with replicas). `relay`: with replicas, how a
   * channel the agent opened on another replica reaches the session here, and back.
   */
  constructor(deps: {
    nodes: NodeStore;
    hub: Pick<Presence, 'isOnline'>;
    commands: CommandSender;
    store: SessionStore;
    audit: AuditLog;
    log: Logger;
    recordings: RecordingStore;
    limits: ShellLimits;
    relay?: ChannelRelay;
  }) {
    this.#nodes = deps.nodes;
    this.#hub = deps.hub;
    this.#relay = deps.relay;
    this.#commands = deps.commands;
    this.#store = deps.store;
    this.#audit = deps.audit;
    this.#log = deps.log;
    this.limits = deps.limits;
    this.#recordings = deps.recordings;
  }

  /** Sessions open now. */
  get openCount(): number {
    return this.#open.size;
  }

  /** A session's recording from its start (an open session's as far as it goes), or undefined when there is none. */
  openRecording(id: string): Promise<Readable | undefined> {
    return this.#recordings.open(id);
  }

  /**
   * Marks the sessions open when the server last stopped as ended, and starts the idle timer.
   * With replicas, sessions open in the store may be held by another replica: none is marked (a
   * replica that died leaves its sessions open in the history; see docs/high-availability.md).
   */
  async start(): Promise<void> {
    if (!this.#relay) await this.#store.closeDangling(Date.now());
    this.#timer = setInterval(() => {
      const now = Date.now();
      for (const s of this.#open.values()) {
        if (now - s.idleSince > this.limits.idleMs) s.close(`idle for more than ${formatDuration(this.limits.idleMs)}`);
        else if (now - s.startedAt > this.limits.maxMs) s.close(`open longer than the ${formatDuration(this.limits.maxMs)} allowed`);
      }
    }, 1000);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    for (const s of [...this.#open.values()]) s.close('server shutting down');
  }

  /** An open session. */
  get(id: string): ShellSession | undefined {
    return this.#open.get(id);
  }

  /**
   * A session a client may reattach to: open, or ended less than the reattach grace ago (so a
   * page whose socket dropped just as the shell exited still gets the last output and the exit).
   */
  resumable(id: string): ShellSession | undefined {
    return this.#open.get(id) ?? this.#recentlyEnded.get(id);
  }

  /** Past and open sessions, newest first. */
  history(limit: number, nodeId?: string): Promise<Session[]> {
    return this.#store.list(limit, nodeId);
  }

  /** One session's record (open or ended). */
  record(id: string): Promise<Session | undefined> {
    return this.#store.get(id);
  }

  /** Opens a shell; the caller attaches a consumer. Throws when not allowed or not possible. */
  async open(req: OpenShell): Promise<ShellSession> {
    const node = await this.#nodes.find(req.node);
    if (!node) throw new NodeNotFoundError(req.node);
    // Shells still being stored count too, so opens racing each other cannot pass the limit together.
    const mine = [...this.#open.values()].filter((s) => s.user === req.user).length + (this.#opening.get(req.user) ?? 0);
    if (mine >= this.limits.maxPerUser) {
      await this.#audit.record({ actor: req.user, action: 'shell.open', target: node.name, ok: false, detail: `refused: ${mine} shells already open` });
      throw new ShellLimitError(`you already have ${mine} shells open, the most allowed per user (close one first)`);
    }
    if (!this.#hub.isOnline(node.id)) throw new NodeOfflineError(node.name);
    const id = newId('s', 12);
    const startedAt = Date.now();
    this.#opening.set(req.user, (this.#opening.get(req.user) ?? 0) + 1);
    try {
      // Stored before the shell exists, so its end is never stored before its start.
      await this.#store.start({ id, nodeId: node.id, nodeName: node.name, user: req.user, source: req.source, startedAt });
      await this.#audit.record({ actor: req.user, action: 'shell.open', target: node.name, ok: true, detail: `session ${id} (${req.source}${req.argv.length ? `: ${req.argv.join(' ')}` : ''})` });
    } finally {
      const left = (this.#opening.get(req.user) ?? 1) - 1;
      if (left > 0) this.#opening.set(req.user, left);
      else this.#opening.delete(req.user);
    }
    const cols = Math.min(Math.max(req.cols || 80, 1), 1000);
    const rows = Math.min(Math.max(req.rows || 24, 1), 1000);
    const recording = new Recording(this.#recordings.create(id), { cols, rows, title: `${node.name} (${req.user})`, term: req.term || 'xterm-256color' });
    const session = new ShellSession(this, { id, nodeId: node.id, nodeName: node.name, user: req.user, source: req.source, recording });
    this.#open.set(id, session);
    void this.#commands.send(node.id, `shell/${id}`, { $case: 'shell', value: { channelId: id, cols, rows, argv: req.argv, pty: req.pty, term: req.term || 'xterm-256color' } });
    this.#pendingOpen.set(
      id,
      setTimeout(() => session.end(-1, 'the agent did not open the shell in time'), OPEN_TIMEOUT_MS),
    );
    if (this.#relay) this.#remoteWaits.set(id, this.#relay.await(id, node.id, (channel) => this.#pair(id, channel)));
    this.#log.info({ session: id, node: node.name, user: req.user, source: req.source }, 'shell opening');
    return session;
  }

  /**
   * Transport entry point: an agent opened a channel; the first frame says which session. A
   * session another replica holds gets the channel relayed to it (with replicas).
   */
  channel(connection: ChannelConnection): void {
    let state: 'first' | 'looking' | 'done' = 'first';
    const early: ChannelFrame[] = [];
    let relayed: ((frame: ChannelFrame) => void) | undefined;
    connection.onMessage((frame) => {
      if (relayed) return relayed(frame);
      if (state === 'looking') {
        early.push(frame);
        return;
      }
      if (state === 'done') return;
      const id = frame.body?.$case === 'open' ? frame.body.value.channelId : '';
      if (this.#open.has(id) || !this.#relay) {
        state = 'done';
        if (!this.#pair(id, connection)) connection.close(new AgentRefusedError('no shell is waiting for this channel'));
        return;
      }
      state = 'looking';
      early.push(frame);
      void this.#heldElsewhere(id, connection.nodeId).then(
        (held) => {
          state = 'done';
          if (!held || !this.#relay) return connection.close(new AgentRefusedError('no shell is waiting for this channel'));
          relayed = this.#relay.forward(connection, id, early.splice(0), this.limits.idleMs);
        },
        (err: unknown) => {
          state = 'done';
          this.#log.error({ err, session: id }, 'could not look a shell session up');
          connection.close(new AgentRefusedError('could not look the shell session up; try again'));
        },
      );
    });
  }

  /** Pairs a channel with the session here waiting for it; false when none is. */
  #pair(id: string, channel: ChannelConnection): boolean {
    const session = this.#open.get(id);
    if (!session || session.nodeId !== channel.nodeId || !this.#pendingOpen.has(id)) return false;
    clearTimeout(this.#pendingOpen.get(id));
    this.#pendingOpen.delete(id);
    this.#remoteWaits.get(id)?.();
    this.#remoteWaits.delete(id);
    session.bind(channel);
    return true;
  }

  /** True when session `id` of node `nodeId` is open on another replica (stored, not ended, within the longest a shell may last). */
  async #heldElsewhere(id: string, nodeId: string): Promise<boolean> {
    const record = await this.#store.get(id);
    return record !== undefined && record.nodeId === nodeId && record.endedUnixMs === 0 && Date.now() - record.startedUnixMs < this.limits.maxMs;
  }

  /** Called by a session when it ends: store, audit and forget it. */
  ended(session: ShellSession): void {
    clearTimeout(this.#pendingOpen.get(session.id));
    this.#pendingOpen.delete(session.id);
    this.#remoteWaits.get(session.id)?.();
    this.#remoteWaits.delete(session.id);
    this.#open.delete(session.id);
    this.#recentlyEnded.set(session.id, session);
    setTimeout(() => this.#recentlyEnded.delete(session.id), this.limits.reattachGraceMs).unref();
    const now = Date.now();
    const exit = session.exitStatus ?? { code: -1, reason: '' };
    const stored = this.#store.end(session.id, { endedAt: now, exitCode: exit.code, outputBytes: session.outputBytes, reason: exit.reason });
    const audited = this.#audit.record({
      actor: session.user,
      action: 'shell.close',
      target: session.nodeName,
      ok: true,
      detail: `session ${session.id} lasted ${Math.round((now - session.startedAt) / 1000)} s, exit ${exit.code}${exit.reason ? ` (${exit.reason})` : ''}`,
    });
    Promise.all([stored, audited]).catch((err: unknown) => this.#log.error({ err, session: session.id }, 'could not store the end of a shell session'));
    this.#log.info({ session: session.id, node: session.nodeName, exit: exit.code, reason: exit.reason || undefined }, 'shell closed');
  }
}
