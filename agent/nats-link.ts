// Choosing NATS for the agent's link (`fleet-agent run --nats URLS`): the agent's own NATS
// credentials from enrollment, its certificate for the Hello proof, and gRPC kept for renewal.
import type { Logger } from 'pino';
import { parseServerAddress } from '../common/address';
import { GrpcAgentTransport, NatsAgentTransport, type AgentTransport } from '../transport';
import { InvalidOptionError } from './errors';
import type { AgentIdentity, AgentState } from './state';

/**
 * A transport factory for Agent (`AgentDeps.transport`) that links over NATS.
 * @throws InvalidOptionError when this agent has no NATS credentials.
 */
export function natsTransportFactory(servers: string[], state: AgentState, log: Logger): (identity: AgentIdentity) => AgentTransport {
  const creds = state.loadNatsCredentials();
  if (!creds) {
    throw new InvalidOptionError(
      `this agent has no NATS credentials (${state.natsCredsFile}): it enrolled with a version or server without NATS support; enroll it again to use --nats`,
    );
  }
  return (identity) =>
    new NatsAgentTransport({
      servers,
      creds,
      nodeId: identity.nodeId,
      keyPem: identity.keyPem,
      certPem: identity.certPem,
      grpc: new GrpcAgentTransport({ address: parseServerAddress(identity.server), caPem: identity.caPem, keyPem: identity.keyPem, certPem: identity.certPem }),
      log: log.child({ part: 'nats' }),
    });
}
