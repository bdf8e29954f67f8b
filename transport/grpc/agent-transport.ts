// gRPC implementation of the agent side of the link: a client for AgentService over TLS that
// verifies the server against the fleet CA (and, once enrolled, presents the agent certificate).
import { Metadata, credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { formatHostPort, type ServerAddress } from '../../common/address';
import { AgentServiceClient, type AgentMessage, type ChannelFrame, type EnrollRequest, type EnrollResponse, type ServerMessage } from '../../proto/gen/fleet/v1/agent';
import { SERVER_NAME } from '../tls';
import { HTTP2_WINDOW } from './server-credentials';
import type { AgentLink, AgentLinkHandlers, AgentTransport, ChannelLink, ChannelLinkHandlers } from '../types';
import { fromGrpcError, isServiceError } from './status';

export interface GrpcAgentTransportOptions {
  address: ServerAddress;
  /** The fleet CA, PEM, already pinned by fingerprint. */
  caPem: string;
  /** The agent's key and certificate; absent before enrollment. */
  keyPem?: string;
  certPem?: string;
}

/** Channel options every fleet client uses: verify the fixed server name, keep the link alive. */
export const CLIENT_CHANNEL_OPTIONS = {
  'grpc.ssl_target_name_override': SERVER_NAME,
  'grpc.default_authority': SERVER_NAME,
  'grpc.keepalive_time_ms': 20_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.max_receive_message_length': 16 << 20,
  'grpc-node.flow_control_window': HTTP2_WINDOW,
  // fleet has its own reconnect loop with jitter; keep grpc's own backoff short.
  'grpc.initial_reconnect_backoff_ms': 250,
  'grpc.max_reconnect_backoff_ms': 2_000,
} as const;

/**
 * The agent's channel: its own subchannel pool (grpc-js's global pool is searched linearly and
 * would make N links in one process, as in the emulator, cost O(N²) at every (re)connect) and no
 * channelz bookkeeping.
 */
/**
 * The agent keeps its own jittered backoff between attempts (agent/agent.ts), so the channel's
 * own reconnect backoff is kept short: grpc-js's default grows to 120 s, and a channel in that
 * state fails every new call at once, so after a server restart under load an agent could wait
 * minutes with its server long back up.
 */
const AGENT_CHANNEL_OPTIONS = {
  ...CLIENT_CHANNEL_OPTIONS,
  'grpc.use_local_subchannel_pool': 1,
  'grpc.enable_channelz': 0,
  'grpc.initial_reconnect_backoff_ms': 500,
  'grpc.max_reconnect_backoff_ms': 5000,
} as const;

/** Adapts a client duplex stream: messages to `onMessage`, one `onClose` whichever way it ends. */
function duplex<Out, In>(call: ClientDuplexStream<Out, In>, onMessage: (m: In) => void, onClose: (error?: Error) => void): { send(m: Out): boolean; end(): void; close(): void } {
  let closed = false;
  const finish = (error?: Error) => {
    if (closed) return;
    closed = true;
    onClose(error);
  };
  call.on('data', (message: In) => onMessage(message));
  call.on('error', (err) => finish(isServiceError(err) ? fromGrpcError(err) : err));
  call.on('end', () => finish());
  call.on('close', () => finish());
  return {
    send: (message) => {
      if (closed) return false;
      call.write(message);
      return true;
    },
    end: () => {
      if (!closed) call.end();
    },
    close: () => {
      if (closed) return;
      call.cancel();
      finish();
    },
  };
}

/** The agent's gRPC link to the server. */
export class GrpcAgentTransport implements AgentTransport {
  readonly #client: AgentServiceClient;

  constructor(options: GrpcAgentTransportOptions) {
    const creds = credentials.createSsl(
      Buffer.from(options.caPem),
      options.keyPem ? Buffer.from(options.keyPem) : null,
      options.certPem ? Buffer.from(options.certPem) : null,
    );
    this.#client = new AgentServiceClient(formatHostPort(options.address), creds, AGENT_CHANNEL_OPTIONS);
  }

  enroll(request: EnrollRequest): Promise<EnrollResponse> {
    return new Promise((resolve, reject) => {
      this.#client.enroll(request, new Metadata(), { deadline: Date.now() + 30_000 }, (err, response) => {
        if (err) reject(isServiceError(err) ? fromGrpcError(err) : err);
        else resolve(response);
      });
    });
  }

  connect(handlers: AgentLinkHandlers): AgentLink {
    return duplex<AgentMessage, ServerMessage>(this.#client.connect(), handlers.onMessage, handlers.onClose);
  }

  renew(csrPem: string): Promise<string> {
    return new Promise((resolve, reject) => {
      this.#client.renew({ csrPem }, new Metadata(), { deadline: Date.now() + 30_000 }, (err, response) => {
        if (err) reject(isServiceError(err) ? fromGrpcError(err) : err);
        else resolve(response.certificatePem);
      });
    });
  }

  /** Tells the server this machine leaves the fleet (its node is removed); resolves with the node's name. */
  leave(reason: string): Promise<string> {
    return new Promise((resolve, reject) => {
      this.#client.leave({ reason }, new Metadata(), { deadline: Date.now() + 30_000 }, (err, response) => {
        if (err) reject(isServiceError(err) ? fromGrpcError(err) : err);
        else resolve(response.nodeName);
      });
    });
  }

  openChannel(handlers: ChannelLinkHandlers): ChannelLink {
    return duplex<ChannelFrame, ChannelFrame>(this.#client.openChannel(), handlers.onFrame, handlers.onClose);
  }

  close(): void {
    this.#client.close();
  }
}
