// Shell channels across replicas. A shell is opened on the replica the operator reached (it holds
// the session, the recording and the operator's stream); the agent opens the shell's channel to
// whichever replica its connection lands on (a load balancer picks). When those differ, the
// agent's replica forwards the channel's frames over the bus to the session's replica and back:
// topics `shell.<id>.up` (from the agent) and `shell.<id>.down` (to it). Flow control stays end to
// end (the operator's acks travel down like any frame), so the bus carries at most a window of
// output per shell.
import type { Logger } from 'pino';
import type { ChannelFrame } from '../../proto/gen/fleet/v1/agent';
import type { ChannelConnection } from '../../transport';
import type { EventBus } from '../bus';

/** One message of a relayed channel: a frame, or the channel's end (with the reason, if any). */
type RelayMessage = { frame: ChannelFrame } | { close: string };

const up = (id: string) => `shell.${id}.up`;
const down = (id: string) => `shell.${id}.down`;

export class ChannelRelay {
  readonly #bus: EventBus;
  readonly #log: Logger;

  constructor(bus: EventBus, log: Logger) {
    this.#bus = bus;
    this.#log = log;
  }

  /**
   * On the replica the agent reached: passes the agent's channel for session `id` to the replica
   * holding the session. `frames` are the ones that arrived so far (the first is the open frame);
   * the channel is closed when nothing passes either way for `idleMs` (the session's replica went
   * away), or when the session's replica closes it.
   */
  forward(connection: ChannelConnection, id: string, frames: ChannelFrame[], idleMs: number): (frame: ChannelFrame) => void {
    let timer: NodeJS.Timeout | undefined;
    const alive = () => {
      clearTimeout(timer);
      timer = setTimeout(() => connection.close(new Error('the server holding this shell stopped answering')), idleMs);
      timer.unref();
    };
    const unsubscribe = this.#bus.subscribe<RelayMessage>(down(id), (m) => {
      alive();
      if ('frame' in m) connection.send(m.frame);
      else connection.close(m.close ? new Error(m.close) : undefined);
    });
    connection.onClose((err) => {
      clearTimeout(timer);
      unsubscribe();
      this.#bus.publish<RelayMessage>(up(id), { close: err?.message ?? '' });
    });
    const pass = (frame: ChannelFrame) => {
      alive();
      this.#bus.publish<RelayMessage>(up(id), { frame });
    };
    for (const frame of frames) pass(frame);
    this.#log.info({ session: id, node: connection.nodeId }, 'relaying a shell channel to the replica holding its session');
    return pass;
  }

  /**
   * On the replica holding session `id`: calls `onOpen` with the channel when the agent opens it
   * on another replica (its first frame). Returns the function that stops waiting.
   */
  await(id: string, nodeId: string, onOpen: (channel: ChannelConnection) => void): () => void {
    let channel: RemoteChannel | undefined;
    const unsubscribe = this.#bus.subscribe<RelayMessage>(up(id), (m) => {
      if (!channel) {
        if (!('frame' in m) || m.frame.body?.$case !== 'open') return;
        channel = new RemoteChannel(nodeId, (out) => this.#bus.publish<RelayMessage>(down(id), out), unsubscribe);
        onOpen(channel);
      }
      channel.received(m);
    });
    return () => {
      if (!channel) unsubscribe();
    };
  }
}

/** The session's side of a relayed channel. */
class RemoteChannel implements ChannelConnection {
  readonly credentialFingerprint = '';
  readonly #send: (m: RelayMessage) => void;
  readonly #done: () => void;
  readonly #messageHandlers: ((frame: ChannelFrame) => void)[] = [];
  readonly #closeHandlers: ((error?: Error) => void)[] = [];
  #closed = false;

  constructor(
    readonly nodeId: string,
    send: (m: RelayMessage) => void,
    done: () => void,
  ) {
    this.#send = send;
    this.#done = done;
  }

  send(frame: ChannelFrame): boolean {
    if (this.#closed) return false;
    this.#send({ frame });
    return true;
  }

  close(reason?: Error): void {
    if (this.#closed) return;
    this.#send({ close: reason?.message ?? '' });
    this.#finish(reason);
  }

  onMessage(handler: (frame: ChannelFrame) => void): void {
    this.#messageHandlers.push(handler);
  }

  onClose(handler: (error?: Error) => void): void {
    if (this.#closed) handler();
    else this.#closeHandlers.push(handler);
  }

  /** A message from the agent's replica. */
  received(m: RelayMessage): void {
    if (this.#closed) return;
    if ('frame' in m) {
      for (const h of this.#messageHandlers) h(m.frame);
    } else {
      this.#finish(m.close ? new Error(m.close) : undefined);
    }
  }

  #finish(error?: Error): void {
    this.#closed = true;
    this.#done();
    for (const h of this.#closeHandlers.splice(0)) h(error);
  }
}
