// The seam between fleet's logic and whatever carries agent traffic (gRPC, NATS).
// Jobs, inventory and enrollment talk only to these interfaces.
import type { AgentMessage, ChannelFrame, EnrollRequest, EnrollResponse, ServerMessage } from '../proto/gen/fleet/v1/agent';

/** Server side: one authenticated agent link. */
export interface AgentConnection {
  /** The node id proven by the transport (the client certificate on gRPC). */
  readonly nodeId: string;
  /** SHA-256 fingerprint of the credential the agent presented, for revocation checks. */
  readonly credentialFingerprint: string;
  /** Where the agent connects from, for logs and audit. */
  readonly remoteAddress: string;
  /** Queues a message for the agent; false once the link is closed. */
  send(message: ServerMessage): boolean;
  /** Ends the link, optionally telling the agent why. */
  close(reason?: Error): void;
  onMessage(handler: (message: AgentMessage) => void): void;
  /** Called exactly once when the link is gone, whichever side ended it. */
  onClose(handler: (error?: Error) => void): void;
}

/** Server side: one channel stream (PTY or transfer) an agent opened when asked. */
export interface ChannelConnection {
  readonly nodeId: string;
  readonly credentialFingerprint: string;
  send(frame: ChannelFrame): boolean;
  close(reason?: Error): void;
  onMessage(handler: (frame: ChannelFrame) => void): void;
  onClose(handler: (error?: Error) => void): void;
}

/** What the server core provides to a transport. */
export interface AgentTransportHandlers {
  /** Checks a join token and signs the agent's CSR. Throws a FleetError to refuse. */
  enroll(request: EnrollRequest, remoteAddress: string): Promise<EnrollResponse>;
  /** Takes over a freshly authenticated link. Throws a FleetError to refuse it. */
  connect(connection: AgentConnection): void;
  /** Takes over a channel stream from an authenticated agent. Throws a FleetError to refuse it. */
  channel(connection: ChannelConnection): void;
  /** Issues a new client certificate for an authenticated agent's CSR; returns it (PEM). */
  renew(peer: AgentPeer, csrPem: string): Promise<string>;
  /** Removes an authenticated agent's node at its own request; returns the node's name. */
  leave(peer: AgentPeer, reason: string): Promise<string>;
}

/** Who an authenticated agent call came from. */
export interface AgentPeer {
  readonly nodeId: string;
  readonly credentialFingerprint: string;
  readonly remoteAddress: string;
}

/** Server side of the agent link. */
export interface ServerAgentTransport {
  readonly name: string;
  start(handlers: AgentTransportHandlers): void;
  stop(): Promise<void>;
}

/** Agent side: one open link to the server. */
export interface AgentLink {
  /** Queues a message for the server; false once the link is closed. */
  send(message: AgentMessage): boolean;
  close(): void;
}

export interface AgentLinkHandlers {
  onMessage(message: ServerMessage): void;
  /** Called exactly once when the link is gone. */
  onClose(error?: Error): void;
}

/** Agent side: one open channel stream. */
export interface ChannelLink {
  send(frame: ChannelFrame): boolean;
  /** Finishes sending (everything sent so far is still delivered). */
  end(): void;
  /** Abandons the stream at once. */
  close(): void;
}

export interface ChannelLinkHandlers {
  onFrame(frame: ChannelFrame): void;
  onClose(error?: Error): void;
}

/** Agent side of the agent link. */
export interface AgentTransport {
  enroll(request: EnrollRequest): Promise<EnrollResponse>;
  connect(handlers: AgentLinkHandlers): AgentLink;
  openChannel(handlers: ChannelLinkHandlers): ChannelLink;
  /** Trades a CSR for a new client certificate (PEM), authenticated by the current one. */
  renew(csrPem: string): Promise<string>;
  /** Closes everything; a promise when there is something to flush first (NATS). */
  close(): void | Promise<void>;
}
