// A party in the middle of one agent's gRPC link that holds the server's TLS key (as a
// TLS-terminating load balancer would, or an intruder who copied pki/server.key): it relays the
// agent's calls to the real server, records what the server sends, and can send messages of its
// own. It does not hold the separate command-signing key, so the agent must refuse any command
// it did not get from the server exactly once.
import { Server, ServerCredentials, credentials, status, type ServerDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentServiceClient, AgentServiceService, type AgentMessage, type AgentServiceServer, type ServerMessage } from '../proto/gen/fleet/v1/agent';
import { CLIENT_CHANNEL_OPTIONS } from '../transport';

export class GrpcRelay {
  /** Every message the server sent down the relayed Connect streams, in order. */
  readonly fromServer: ServerMessage[] = [];
  /** Failures of the relay's own calls (none expected). */
  readonly errors: Error[] = [];
  readonly #server: Server;
  readonly #clients: AgentServiceClient[] = [];
  #agent: ServerDuplexStream<AgentMessage, ServerMessage> | undefined;

  private constructor(
    readonly port: number,
    server: Server,
  ) {
    this.#server = server;
  }

  /**
   * Listens on a free port of 127.0.0.1 with the server's certificate from `dataDir`, relaying to
   * `upstream` (HOST:PORT); Connect goes upstream with the credentials in `agentDir`, read when
   * the agent connects (so the agent may enroll through the relay first).
   */
  static async start(options: { dataDir: string; upstream: string; agentDir: string }): Promise<GrpcRelay> {
    const pki = (file: string) => readFileSync(join(options.dataDir, 'pki', file));
    const caPem = pki('ca.crt');
    const server = new Server({ 'grpc.keepalive_permit_without_calls': 1, 'grpc.http2.min_ping_interval_without_data_ms': 5000 });
    let relay: GrpcRelay | undefined;
    const upstream = (withAgentCredentials: boolean) => {
      const agentFile = (file: string) => readFileSync(join(options.agentDir, file));
      const creds = withAgentCredentials ? credentials.createSsl(caPem, agentFile('agent.key'), agentFile('agent.crt')) : credentials.createSsl(caPem);
      const client = new AgentServiceClient(options.upstream, creds, CLIENT_CHANNEL_OPTIONS);
      relay!.#clients.push(client);
      return client;
    };
    const unimplemented = (_call: unknown, callback?: (err: Partial<ServiceError>) => void) => callback?.({ code: status.UNIMPLEMENTED });
    const handlers: AgentServiceServer = {
      enroll: (call, callback) => {
        upstream(false).enroll(call.request, (err, response) => callback(err, response));
      },
      connect: (call) => {
        const up = upstream(true).connect();
        relay!.#agent = call;
        call.on('data', (message: AgentMessage) => up.write(message));
        call.on('end', () => up.end());
        call.on('error', () => up.cancel());
        call.on('cancelled', () => up.cancel());
        up.on('data', (message: ServerMessage) => {
          relay!.fromServer.push(message);
          call.write(message);
        });
        up.on('end', () => call.end());
        up.on('error', (err: ServiceError) => {
          if (err.code !== status.CANCELLED) relay!.errors.push(err);
          call.destroy(err);
        });
      },
      openChannel: (call) => {
        call.destroy(Object.assign(new Error('not relayed'), { code: status.UNIMPLEMENTED }));
      },
      renew: unimplemented,
      leave: unimplemented,
    };
    server.addService(AgentServiceService, handlers);
    const creds = ServerCredentials.createSsl(caPem, [{ cert_chain: Buffer.concat([pki('server.crt'), caPem]), private_key: pki('server.key') }], false);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
    relay = new GrpcRelay(port, server);
    return relay;
  }

  /** The address agents are given (`--server`). */
  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Sends a message down the agent's open Connect stream as if the server had sent it. */
  send(message: ServerMessage): void {
    if (!this.#agent) throw new Error('no agent is connected through the relay');
    this.#agent.write(message);
  }

  close(): void {
    this.#server.forceShutdown();
    for (const client of this.#clients) client.close();
  }
}
