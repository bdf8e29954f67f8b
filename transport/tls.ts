// TLS helpers shared by the server, the agent and the CLI: the fixed server name every fleet
// server certificate carries, CA fingerprints, and fetching a server's CA pinned by fingerprint.
import { X509Certificate, createHash } from 'node:crypto';
import tls from 'node:tls';
import { FleetError, ErrorKind } from '../common/errors';
import type { ServerAddress } from '../common/address';
import { explainConnectFailure } from './connect-errors';

/**
 * Every fleet server certificate has this DNS name; clients verify it instead of the dialed host,
 * so a server can be reached by any address. Agent certificates never carry it.
 */
export const SERVER_NAME = 'fleet-server';

/** Lower-case hex SHA-256 of a certificate's DER bytes. */
export function certificateHash(pemOrDer: string | Buffer): string {
  const der = new X509Certificate(pemOrDer).raw;
  return createHash('sha256').update(der).digest('hex');
}

/** Converts DER to PEM. */
export function derToPem(der: Buffer, label = 'CERTIFICATE'): string {
  const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}-----END ${label}-----\n`;
}

export class CaMismatchError extends FleetError {
  constructor(
    readonly expected: string,
    readonly presented: string[],
  ) {
    super(
      `the server's CA does not match the pinned fingerprint sha256:${expected} ` +
        `(the server presented ${presented.map((h) => `sha256:${h}`).join(', ') || 'no certificate'}); ` +
        'wrong server, or someone in between',
      'CA_MISMATCH',
      ErrorKind.Unauthenticated,
    );
    this.name = 'CaMismatchError';
  }
}

/**
 * The server could not be reached: one line saying where, why and what to check, e.g.
 * `cannot reach fleet-server at 10.0.0.5:7443: connection refused (is fleet-server running there…?)`.
 */
export class ServerUnreachableError extends FleetError {
  readonly reason: string;

  /** `address` is `host:port`; `cause` is the socket, TLS or grpc-js error (or its text). */
  constructor(address: string, cause: unknown) {
    const text = cause instanceof Error ? cause.message : String(cause);
    const port = Number(/:(\d+)$/.exec(address)?.[1] ?? 0);
    const { reason, hint } = explainConnectFailure(text, port);
    super(`cannot reach fleet-server at ${address}: ${reason} (${hint})`, 'SERVER_UNREACHABLE', ErrorKind.Unavailable, { cause });
    this.name = 'ServerUnreachableError';
    this.reason = reason;
  }
}

/**
 * Connects to the server without trusting it yet, reads the certificate chain it presents and
 * returns every CA hash it offers. Used to show a fingerprint to an operator or to pin.
 */
export async function readPresentedChain(address: ServerAddress, timeoutMs = 10_000): Promise<X509Certificate[]> {
  return await new Promise((resolve, reject) => {
    const where = `${address.host}:${address.port}`;
    const socket = tls.connect({
      host: address.host,
      port: address.port,
      servername: SERVER_NAME,
      ALPNProtocols: ['h2'],
      rejectUnauthorized: false,
    });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no TLS handshake within ${timeoutMs} ms`)));
    socket.once('error', (err) => reject(new ServerUnreachableError(where, err)));
    socket.once('secureConnect', () => {
      const chain: X509Certificate[] = [];
      const seen = new Set<string>();
      for (let c = socket.getPeerCertificate(true); c && c.raw && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
        seen.add(c.fingerprint256);
        chain.push(new X509Certificate(c.raw));
      }
      socket.end();
      resolve(chain);
    });
  });
}

/**
 * Fetches the server's CA certificate and checks it against a pinned SHA-256 (from a join token
 * or `--ca-hash`); also checks the server certificate was issued by it. Returns the CA as PEM.
 * @throws CaMismatchError when no presented certificate matches, ServerUnreachableError on I/O.
 */
export async function fetchPinnedCa(address: ServerAddress, caHash: string): Promise<string> {
  const chain = await readPresentedChain(address);
  const hashes = chain.map((c) => certificateHash(c.raw));
  const index = hashes.indexOf(caHash.toLowerCase());
  const leaf = chain[0];
  const ca = chain[index];
  if (index === -1 || !ca || !leaf || !leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) {
    throw new CaMismatchError(caHash, hashes.slice(1));
  }
  return derToPem(ca.raw);
}
