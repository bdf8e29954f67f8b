// NATS implementation of the server side of the agent link. One broker connection per fleet
// server; agents' messages arrive on fleet.v1.node.*.out (queue group "fleet-servers"), answers go
// to fleet.v1.node.<id>.in. A link starts with an agent's Hello (carrying a certificate proof, see
// hello-proof.ts) and ends with a close control message from either side, when the hub stops
// hearing heartbeats, or when this server loses its broker connection (agents then say Hello
// again and replay what the server has not acknowledged).
import { X509Certificate } from 'node:crypto';
import { credsAuthenticator } from './native-nkeys';
import { connect, headers as natsHeaders, type Msg, type NatsConnection, type Subscription } from 'nats';
import type { Logger } from 'pino';
import { AgentMessage, ChannelFrame, ServerMessage } from '../../proto/gen/fleet/v1/agent';
import type { AgentConnection, AgentTransportHandlers, ChannelConnection, ServerAgentTransport } from '../types';
import { checkHelloProof } from './hello-proof';
import { CONTROL_CLOSE, HEADER, SERVER_QUEUE, isSubjectToken, parseAgentSubject, subjects } from './subjects';
import { NatsLinkLostError } from './errors';
import { FieldTooLongError } from '../../common/errors';
import { checkRequest } from '../../common/limits';

/** The gRPC methods whose messages NATS carries, for their limits (common/limits.ts). */
const CONNECT = '/fleet.v1.AgentService/Connect';
const OPEN_CHANNEL = '/fleet.v1.AgentService/OpenChannel';

export interface NatsServerTransportOptions {
  /** Broker URLs (nats://host:port); the client fails over between them. */
  servers: string[];
  /** How this server authenticates to the brokers: a creds file (user JWT signed by the fleet account, and its nkey seed). */
  creds: string;
  /** The fleet CA, PEM: agents' Hello proofs must carry a certificate it issued. */
  caPem: string;
  log: Logger;
  /** Shown on the brokers' monitoring pages. */
  name?: string;
}

type Handler<T> = (value: T) => void;

/** The common part of a link and a channel: handlers, one close, whichever side ends it. */
abstract class NatsPeer<In> {
  #closed = false;
  #closeError: Error | undefined;
  #messageHandlers: Handler<In>[] = [];
  #closeHandlers: ((error?: Error) => void)[] = [];

  get closed(): boolean {
    return this.#closed;
  }

  onMessage(handler: Handler<In>): void {
    this.#messageHandlers.push(handler);
  }

  onClose(handler: (error?: Error) => void): void {
    if (this.#closed) handler(this.#closeError);
    else this.#closeHandlers.push(handler);
  }

  /** Hands an incoming message to the handlers. */
  deliver(message: In): void {
    if (this.#closed) return;
    for (const h of this.#messageHandlers) h(message);
  }

  /** Marks the peer gone (no message to the agent) and tells the close handlers once. */
  finish(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = error;
    for (const h of this.#closeHandlers.splice(0)) h(error);
    this.#messageHandlers = [];
  }
}

class NatsAgentLink extends NatsPeer<AgentMessage> implements AgentConnection {
  /** Numbers of the last message received and sent on this link (Fleet-Seq). */
  inSeq = 0;
  #outSeq = 0;

  constructor(
    readonly transport: NatsServerAgentTransport,
    readonly nodeId: string,
    readonly linkId: string,
    readonly credentialFingerprint: string,
    readonly remoteAddress: string,
  ) {
    super();
  }

  send(message: ServerMessage): boolean {
    if (this.closed) return false;
    return this.transport.publish(subjects.nodeIn(this.nodeId), ServerMessage.encode(message).finish(), { [HEADER.link]: this.linkId, [HEADER.seq]: String(++this.#outSeq) });
  }

  close(reason?: Error): void {
    if (this.closed) return;
    this.transport.sendClose(subjects.nodeIn(this.nodeId), this.linkId, reason?.message ?? '');
    this.transport.forgetLink(this);
    this.finish(reason);
  }
}

class NatsChannel extends NatsPeer<ChannelFrame> implements ChannelConnection {
  inSeq = 0;
  #outSeq = 0;

  constructor(
    readonly transport: NatsServerAgentTransport,
    readonly nodeId: string,
    readonly channelId: string,
    readonly credentialFingerprint: string,
  ) {
    super();
  }

  send(frame: ChannelFrame): boolean {
    if (this.closed) return false;
    return this.transport.publish(subjects.channelIn(this.nodeId, this.channelId), ChannelFrame.encode(frame).finish(), { [HEADER.seq]: String(++this.#outSeq) });
  }

  close(reason?: Error): void {
    if (this.closed) return;
    this.transport.sendClose(subjects.channelIn(this.nodeId, this.channelId), this.channelId, reason?.message ?? '');
    this.transport.forgetChannel(this);
    this.finish(reason);
  }
}

/** Serves agents over NATS, beside (not instead of) the gRPC transport. */
export class NatsServerAgentTransport implements ServerAgentTransport {
  readonly name = 'nats';
  readonly #options: NatsServerTransportOptions;
  readonly #log: Logger;
  readonly #ca: X509Certificate;
  readonly #links = new Map<string, NatsAgentLink>();
  readonly #channels = new Map<string, NatsChannel>();
  /** When each node was last told to say Hello again (so a chatty stale link gets one answer a second). */
  readonly #toldToReconnect = new Map<string, number>();
  #nc: NatsConnection | undefined;
  #handlers: AgentTransportHandlers | undefined;
  #stopped = false;
  /** Settles once the first broker connection is up (or failed for good). */
  ready: Promise<void> = Promise.resolve();

  constructor(options: NatsServerTransportOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#ca = new X509Certificate(options.caPem);
  }

  /** Starts connecting (in the background, retrying while no broker answers) and serving. */
  start(handlers: AgentTransportHandlers): void {
    this.#handlers = handlers;
    this.ready = this.#connect().catch((err: unknown) => {
      this.#log.error({ err }, 'cannot use NATS: the broker connection failed for good');
    });
  }

  async #connect(): Promise<void> {
    const nc = await connect({
      servers: this.#options.servers,
      authenticator: credsAuthenticator(this.#options.creds),
      name: this.#options.name ?? 'fleet-server',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 250,
      waitOnFirstConnect: true,
      pingInterval: 10_000,
      maxPingOut: 2,
    });
    if (this.#stopped) {
      await nc.close();
      return;
    }
    this.#nc = nc;
    const guarded = (what: string, fn: (msg: Msg) => void) => (err: Error | null, msg: Msg) => {
      if (err) {
        this.#log.error({ err }, `NATS subscription for ${what} failed`);
        return;
      }
      try {
        fn(msg);
      } catch (error) {
        this.#log.error({ err: error, subject: msg.subject }, `failed to handle an agent ${what}`);
      }
    };
    const subs: Subscription[] = [
      nc.subscribe(subjects.allNodesOut, { queue: SERVER_QUEUE, callback: guarded('message', (m) => this.#fromAgent(m)) }),
      nc.subscribe(subjects.allChannelsOut, { queue: SERVER_QUEUE, callback: guarded('channel frame', (m) => this.#fromChannel(m)) }),
    ];
    // Make sure the brokers have the subscriptions before saying we are ready.
    await nc.flush();
    this.#log.info({ broker: nc.getServer(), subs: subs.length }, 'serving agents on NATS');
    void this.#watch(nc);
  }

  /** Follows the connection's status: a lost broker connection ends every link (see the header). */
  async #watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') {
        this.#log.warn({ broker: String(status.data) }, 'lost the NATS broker; ending every NATS link (agents will say Hello again)');
        this.#endAll(new NatsLinkLostError('the server lost its NATS broker connection'));
      } else if (status.type === 'reconnect') {
        this.#log.info({ broker: String(status.data) }, 'reconnected to NATS');
      } else if (status.type === 'error') {
        this.#log.warn({ error: String(status.data), context: status.permissionContext }, 'NATS error');
      }
    }
  }

  #endAll(error: Error): void {
    for (const link of [...this.#links.values()]) {
      this.#links.delete(link.nodeId);
      link.finish(error);
    }
    for (const ch of [...this.#channels.values()]) {
      this.#channels.delete(`${ch.nodeId}/${ch.channelId}`);
      ch.finish(error);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const link of [...this.#links.values()]) link.close(new NatsLinkLostError('the server is shutting down'));
    for (const ch of [...this.#channels.values()]) ch.close(new NatsLinkLostError('the server is shutting down'));
    const nc = this.#nc;
    this.#nc = undefined;
    if (nc && !nc.isClosed()) {
      await nc.drain().catch(() => nc.close());
    }
  }

  // --- used by links and channels ----------------------------------------------------------

  /** Publishes; false when the connection is gone or the message is too large. */
  publish(subject: string, data: Uint8Array, headers?: Record<string, string>): boolean {
    const nc = this.#nc;
    if (!nc || nc.isClosed()) return false;
    try {
      let h;
      if (headers) {
        h = natsHeaders();
        for (const [k, v] of Object.entries(headers)) h.set(k, v);
      }
      nc.publish(subject, data, h ? { headers: h } : undefined);
      return true;
    } catch (err) {
      this.#log.warn({ err, subject, bytes: data.length }, 'could not publish to NATS');
      return false;
    }
  }

  /** Tells the agent a link (or channel) is over. */
  sendClose(subject: string, id: string, reason: string): void {
    this.publish(subject, new Uint8Array(0), { [HEADER.control]: CONTROL_CLOSE, [HEADER.link]: id, [HEADER.reason]: reason.slice(0, 500).replace(/[\r\n]+/g, ' ') });
  }

  forgetLink(link: NatsAgentLink): void {
    if (this.#links.get(link.nodeId) === link) this.#links.delete(link.nodeId);
    this.#closeChannelsOf(link.nodeId, new NatsLinkLostError('the agent link ended'));
  }

  forgetChannel(ch: NatsChannel): void {
    const key = `${ch.nodeId}/${ch.channelId}`;
    if (this.#channels.get(key) === ch) this.#channels.delete(key);
  }

  #closeChannelsOf(nodeId: string, error: Error): void {
    for (const ch of [...this.#channels.values()]) if (ch.nodeId === nodeId) ch.close(error);
  }

  // --- incoming ----------------------------------------------------------------------------

  #fromAgent(msg: Msg): void {
    const where = parseAgentSubject(msg.subject);
    if (!where || where.channelId !== undefined) return;
    const { nodeId } = where;
    const linkId = msg.headers?.get(HEADER.link) ?? '';
    const current = this.#links.get(nodeId);
    if (msg.headers?.get(HEADER.control) === CONTROL_CLOSE) {
      if (current && current.linkId === linkId) {
        this.forgetLink(current);
        current.finish(new NatsLinkLostError('the agent closed the link'));
      }
      return;
    }
    let message: AgentMessage;
    try {
      message = AgentMessage.decode(msg.data);
      checkRequest(CONNECT, message);
    } catch (err) {
      // A text field over its limit (common/limits.ts) is refused as bytes that do not decode are.
      this.#log.warn({ nodeId, reason: err instanceof FieldTooLongError ? err.message : 'undecodable' }, 'ignored an agent message on NATS');
      return;
    }
    if (message.body?.$case === 'hello') return this.#hello(nodeId, linkId, msg, message);
    if (!current || current.linkId !== linkId) return this.#askForHello(nodeId, linkId);
    const order = sequence(current, msg);
    if (order === 'gap') current.close(new NatsLinkLostError('messages from the agent were lost on the way (a broker failed?); starting the link over'));
    else if (order === 'next') current.deliver(message);
  }

  #hello(nodeId: string, linkId: string, msg: Msg, message: AgentMessage): void {
    if (!isSubjectToken(linkId)) return;
    const h = msg.headers;
    let fingerprint: string;
    try {
      fingerprint = checkHelloProof(nodeId, linkId, msg.data, { cert: h?.get(HEADER.cert), time: h?.get(HEADER.time), proof: h?.get(HEADER.proof) }, this.#ca);
    } catch (err) {
      this.#log.warn({ nodeId, reason: (err as Error).message }, 'refused a NATS Hello');
      this.sendClose(subjects.nodeIn(nodeId), linkId, (err as Error).message);
      return;
    }
    const previous = this.#links.get(nodeId);
    if (previous?.linkId === linkId) return;
    const link = new NatsAgentLink(this, nodeId, linkId, fingerprint, `nats via ${this.#nc?.getServer() ?? '?'}`);
    this.#links.set(nodeId, link);
    try {
      // The hub replaces the node's session (closing the previous link) without an offline blip.
      this.#handlers!.connect(link);
    } catch (err) {
      link.close(err as Error);
      return;
    }
    // The agent started over: its old link, if anything still held it, is gone with its channels.
    if (previous && !previous.closed) {
      this.#closeChannelsOf(nodeId, new NatsLinkLostError('the agent started a new link'));
      previous.finish(new NatsLinkLostError('replaced by a new link'));
    }
    this.#toldToReconnect.delete(nodeId);
    link.inSeq = Number(h?.get(HEADER.seq)) || 1;
    link.deliver(message);
  }

  /** A message on a link this server does not know (it restarted, or lost its broker): start over. */
  #askForHello(nodeId: string, linkId: string): void {
    const now = Date.now();
    if (now - (this.#toldToReconnect.get(nodeId) ?? 0) < 1000) return;
    this.#toldToReconnect.set(nodeId, now);
    if (this.#toldToReconnect.size > 10_000) for (const [k, at] of this.#toldToReconnect) if (now - at > 1000) this.#toldToReconnect.delete(k);
    this.sendClose(subjects.nodeIn(nodeId), linkId, 'this fleet server has no link from this agent (it restarted or lost its broker); say Hello again');
  }

  #fromChannel(msg: Msg): void {
    const where = parseAgentSubject(msg.subject);
    if (!where?.channelId) return;
    const { nodeId, channelId } = where;
    const key = `${nodeId}/${channelId}`;
    const existing = this.#channels.get(key);
    if (msg.headers?.get(HEADER.control) === CONTROL_CLOSE) {
      if (existing) {
        this.forgetChannel(existing);
        existing.finish();
      }
      return;
    }
    let frame: ChannelFrame;
    try {
      frame = ChannelFrame.decode(msg.data);
      checkRequest(OPEN_CHANNEL, frame);
    } catch (err) {
      this.#log.warn({ nodeId, channelId, reason: err instanceof FieldTooLongError ? err.message : 'undecodable' }, 'ignored a channel frame on NATS');
      return;
    }
    if (existing) {
      const order = sequence(existing, msg);
      if (order === 'next') existing.deliver(frame);
      else if (order === 'gap') existing.close(new NatsLinkLostError('channel frames were lost on the way (a broker failed?)'));
      return;
    }
    const link = this.#links.get(nodeId);
    if (frame.body?.$case !== 'open' || frame.body.value.channelId !== channelId || !link) {
      this.sendClose(subjects.channelIn(nodeId, channelId), channelId, link ? 'no such channel' : 'the agent has no link to this server');
      return;
    }
    const ch = new NatsChannel(this, nodeId, channelId, link.credentialFingerprint);
    ch.inSeq = Number(msg.headers?.get(HEADER.seq)) || 1;
    this.#channels.set(key, ch);
    try {
      this.#handlers!.channel(ch);
    } catch (err) {
      ch.close(err as Error);
      return;
    }
    ch.deliver(frame);
  }
}

/**
 * Where `msg` stands in `peer`'s sequence (Fleet-Seq): the next one (and the peer advances), an
 * old one (a duplicate or replay: dropped), or one after a gap (messages were lost).
 */
function sequence(peer: { inSeq: number }, msg: Msg): 'next' | 'old' | 'gap' {
  const seq = Number(msg.headers?.get(HEADER.seq));
  if (seq === peer.inSeq + 1) {
    peer.inSeq = seq;
    return 'next';
  }
  return Number.isInteger(seq) && seq > 0 && seq <= peer.inSeq ? 'old' : 'gap';
}
