// The one path for commands to agents: encode, sign, send. Each command names its node and an
// expiry, so an agent refuses one meant for another node or replayed late (agent/verify).
// Commands to one node leave in the order they were given, whatever the signer's latency.
import type { Logger } from 'pino';
import { Command, type ServerMessage } from '../../proto/gen/fleet/v1/agent';
import type { CommandSigner } from './signer';

/** How long a command stays valid by default: an agent refuses it after that. */
export const COMMAND_TTL_MS = 5 * 60_000;

/** Where signed commands go: the agent hub (true when the node's link took it). */
export interface CommandLink {
  send(nodeId: string, message: ServerMessage): boolean;
}

/** What a command does (exec, shell, apply, upgrade). */
export type CommandBody = NonNullable<Command['body']>;

export class CommandSender {
  readonly #link: CommandLink;
  readonly #signer: CommandSigner;
  readonly #log: Logger;
  /** The last send queued for each node, so the next one waits for it. */
  readonly #tails = new Map<string, Promise<boolean>>();

  constructor(d: { link: CommandLink; signer: CommandSigner; log: Logger }) {
    this.#link = d.link;
    this.#signer = d.signer;
    this.#log = d.log;
  }

  /**
   * Encodes, signs and sends a command to a node; resolves true when the node's link took it,
   * false when the node is not connected (or signing failed, which is logged).
   */
  send(nodeId: string, id: string, body: CommandBody, ttlMs = COMMAND_TTL_MS): Promise<boolean> {
    const payload = Buffer.from(Command.encode({ id, nodeId, notAfterUnixMs: Date.now() + ttlMs, body }).finish());
    const previous = this.#tails.get(nodeId);
    // Nothing queued for this node and a signer that signs at once: send now, in the caller's turn
    // (a fan-out's first commands reach their agents while the rest are still being signed).
    if (!previous && this.#signer.signNow) {
      let signature: Buffer;
      try {
        signature = this.#signer.signNow(payload);
      } catch (err) {
        return Promise.resolve(this.#signingFailed(err, nodeId, id));
      }
      return Promise.resolve(this.#deliver(nodeId, payload, signature));
    }
    const sent = (previous ?? Promise.resolve(true)).then(async () => {
      let signature: Buffer;
      try {
        signature = await this.#signer.sign(payload);
      } catch (err) {
        return this.#signingFailed(err, nodeId, id);
      }
      return this.#deliver(nodeId, payload, signature);
    });
    this.#tails.set(nodeId, sent);
    void sent.then(() => {
      if (this.#tails.get(nodeId) === sent) this.#tails.delete(nodeId);
    });
    return sent;
  }

  #deliver(nodeId: string, payload: Buffer, signature: Buffer): boolean {
    return this.#link.send(nodeId, { body: { $case: 'command', value: { payload, signature } } });
  }

  #signingFailed(err: unknown, nodeId: string, id: string): false {
    this.#log.error({ err, node: nodeId, command: id }, 'signing a command failed; not sent');
    return false;
  }
}
