// TLS credentials for fleet's single gRPC port. Client certificates are requested but not
// required: the CLI authenticates with an API token, agents with a certificate from the fleet CA.
// grpc-js then exposes a peer certificate to handlers only when it chains to that CA
// (call.getAuthContext()), which is what the agent service checks.
import { ServerCredentials } from '@grpc/grpc-js';

export interface ServerTlsMaterial {
  /** The fleet CA certificate, PEM: trusted for client certificates. */
  caPem: string;
  /** The server certificate followed by the CA certificate, PEM (clients read the CA from it). */
  certChainPem: string;
  keyPem: string;
}

/** HTTP/2 flow-control window (per stream and connection) on both sides of every fleet link. */
export const HTTP2_WINDOW = 4 << 20;

class OptionalClientCertCredentials extends ServerCredentials {
  constructor(material: ServerTlsMaterial) {
    super(
      // A larger HTTP/2 window than the 64 KiB default, so one stream (a shell's output) is not
      // limited to a window per round trip; fleet's own flow control bounds what is in flight.
      // No Nagle: small frames (keystrokes, acks) must not wait for the peer's delayed ACK.
      { requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2', settings: { initialWindowSize: HTTP2_WINDOW }, noDelay: true },
      { ca: Buffer.from(material.caPem), cert: Buffer.from(material.certChainPem), key: Buffer.from(material.keyPem) },
    );
  }
  override _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}

/** Server credentials that accept both token-authenticated and certificate-authenticated clients. */
export function createServerCredentials(material: ServerTlsMaterial): ServerCredentials {
  return new OptionalClientCertCredentials(material);
}
