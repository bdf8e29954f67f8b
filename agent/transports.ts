// The transports an agent can link over, one registration each, chosen by name: gRPC to the
// server it enrolled with (the default), or NATS brokers (`--nats URLS`, docs/scale-out.md).
// Adding a transport is one entry in AGENT_TRANSPORTS; Agent, the CLI and the emulator never
// name one.
import type { Logger } from 'pino';
import { parseServerAddress } from '../common/address';
import { GrpcAgentTransport, NatsAgentTransport, TransportRegistry, parseNatsServers, type AgentTransport } from '../transport';
import { InvalidOptionError } from './errors';
import type { AgentIdentity, AgentState } from './state';

/** Which transport an agent links over, and that transport's settings. */
export interface AgentLinkOptions {
  /** A name registered in AGENT_TRANSPORTS: "grpc" or "nats". */
  transport: string;
  /** NATS broker URLs (the NATS transport only). */
  natsServers?: string[];
}

/** What a transport may use besides its settings. */
export interface AgentTransportContext {
  state: AgentState;
  log: Logger;
}

/** Makes the link for an identity (Agent calls it again after each certificate renewal). */
export type AgentTransportMaker = (identity: AgentIdentity) => AgentTransport;

/** One agent transport: checks once that this agent can link this way, then makes links. */
export interface AgentTransportFactory {
  /** @throws InvalidOptionError when the settings or this agent's state do not allow it */
  prepare(options: AgentLinkOptions, context: AgentTransportContext): AgentTransportMaker;
}

const grpc = (identity: AgentIdentity) =>
  new GrpcAgentTransport({ address: parseServerAddress(identity.server), caPem: identity.caPem, keyPem: identity.keyPem, certPem: identity.certPem });

/** The registered agent transports. */
export const AGENT_TRANSPORTS = new TransportRegistry<AgentTransportFactory>({
  grpc: { prepare: () => grpc },
  nats: {
    // The agent's own NATS credentials from enrollment, its certificate for the Hello proof,
    // and gRPC kept for renewal.
    prepare: (options, { state, log }) => {
      if (!options.natsServers?.length) throw new InvalidOptionError('the NATS transport needs broker URLs (--nats, FLEET_AGENT_NATS)');
      const servers = options.natsServers;
      const creds = state.loadNatsCredentials();
      if (!creds) {
        throw new InvalidOptionError(
          `this agent has no NATS credentials (${state.natsCredsFile}): it enrolled with a version or server without NATS support; enroll it again to use --nats`,
        );
      }
      return (identity) =>
        new NatsAgentTransport({ servers, creds, nodeId: identity.nodeId, keyPem: identity.keyPem, certPem: identity.certPem, grpc: grpc(identity), log: log.child({ part: 'nats' }) });
    },
  },
});

/**
 * The link options the agent's flags ask for: `--nats URLS` (FLEET_AGENT_NATS) links over
 * NATS, otherwise gRPC.
 * @throws InvalidNatsOptionError for malformed URLs
 */
export function linkOptionsFromFlags(flags: { nats?: string }): AgentLinkOptions {
  if (!flags.nats) return { transport: 'grpc' };
  return { transport: 'nats', natsServers: parseNatsServers(flags.nats) };
}

/**
 * The link maker for the transport `options` name.
 * @throws UnknownTransportError (listing the known names), InvalidOptionError
 * @example const transport = createAgentTransport(linkOptionsFromFlags(opts), { state, log });
 */
export function createAgentTransport(options: AgentLinkOptions, context: AgentTransportContext, registry = AGENT_TRANSPORTS): AgentTransportMaker {
  return registry.get(options.transport).prepare(options, context);
}
