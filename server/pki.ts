// The server's own PKI, created on first start under DATA/pki: a CA, a TLS certificate for the
// server (always valid for the name "fleet-server"), client certificates for agents signed from
// their CSRs, and an Ed25519 key that signs every command sent to agents.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { X509Certificate, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, webcrypto, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../common/atomic-write';
import { hostname, networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { SERVER_NAME, certificateHash } from '../transport';
import { InvalidEnrollmentError } from './errors';
import { localSigner, type CommandSigner } from './commands';

x509.cryptoProvider.set(webcrypto as never);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const EC: webcrypto.EcKeyImportParams & webcrypto.EcdsaParams = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY = 86_400_000;
const CA_DAYS = 3650;
const SERVER_DAYS = 397;
/** How long an agent certificate is valid. */
export const AGENT_CERT_DAYS = 365;

export interface Pki {
  caPem: string;
  /** SHA-256 of the CA certificate, hex: embedded in every join token. */
  caHash: string;
  serverCertChainPem: string;
  serverKeyPem: string;
  /** Ed25519 public key (SPKI DER) agents pin to verify commands. */
  commandSigningKey: Buffer;
  /** Signs commands with the command-signing key. */
  commandSigner: CommandSigner;
  /** Verifies an agent's CSR and issues its client certificate. */
  issueAgentCertificate(csrPem: string, nodeId: string): Promise<{ certPem: string; fingerprint: string; notAfter: number }>;
}

/**
 * SHA-256 (hex) of the public key in a PEM certificate signing request, or '' when it cannot be
 * read. Two CSRs for the same key give the same hash (their signatures differ).
 */
export function csrKeyHash(csrPem: string): string {
  try {
    return createHash('sha256').update(Buffer.from(new x509.Pkcs10CertificateRequest(csrPem).publicKey.rawData)).digest('hex');
  } catch {
    return '';
  }
}

function serial(): string {
  const b = randomBytes(16);
  b[0]! &= 0x7f;
  return b.toString('hex');
}

function pemOf(der: ArrayBuffer, label: string): string {
  return x509.PemConverter.encode(der, label);
}

async function importEcPrivate(pem: string): Promise<CryptoKey> {
  const der = createPrivateKey(pem).export({ format: 'der', type: 'pkcs8' });
  return (await webcrypto.subtle.importKey('pkcs8', der, EC, false, ['sign'])) as CryptoKey;
}

function localNames(extra: string[]): { dns: string[]; ips: string[] } {
  const names = new Set([SERVER_NAME, 'localhost', hostname(), ...extra]);
  const ips = new Set(['127.0.0.1', '::1']);
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) ips.add(a.address.split('%')[0]!);
  for (const n of [...names]) if (isIP(n)) { names.delete(n); ips.add(n); }
  return { dns: [...names], ips: [...ips] };
}

async function createCa(dir: string): Promise<void> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=fleet CA ${randomBytes(4).toString('hex')}`,
    notBefore: new Date(Date.now() - 5 * 60_000),
    notAfter: new Date(Date.now() + CA_DAYS * DAY),
    keys: keys as never,
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never),
    ],
  });
  const keyDer = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  writeFileAtomic(join(dir, 'ca.key'), pemOf(keyDer, 'PRIVATE KEY'), { mode: 0o600 });
  writeFileAtomic(join(dir, 'ca.crt'), cert.toString('pem') + '\n');
}

async function createServerCert(dir: string, caPem: string, caKey: CryptoKey, names: { dns: string[]; ips: string[] }): Promise<void> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as CryptoKeyPair;
  const ca = new x509.X509Certificate(caPem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${SERVER_NAME}`,
    issuer: ca.subject,
    notBefore: new Date(Date.now() - 5 * 60_000),
    notAfter: new Date(Date.now() + SERVER_DAYS * DAY),
    signingKey: caKey as never,
    publicKey: keys.publicKey as never,
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...names.dns.map((value) => ({ type: 'dns' as const, value })),
        ...names.ips.map((value) => ({ type: 'ip' as const, value })),
      ]),
    ],
  });
  const keyDer = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  writeFileAtomic(join(dir, 'server.key'), pemOf(keyDer, 'PRIVATE KEY'), { mode: 0o600 });
  writeFileAtomic(join(dir, 'server.crt'), cert.toString('pem') + '\n');
}

/** True when the certificate expires within 30 days or lacks one of the wanted names. */
function serverCertStale(certPem: string, names: { dns: string[]; ips: string[] }): boolean {
  const cert = new X509Certificate(certPem);
  if (Date.parse(cert.validTo) - Date.now() < 30 * DAY) return true;
  const san = cert.subjectAltName ?? '';
  return names.dns.some((n) => !san.includes(`DNS:${n}`)) || !san.includes('IP Address:127.0.0.1');
}

/**
 * Loads the PKI from `dataDir/pki`, creating whatever is missing. The server certificate is
 * re-issued when it is near expiry or lacks a configured name.
 */
export async function loadOrCreatePki(dataDir: string, extraNames: string[]): Promise<Pki & { created: boolean }> {
  const dir = join(dataDir, 'pki');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const created = !existsSync(join(dir, 'ca.crt'));
  if (created) await createCa(dir);
  const caPem = readFileSync(join(dir, 'ca.crt'), 'utf8');
  const caKey = await importEcPrivate(readFileSync(join(dir, 'ca.key'), 'utf8'));
  const names = localNames(extraNames);
  if (!existsSync(join(dir, 'server.crt')) || serverCertStale(readFileSync(join(dir, 'server.crt'), 'utf8'), { dns: [SERVER_NAME, ...extraNames.filter((n) => !isIP(n))], ips: [] })) {
    await createServerCert(dir, caPem, caKey, names);
  }
  const signingFile = join(dir, 'command-signing.key');
  if (!existsSync(signingFile)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileAtomic(signingFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  }
  const signingKey: KeyObject = createPrivateKey(readFileSync(signingFile, 'utf8'));
  const ca = new x509.X509Certificate(caPem);

  return {
    created,
    caPem,
    caHash: certificateHash(caPem),
    serverCertChainPem: readFileSync(join(dir, 'server.crt'), 'utf8') + caPem,
    serverKeyPem: readFileSync(join(dir, 'server.key'), 'utf8'),
    commandSigningKey: createPublicKey(signingKey).export({ format: 'der', type: 'spki' }),
    commandSigner: localSigner(signingKey),
    async issueAgentCertificate(csrPem, nodeId) {
      let csr: x509.Pkcs10CertificateRequest;
      try {
        csr = new x509.Pkcs10CertificateRequest(csrPem);
      } catch (err) {
        throw new InvalidEnrollmentError('the certificate signing request is not a PEM PKCS#10 request', err);
      }
      if (!(await csr.verify().catch(() => false))) throw new InvalidEnrollmentError('the certificate signing request is not signed by its own key');
      const notAfter = Date.now() + AGENT_CERT_DAYS * DAY;
      let cert: x509.X509Certificate;
      try {
        cert = await x509.X509CertificateGenerator.create({
          serialNumber: serial(),
          subject: `CN=${nodeId}`,
          issuer: ca.subject,
          notBefore: new Date(Date.now() - 5 * 60_000),
          notAfter: new Date(notAfter),
          signingKey: caKey as never,
          publicKey: csr.publicKey,
          signingAlgorithm: EC,
          extensions: [
            new x509.BasicConstraintsExtension(false, undefined, true),
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
            new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
            new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `urn:fleet:node:${nodeId}` }]),
          ],
        });
      } catch (err) {
        throw new InvalidEnrollmentError('cannot issue a certificate for that key (use ECDSA P-256, P-384 or RSA)', err);
      }
      const certPem = cert.toString('pem') + '\n';
      return { certPem, fingerprint: certificateHash(certPem), notAfter };
    },
  };
}
