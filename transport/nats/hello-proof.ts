// The proof that starts a NATS link. On gRPC the agent's client certificate authenticates the
// stream; on NATS the broker already limits an agent's credentials to its own subjects, and the
// Hello additionally carries the agent's certificate and a signature by its private key over the
// node, the link, the time and the Hello's bytes. The server checks the certificate chains to the
// fleet CA and names the node, so the certificate on record (renewals, re-enrollment, removal)
// decides exactly as it does on gRPC.
import { X509Certificate, createHash, sign, verify } from 'node:crypto';
import { AgentRefusedOnNatsError } from './errors';

/** How far the Hello's time may be from the server's clock. */
export const PROOF_SKEW_MS = 5 * 60_000;

export interface HelloProof {
  /** The agent's certificate, base64 DER. */
  cert: string;
  /** Unix ms when the proof was made. */
  time: string;
  /** base64 signature (ECDSA/SHA-256 with the certificate's key). */
  proof: string;
}

function signedBytes(nodeId: string, linkId: string, time: string, payload: Uint8Array): Buffer {
  const digest = createHash('sha256').update(payload).digest('hex');
  return Buffer.from(`fleet.v1 hello\n${nodeId}\n${linkId}\n${time}\n${digest}`);
}

/** Made by the agent for each Hello it sends. */
export function makeHelloProof(nodeId: string, linkId: string, payload: Uint8Array, keyPem: string, certPem: string, now = Date.now()): HelloProof {
  const time = String(now);
  return {
    cert: new X509Certificate(certPem).raw.toString('base64'),
    time,
    proof: sign('sha256', signedBytes(nodeId, linkId, time, payload), keyPem).toString('base64'),
  };
}

/**
 * Checks a Hello's proof; returns the SHA-256 (hex) of the agent's certificate.
 * @throws AgentRefusedOnNatsError saying what is wrong.
 */
export function checkHelloProof(nodeId: string, linkId: string, payload: Uint8Array, proof: Partial<HelloProof>, ca: X509Certificate, now = Date.now()): string {
  if (!proof.cert || !proof.time || !proof.proof) throw new AgentRefusedOnNatsError('the Hello carries no certificate proof');
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(Buffer.from(proof.cert, 'base64'));
  } catch {
    throw new AgentRefusedOnNatsError('the Hello carries a malformed certificate');
  }
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) throw new AgentRefusedOnNatsError('the certificate was not issued by this fleet CA');
  if (/(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] !== nodeId) throw new AgentRefusedOnNatsError('the certificate belongs to another node');
  if (Date.parse(cert.validTo) < now || Date.parse(cert.validFrom) > now + PROOF_SKEW_MS) throw new AgentRefusedOnNatsError('the certificate is not valid now');
  const time = Number(proof.time);
  if (!Number.isFinite(time) || Math.abs(now - time) > PROOF_SKEW_MS) throw new AgentRefusedOnNatsError("the Hello is too old or from the future (is the agent's clock right?)");
  if (!verify('sha256', signedBytes(nodeId, linkId, proof.time, payload), cert.publicKey, Buffer.from(proof.proof, 'base64'))) {
    throw new AgentRefusedOnNatsError('the Hello signature does not match the certificate');
  }
  return createHash('sha256').update(cert.raw).digest('hex');
}
