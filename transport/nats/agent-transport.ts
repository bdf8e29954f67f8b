// NATS implementation of the agent side of the link. The agent keeps one broker connection (the
// client fails over between the brokers it was given), subscribes to its own .in subject, and
// publishes AgentMessages on its .out subject, each tagged with the link id it chose for its
// Hello. Enrollment and certificate renewal still go to the server's gRPC port (`grpc`).
import { randomBytes } from 'node:crypto';
import { credsAuthenticator } from './native-nkeys';
import { connect, headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from 'nats';
import type { Logger } from 'pino';
import { AgentMessage, ChannelFrame, ServerMessage, type EnrollRequest, type EnrollResponse } from '../../proto/gen/fleet/v1/agent';
import type { AgentLink, AgentLinkHandlers, AgentTransport, ChannelLink, ChannelLinkHandlers } from '../types';
import { NatsLinkClosedError, NatsLinkLostError } from './errors';
import { makeHelloProof } from './hello-proof';
import { CONTROL_CLOSE, HEADER, isSubjectToken, subjects } from './subjects';

export interface NatsAgentTransportOptions {
  /** Broker URLs; the client picks one and fails over to the others. */
  servers: string[];
  /** The agent's own NATS identity: a creds file (its user JWT and nkey seed). */
  creds: string;
  nodeId: string;
  /** The agent's TLS key and certificate: the Hello proves the link belongs to them. */
  keyPem: string;
  certPem: string;
  /** Enrollment and renewal: the gRPC transport to the server's port. */
  grpc: AgentTransport;
  /** A link with no word from any fleet server this long after its Hello is given up. Default 10 s. */
  helloTimeoutMs?: number;
  log?: Logger;
}

/** Something open on the broker connection that ends when the connection is lost. */
interface Closable {
  lost(error: Error): void;
}

const newLinkId = () => randomBytes(9).toString('base64url');

export class NatsAgentTransport implements AgentTransport {
  readonly #options: NatsAgentTransportOptions;
  readonly #open = new Set<Closable>();
  #nc: Promise<NatsConnection> | undefined;
  #closed = false;

  constructor(options: NatsAgentTransportOptions) {
    if (!isSubjectToken(options.nodeId)) throw new Error(`node id ${options.nodeId} cannot be used on NATS`);
    this.#options = options;
  }

  /** The broker connection, made on first use; every link and channel shares it. */
  #connection(): Promise<NatsConnection> {
    if (this.#nc) return this.#nc;
    const o = this.#options;
    this.#nc = connect({
      servers: o.servers,
      authenticator: credsAuthenticator(o.creds),
      name: `fleet-agent ${o.nodeId}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 500,
      waitOnFirstConnect: true,
      pingInterval: 10_000,
      maxPingOut: 2,
    });
    this.#nc.then(
      (nc) => {
        if (this.#closed) void nc.close();
        else void this.#watch(nc);
      },
      () => {
        this.#nc = undefined;
      },
    );
    return this.#nc;
  }

  async #watch(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') {
        // Messages may have been lost with the broker: end the link, so the agent says Hello again
        // (through the next broker) and replays every result the server has not acknowledged.
        this.#options.log?.warn({ broker: String(status.data) }, 'lost the NATS broker; failing over');
        this.#loseAll(new NatsLinkLostError(`lost the NATS broker ${String(status.data)}`));
      } else if (status.type === 'error') {
        this.#options.log?.warn({ error: String(status.data), context: status.permissionContext }, 'NATS error');
      }
    }
    // The iterator ends when the connection is closed for good.
    this.#loseAll(new NatsLinkLostError('the NATS connection is closed'));
    if (this.#nc && (await this.#nc.catch(() => undefined)) === nc) this.#nc = undefined;
  }

  #loseAll(error: Error): void {
    for (const c of [...this.#open]) c.lost(error);
  }

  enroll(request: EnrollRequest): Promise<EnrollResponse> {
    return this.#options.grpc.enroll(request);
  }

  renew(csrPem: string): Promise<string> {
    return this.#options.grpc.renew(csrPem);
  }

  connect(handlers: AgentLinkHandlers): AgentLink {
    const { nodeId, keyPem, certPem } = this.#options;
    const linkId = newLinkId();
    let nc: NatsConnection | undefined;
    let sub: Subscription | undefined;
    let closed = false;
    let heard = false;
    let outSeq = 0;
    let inSeq = 0;
    const pending: AgentMessage[] = [];
    const finish = (error?: Error) => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      this.#open.delete(entry);
      try {
        sub?.unsubscribe();
      } catch {
        // the connection is gone already
      }
      handlers.onClose(error);
    };
    const entry: Closable = { lost: (error) => finish(error) };
    this.#open.add(entry);
    const publish = (message: AgentMessage) => {
      const data = AgentMessage.encode(message).finish();
      const h = natsHeaders();
      h.set(HEADER.link, linkId);
      h.set(HEADER.seq, String(++outSeq));
      if (message.body?.$case === 'hello') {
        const proof = makeHelloProof(nodeId, linkId, data, keyPem, certPem);
        h.set(HEADER.cert, proof.cert);
        h.set(HEADER.time, proof.time);
        h.set(HEADER.proof, proof.proof);
      }
      nc!.publish(subjects.nodeOut(nodeId), data, { headers: h });
    };
    const received = (msg: Msg) => {
      if (isClose(msg.headers)) {
        if (msg.headers!.get(HEADER.link) === linkId) finish(new NatsLinkClosedError(msg.headers!.get(HEADER.reason)));
        return;
      }
      let message: ServerMessage;
      try {
        message = ServerMessage.decode(msg.data);
      } catch {
        this.#options.log?.warn('ignored an undecodable server message on NATS');
        return;
      }
      const ours = msg.headers?.get(HEADER.link) === linkId;
      const seq = Number(msg.headers?.get(HEADER.seq));
      if (!ours || seq !== inSeq + 1) {
        // Not the next message of this link: one sent on an earlier link, a duplicate or replay,
        // someone else's, or one after a loss. A signed command carries its own proof, so it still
        // goes to the agent, which verifies it (and reports a refusal); anything else is dropped.
        if (message.body?.$case === 'command') handlers.onMessage(message);
        if (ours && seq > inSeq + 1) {
          if (nc) sendClose(nc, subjects.nodeOut(nodeId), linkId);
          finish(new NatsLinkLostError('messages from the server were lost on the way (a broker failed?); starting the link over'));
        }
        return;
      }
      inSeq = seq;
      heard = true;
      handlers.onMessage(message);
    };
    const timeoutMs = this.#options.helloTimeoutMs ?? 10_000;
    const timer = setTimeout(() => {
      if (!heard) finish(new NatsLinkLostError(`no fleet server answered on NATS within ${timeoutMs} ms`));
    }, timeoutMs);
    this.#connection().then(
      (connection) => {
        if (closed) return;
        nc = connection;
        try {
          sub = connection.subscribe(subjects.nodeIn(nodeId), {
            callback: (err, msg) => (err ? finish(new NatsLinkLostError(`cannot receive from the server on NATS: ${err.message}`, err)) : received(msg)),
          });
          for (const m of pending.splice(0)) publish(m);
        } catch (err) {
          finish(new NatsLinkLostError(`NATS: ${(err as Error).message}`, err));
        }
      },
      (err: Error) => finish(new NatsLinkLostError(`cannot connect to NATS: ${err.message}`, err)),
    );
    return {
      send: (message) => {
        if (closed) return false;
        if (!nc) {
          pending.push(message);
          return true;
        }
        try {
          publish(message);
          return true;
        } catch (err) {
          finish(new NatsLinkLostError(`cannot publish on NATS: ${(err as Error).message}`, err));
          return false;
        }
      },
      close: () => {
        if (closed) return;
        if (nc) sendClose(nc, subjects.nodeOut(nodeId), linkId);
        finish();
      },
    };
  }

  openChannel(handlers: ChannelLinkHandlers): ChannelLink {
    const { nodeId } = this.#options;
    let nc: NatsConnection | undefined;
    let sub: Subscription | undefined;
    let channelId = '';
    let closed = false;
    let outSeq = 0;
    let inSeq = 0;
    const pending: ChannelFrame[] = [];
    const finish = (error?: Error) => {
      if (closed) return;
      closed = true;
      this.#open.delete(entry);
      try {
        sub?.unsubscribe();
      } catch {
        // the connection is gone already
      }
      handlers.onClose(error);
    };
    const entry: Closable = { lost: (error) => finish(error) };
    this.#open.add(entry);
    /** Subscribes before the first frame goes out, so the server's answer cannot come first. */
    const publish = (frame: ChannelFrame) => {
      if (!sub) {
        sub = nc!.subscribe(subjects.channelIn(nodeId, channelId), {
          callback: (err, msg) => {
            if (err) return finish(new NatsLinkLostError(`cannot receive channel frames on NATS: ${err.message}`, err));
            if (isClose(msg.headers)) return finish(new NatsLinkClosedError(msg.headers!.get(HEADER.reason) || 'the server closed the channel'));
            const seq = Number(msg.headers?.get(HEADER.seq));
            if (seq <= inSeq) return; // a duplicate or replay
            if (seq !== inSeq + 1) {
              sendClose(nc!, subjects.channelOut(nodeId, channelId), channelId);
              return finish(new NatsLinkLostError('channel frames from the server were lost on the way (a broker failed?)'));
            }
            inSeq = seq;
            try {
              handlers.onFrame(ChannelFrame.decode(msg.data));
            } catch {
              this.#options.log?.warn('ignored an undecodable channel frame on NATS');
            }
          },
        });
      }
      const h = natsHeaders();
      h.set(HEADER.seq, String(++outSeq));
      nc!.publish(subjects.channelOut(nodeId, channelId), ChannelFrame.encode(frame).finish(), { headers: h });
    };
    const flush = () => {
      try {
        for (const f of pending.splice(0)) publish(f);
      } catch (err) {
        finish(new NatsLinkLostError(`cannot publish on NATS: ${(err as Error).message}`, err));
      }
    };
    this.#connection().then(
      (connection) => {
        if (closed) return;
        nc = connection;
        if (channelId) flush();
      },
      (err: Error) => finish(new NatsLinkLostError(`cannot connect to NATS: ${err.message}`, err)),
    );
    const endWith = () => {
      if (closed) return;
      if (nc && channelId) {
        flush();
        sendClose(nc, subjects.channelOut(nodeId, channelId), channelId);
      }
      finish();
    };
    return {
      send: (frame) => {
        if (closed) return false;
        if (!channelId) {
          // The first frame names the channel; it decides the subjects.
          const id = frame.body?.$case === 'open' ? frame.body.value.channelId : '';
          if (!isSubjectToken(id)) {
            finish(new NatsLinkLostError('a channel must start with an open frame naming a valid channel id'));
            return false;
          }
          channelId = id;
        }
        pending.push(frame);
        if (nc) flush();
        return !closed;
      },
      end: endWith,
      close: endWith,
    };
  }

  /** Closes the links and the broker connection, flushing what was sent (a link's close) first. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#loseAll(new NatsLinkLostError('the transport is closed'));
    const nc = this.#nc;
    this.#nc = undefined;
    await this.#options.grpc.close();
    const connection = await nc?.catch(() => undefined);
    if (!connection || connection.isClosed()) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([connection.drain().catch(() => connection.close()), new Promise<void>((r) => (timer = setTimeout(r, 2000)))]);
    clearTimeout(timer);
    if (!connection.isClosed()) await connection.close();
  }
}

function isClose(h: MsgHdrs | undefined): boolean {
  return h?.get(HEADER.control) === CONTROL_CLOSE;
}

function sendClose(nc: NatsConnection, subject: string, id: string): void {
  try {
    const h = natsHeaders();
    h.set(HEADER.control, CONTROL_CLOSE);
    h.set(HEADER.link, id);
    nc.publish(subject, new Uint8Array(0), { headers: h });
  } catch {
    // the connection is gone: the server notices the silence
  }
}
