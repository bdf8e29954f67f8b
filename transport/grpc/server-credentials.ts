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

class OptionalClientCertCredentials extends ServerCredentials {
  constructor(material: ServerTlsMaterial) {
    super(
      { requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' },
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
