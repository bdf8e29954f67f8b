// gRPC implementation of the server side of the agent link: registers AgentService on a grpc-js
// server, authenticates Connect by the client certificate, and adapts the duplex stream to an
// AgentConnection.
import { type Server, type ServerDuplexStream, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { FleetError, ErrorKind } from '../../common/errors';
import {
  AgentServiceService,
  type AgentMessage,
  type ChannelFrame,
  type EnrollRequest,
  type EnrollResponse,
  type LeaveRequest,
  type LeaveResponse,
  type RenewRequest,
  type RenewResponse,
  type ServerMessage,
} from '../../proto/gen/fleet/v1/agent';
import type { AgentConnection, AgentPeer, AgentTransportHandlers, ChannelConnection, ServerAgentTransport } from '../types';
import type { PeerCertificate } from 'node:tls';
import { tolerantDecoding } from './request-decoding';
import { toGrpcStatus } from './status';

/**
 * Adapts one authenticated grpc-js duplex stream (Connect or OpenChannel) to a message peer.
 * Exported for its unit test only (not part of transport/index.ts).
 */
export class GrpcPeer<In, Out> {
  readonly #call: ServerDuplexStream<In, Out>;
  #closed = false;
  #closeHandlers: ((error?: Error) => void)[] = [];
  #closeError: Error | undefined;
  /** close() was called: the status is on its way, nothing more is written. */
  #ending = false;

  constructor(
    call: ServerDuplexStream<In, Out>,
    readonly nodeId: string,
    readonly credentialFingerprint: string,
    readonly remoteAddress: string,
  ) {
    this.#call = call;
    const finish = (error?: Error) => {
      if (this.#closed) return;
      this.#closed = true;
      this.#closeError = error;
      for (const h of this.#closeHandlers) h(error);
    };
    call.on('end', () => {
      finish();
      if (!this.#ending) call.end();
      this.#ending = true;
    });
    call.on('cancelled', () => finish(new Error('agent went away')));
    call.on('error', (err) => finish(err));
    call.on('close', () => finish());
  }

  send(message: Out): boolean {
    if (this.#closed || this.#ending) return false;
    this.#call.write(message);
    return true;
  }

  close(reason?: Error): void {
    if (this.#closed || this.#ending) return;
    this.#ending = true;
    if (reason) this.#call.emit('error', toGrpcStatus(reason).status);
    else this.#call.end();
  }

  onMessage(handler: (message: In) => void): void {
    this.#call.on('data', handler);
  }

  onClose(handler: (error?: Error) => void): void {
    if (this.#closed) handler(this.#closeError);
    else this.#closeHandlers.push(handler);
  }
}

/** Serves AgentService on an existing grpc-js server (shared with the Control service). */
export class GrpcServerAgentTransport implements ServerAgentTransport {
  readonly name = 'grpc';
  readonly #server: Server;
  readonly #log: Logger;

  constructor(server: Server, log: Logger) {
    this.#server = server;
    this.#log = log;
  }

  start(handlers: AgentTransportHandlers): void {
    const log = this.#log;
    const fail = (err: unknown, what: string) => {
      const { status: st, known } = toGrpcStatus(err);
      if (!known) log.error({ err }, `${what} failed`);
      return st;
    };
    /** Who made a call, when it presented a certificate from the fleet CA; otherwise null. */
    const peerOf = (call: { getAuthContext(): { sslPeerCertificate?: PeerCertificate } | null; getPeer(): string }): AgentPeer | null => {
      const cert = call.getAuthContext()?.sslPeerCertificate;
      const nodeId = typeof cert?.subject?.CN === 'string' ? cert.subject.CN : '';
      if (!cert || !nodeId) return null;
      return { nodeId, credentialFingerprint: cert.fingerprint256.replaceAll(':', '').toLowerCase(), remoteAddress: call.getPeer() };
    };
    /** The peer behind a stream that presented a certificate from the fleet CA, or null (refused). */
    const authenticated = <In, Out>(call: ServerDuplexStream<In, Out>, what: string): GrpcPeer<In, Out> | null => {
      const peer = peerOf(call);
      if (!peer) {
        const err = new FleetError(`${what} needs a client certificate issued by this server (enroll first with a join token)`, 'CLIENT_CERT_REQUIRED', ErrorKind.Unauthenticated);
        log.warn({ peer: call.getPeer() }, `refused ${what} without a valid client certificate`);
        call.emit('error', fail(err, what));
        return null;
      }
      return new GrpcPeer(call, peer.nodeId, peer.credentialFingerprint, peer.remoteAddress);
    };
    this.#server.addService(tolerantDecoding(AgentServiceService), {
      enroll: (call: ServerUnaryCall<EnrollRequest, EnrollResponse>, callback: sendUnaryData<EnrollResponse>) => {
        handlers.enroll(call.request, call.getPeer()).then(
          (response) => callback(null, response),
          (err: unknown) => callback(fail(err, 'enroll')),
        );
      },
      connect: (call: ServerDuplexStream<AgentMessage, ServerMessage>) => {
        const peer = authenticated(call, 'Connect');
        if (!peer) return;
        try {
          handlers.connect(peer satisfies AgentConnection);
        } catch (err) {
          call.emit('error', fail(err, 'connect'));
        }
      },
      renew: (call: ServerUnaryCall<RenewRequest, RenewResponse>, callback: sendUnaryData<RenewResponse>) => {
        const peer = peerOf(call);
        if (!peer) {
          log.warn({ peer: call.getPeer() }, 'refused Renew without a valid client certificate');
          return callback(fail(new FleetError('Renew needs the client certificate being renewed', 'CLIENT_CERT_REQUIRED', ErrorKind.Unauthenticated), 'renew'));
        }
        handlers.renew(peer, call.request.csrPem).then(
          (certificatePem) => callback(null, { certificatePem }),
          (err: unknown) => callback(fail(err, 'renew')),
        );
      },
      leave: (call: ServerUnaryCall<LeaveRequest, LeaveResponse>, callback: sendUnaryData<LeaveResponse>) => {
        const peer = peerOf(call);
        if (!peer) {
          log.warn({ peer: call.getPeer() }, 'refused Leave without a valid client certificate');
          return callback(fail(new FleetError('Leave needs the client certificate of the node that leaves', 'CLIENT_CERT_REQUIRED', ErrorKind.Unauthenticated), 'leave'));
        }
        handlers.leave(peer, call.request.reason).then(
          (nodeName) => callback(null, { nodeName }),
          (err: unknown) => callback(fail(err, 'leave')),
        );
      },
      openChannel: (call: ServerDuplexStream<ChannelFrame, ChannelFrame>) => {
        const peer = authenticated(call, 'OpenChannel');
        if (!peer) return;
        try {
          handlers.channel(peer satisfies ChannelConnection);
        } catch (err) {
          call.emit('error', fail(err, 'channel'));
        }
      },
    });
  }

  async stop(): Promise<void> {
    // The grpc-js server is owned and shut down by the caller that created it.
  }
}
