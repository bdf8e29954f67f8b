// First contact: pin the server's CA by the fingerprint in the join token, make a key pair here
// (the private key never leaves the machine), send a CSR with the machine's identity, and keep
// the certificate the server returns; likewise an nkey pair for NATS, and the user JWT for it.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createUser, fmtCreds, fromSeed, type KeyPair } from '@nats-io/jwt';
import { createPrivateKey, createPublicKey, webcrypto } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { formatHostPort, parseServerAddress } from '../common/address';
import { parseJoinToken } from '../common/join-token';
import type { Labels } from '../common/labels';
import type { MachineIdentity } from '../proto/gen/fleet/v1/common';
import { VERSION } from '../common/version';
import { RemoteError, GrpcAgentTransport, fetchPinnedCa } from '../transport';
import { EnrollmentRefusedError } from './errors';
import { collectIdentity } from './inventory';
import { writeFileAtomic } from '../common/atomic-write';
import type { AgentIdentity, AgentState } from './state';

x509.cryptoProvider.set(webcrypto as never);
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

async function loadOrCreateKey(file: string): Promise<{ keyPem: string; keys: webcrypto.CryptoKeyPair }> {
  if (existsSync(file)) {
    const keyPem = readFileSync(file, 'utf8');
    const priv = createPrivateKey(keyPem);
    const privateKey = await webcrypto.subtle.importKey('pkcs8', priv.export({ format: 'der', type: 'pkcs8' }), EC, true, ['sign']);
    const publicKey = await webcrypto.subtle.importKey('spki', createPublicKey(priv).export({ format: 'der', type: 'spki' }), EC, true, ['verify']);
    return { keyPem, keys: { privateKey, publicKey } };
  }
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const keyPem = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  writeFileAtomic(file, keyPem, { mode: 0o600 });
  return { keyPem, keys };
}

/** The agent's NATS nkey: made once, kept in the state directory (0600); only its public key is sent. */
function loadOrCreateNkey(file: string): KeyPair {
  if (existsSync(file)) return fromSeed(new TextEncoder().encode(readFileSync(file, 'utf8').trim()));
  const kp = createUser();
  writeFileAtomic(file, `${new TextDecoder().decode(kp.getSeed())}\n`, { mode: 0o600 });
  return kp;
}

/** A fresh key pair (kept on this machine) and a CSR for it. */
export async function newKeyAndCsr(commonName: string): Promise<{ keyPem: string; csrPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const keyPem = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${commonName || 'fleet-agent'}`, keys: keys as never, signingAlgorithm: EC });
  return { keyPem, csrPem: csr.toString('pem') };
}

export interface EnrollOptions {
  server: string;
  token: string;
  name?: string;
  labels?: Labels;
  /** The machine identity to send; default: read from this machine (hostname, MACs, DMI). */
  identity?: MachineIdentity;
  /** The server's CA, already pinned against this token's CA hash; default: fetched and checked now. */
  caPem?: string;
  /** Never take over an offline node of this machine (docs/security.md, "Re-enrollment"). */
  newIdentity?: boolean;
}

/** An enrolled identity, with what the server had to say about the node (empty: nothing). */
export type Enrolled = AgentIdentity & { notice: string };

/**
 * Enrolls this machine and saves its identity in `state`.
 * @throws MalformedJoinTokenError, CaMismatchError, ServerUnreachableError, EnrollmentRefusedError
 */
export async function enroll(state: AgentState, options: EnrollOptions, log: Logger): Promise<Enrolled> {
  const token = parseJoinToken(options.token);
  const address = parseServerAddress(options.server);
  const caPem = options.caPem ?? (await fetchPinnedCa(address, token.caHash));
  log.info({ server: formatHostPort(address), ca: `sha256:${token.caHash}` }, 'server CA matches the join token');
  const { keyPem, keys } = await loadOrCreateKey(state.pendingKeyFile);
  const identity = options.identity ?? (await collectIdentity());
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${identity.hostname || 'fleet-agent'}`, keys: keys as never, signingAlgorithm: EC });
  const nkey = loadOrCreateNkey(state.natsSeedFile);
  const transport = new GrpcAgentTransport({ address, caPem });
  try {
    const response = await transport.enroll({
      token: options.token.trim(),
      csrPem: csr.toString('pem'),
      identity,
      agentVersion: VERSION,
      requestedName: options.name ?? '',
      labels: options.labels ?? {},
      natsPublicKey: nkey.getPublicKey(),
      newIdentity: options.newIdentity ?? false,
    });
    const result: AgentIdentity = {
      nodeId: response.nodeId,
      nodeName: response.nodeName,
      server: formatHostPort(address),
      keyPem,
      certPem: response.certificatePem,
      caPem,
      commandSigningKey: Buffer.from(response.commandSigningKey),
    };
    // Before node.json (written last by save): an enrolled agent always has its NATS credentials.
    if (response.natsUserJwt) state.saveNatsCredentials(new TextDecoder().decode(fmtCreds(response.natsUserJwt, nkey)));
    state.save(result);
    log.info({ node: result.nodeName, id: result.nodeId, notice: response.notice || undefined }, 'enrolled');
    return { ...result, notice: response.notice };
  } catch (err) {
    if (err instanceof RemoteError && (err.kind === 'unauthenticated' || err.kind === 'invalid' || err.kind === 'forbidden')) {
      throw new EnrollmentRefusedError(err.message, err.code, err);
    }
    throw err;
  } finally {
    transport.close();
  }
}
