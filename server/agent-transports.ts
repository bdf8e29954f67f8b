// The agent transports fleet-server serves, one registration each: gRPC on the server's port
// (always) and NATS brokers (when FLEET_NATS / --nats names them, docs/scale-out.md). Every
// transport configured is started with the same handlers, so one job may mix agents of both.
// Adding a transport is one entry in SERVER_TRANSPORTS; server.ts never names one.
import type { Server } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { GrpcServerAgentTransport, NatsServerAgentTransport, TransportRegistry, type ServerAgentTransport } from '../transport';
import type { ServerOptions } from './config';

/** What a transport may use besides the server's options. */
export interface ServerTransportContext {
  /** The gRPC server the Control service also runs on (one port for agents and the CLI). */
  grpcServer: Server;
  /** The fleet CA, PEM. */
  caPem: string;
  /** This server's credentials on the NATS brokers (a creds file's text). */
  natsCredentials(): Promise<string>;
  /** The transport's logger (`part` is its name). */
  log: Logger;
}

/** One server transport: built when the server's options ask for it. */
export interface ServerTransportFactory {
  /** The transport `options` configure, or null when they leave it off. */
  create(options: ServerOptions, context: ServerTransportContext): Promise<ServerAgentTransport | null>;
}

/** The registered server transports. */
export const SERVER_TRANSPORTS = new TransportRegistry<ServerTransportFactory>({
  grpc: { create: async (_options, { grpcServer, log }) => new GrpcServerAgentTransport(grpcServer, log) },
  nats: {
    create: async ({ nats }, { natsCredentials, caPem, log }) => nats && new NatsServerAgentTransport({ servers: nats.servers, creds: await natsCredentials(), caPem, log }),
  },
});

/**
 * Builds every registered transport that `options` configure, in registration order, each with
 * a logger of its own (`part`: its name, e.g. "grpc"); the caller starts and stops them.
 * @example for (const t of await createServerTransports(options, context)) t.start(handlers);
 */
export async function createServerTransports(options: ServerOptions, context: ServerTransportContext, registry = SERVER_TRANSPORTS): Promise<ServerAgentTransport[]> {
  const transports: ServerAgentTransport[] = [];
  for (const [name, factory] of registry.entries()) {
    const transport = await factory.create(options, { ...context, log: context.log.child({ part: name }) });
    if (transport) transports.push(transport);
  }
  return transports;
}
