// A table of transport factories keyed by name. The server and the agent each keep one
// (server/agent-transports.ts, agent/transports.ts), so adding a transport is one registration
// there and the wiring never names a transport.
import { UnknownTransportError } from './errors';

/** Factories of one kind (the server's or the agent's), each under its transport's name. */
export class TransportRegistry<F> {
  readonly #factories: ReadonlyMap<string, F>;

  /** @example new TransportRegistry({ grpc: grpcFactory, nats: natsFactory }) */
  constructor(factories: Readonly<Record<string, F>>) {
    this.#factories = new Map(Object.entries(factories));
  }

  /** The registered names, in registration order. */
  get names(): string[] {
    return [...this.#factories.keys()];
  }

  /**
   * The factory registered as `name`.
   * @throws UnknownTransportError naming the known transports
   */
  get(name: string): F {
    const factory = this.#factories.get(name);
    if (factory === undefined) throw new UnknownTransportError(name, this.names);
    return factory;
  }

  /** Every [name, factory] pair, in registration order. */
  entries(): [string, F][] {
    return [...this.#factories.entries()];
  }
}
