// Public surface of the transport folder: the link interfaces, the registry server and agent keep
// their transport factories in, and the gRPC and NATS implementations.
export type * from './types';
export { TransportRegistry } from './registry';
export { UnknownTransportError } from './errors';
export { droppedMidCall, explainConnectFailure } from './connect-errors';
export { SERVER_NAME, certificateHash, derToPem, fetchPinnedCa, readPresentedChain, CaMismatchError, ServerUnreachableError } from './tls';
export { GrpcServerAgentTransport } from './grpc/server-transport';
export { GrpcAgentTransport, CLIENT_CHANNEL_OPTIONS, type GrpcAgentTransportOptions } from './grpc/agent-transport';
export { createServerCredentials, type ServerTlsMaterial } from './grpc/server-credentials';
export { tolerantDecoding, tolerantServer, malformedRequestInterceptor } from './grpc/request-decoding';
export { MalformedRequestError } from './grpc/errors';
export { toGrpcStatus, fromGrpcError, isServiceError, RemoteError, ERROR_CODE_TRAILER } from './grpc/status';
export { NatsServerAgentTransport, type NatsServerTransportOptions } from './nats/server-transport';
export { NatsAgentTransport, type NatsAgentTransportOptions } from './nats/agent-transport';
export { nativeSigner, credsAuthenticator as natsCredsAuthenticator } from './nats/native-nkeys';
export { agentPermissions, serverPermissions, subjects as natsSubjects, BROADCAST_SUBJECT, SERVER_QUEUE, type SubjectPermissions } from './nats/subjects';
export { parseNatsServers, InvalidNatsOptionError, NatsLinkLostError, NatsLinkClosedError, AgentRefusedOnNatsError } from './nats/errors';
