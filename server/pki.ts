// The server's own PKI: a CA, a TLS certificate for the server (always valid for the name
// "fleet-server"), client certificates for agents signed from their CSRs, and an Ed25519 key that
// signs every command sent to agents. Created on first start in the key material (DATA/pki, or
// the database that replicas share): each key is created once, and each certificate is made from
// the key stored, so replicas starting together end with one CA and one signing key.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { X509Certificate, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { hostname, networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import { SERVER_NAME, certificateHash } from '../transport';
import { InvalidEnrollmentError, StartupError } from './errors';
import { localSigner, type CommandSigner } from './commands';
import { keyMaterialOf, type KeyMaterialStore } from './key-material';

x509.cryptoProvider.set(webcrypto as never);

type CryptoKey = webcrypto.CryptoKey;

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

/** A new ECDSA P-256 private key, PKCS#8 PEM. */
function newEcKeyPem(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
}

async function importEcPrivate(pem: string): Promise<CryptoKey> {
  const der = createPrivateKey(pem).export({ format: 'der', type: 'pkcs8' });
  return (await webcrypto.subtle.importKey('pkcs8', der, EC, false, ['sign'])) as CryptoKey;
}

/** The public half of a PEM private key, as x509 takes it. */
async function importEcPublic(privatePem: string): Promise<CryptoKey> {
  const der = createPublicKey(privatePem).export({ format: 'der', type: 'spki' });
  return (await webcrypto.subtle.importKey('spki', der, EC, true, ['verify'])) as CryptoKey;
}

/** DNS names and IP addresses (IPs in one spelling: IPv6 compressed, lower case). */
interface Names {
  dns: string[];
  ips: string[];
}

function canonicalIp(ip: string): string {
  return isIP(ip) === 6 ? new URL(`http://[${ip}]`).hostname.slice(1, -1) : ip;
}

/** Everything this server may be reached by: its names, the host's name and addresses. */
function localNames(extra: string[]): Names {
  const names = new Set([SERVER_NAME, 'localhost', hostname(), ...extra]);
  const ips = new Set(['127.0.0.1', '::1']);
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) ips.add(canonicalIp(a.address.split('%')[0]!));
  for (const n of [...names]) if (isIP(n)) { names.delete(n); ips.add(canonicalIp(n)); }
  return { dns: [...names], ips: [...ips] };
}

/** The names a server certificate must have: "fleet-server", 127.0.0.1 and every `--name`. */
function requiredNames(extra: string[]): Names {
  return { dns: [SERVER_NAME, ...extra.filter((n) => !isIP(n))], ips: ['127.0.0.1', ...extra.filter((n) => isIP(n)).map(canonicalIp)] };
}

/** The names a certificate is valid for (none when it cannot be read). */
function namesIn(certPem: string): Names {
  let items: readonly x509.GeneralName[] = [];
  try {
    items = new x509.X509Certificate(certPem).getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? [];
  } catch {
    // An unreadable certificate is re-issued with this server's names.
  }
  return { dns: items.filter((n) => n.type === 'dns').map((n) => n.value), ips: items.filter((n) => n.type === 'ip').map((n) => canonicalIp(n.value)) };
}

function union(a: Names, b: Names): Names {
  return { dns: [...new Set([...a.dns, ...b.dns])], ips: [...new Set([...a.ips, ...b.ips])] };
}

async function selfSignedCa(keyPem: string): Promise<string> {
  const keys = { privateKey: await importEcPrivate(keyPem), publicKey: await importEcPublic(keyPem) };
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
  return cert.toString('pem') + '\n';
}

/** The CA as it signs: its certificate and private key. */
interface Ca {
  pem: string;
  key: CryptoKey;
}

async function issueServerCert(ca: Ca, keyPem: string, names: Names): Promise<string> {
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${SERVER_NAME}`,
    issuer: new x509.X509Certificate(ca.pem).subject,
    notBefore: new Date(Date.now() - 5 * 60_000),
    notAfter: new Date(Date.now() + SERVER_DAYS * DAY),
    signingKey: ca.key as never,
    publicKey: (await importEcPublic(keyPem)) as never,
    signingAlgorithm: EC,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([...names.dns.map((value) => ({ type: 'dns' as const, value })), ...names.ips.map((value) => ({ type: 'ip' as const, value }))]),
    ],
  });
  return cert.toString('pem') + '\n';
}

/**
 * True when the server certificate can be served as it is: from this CA, for the server key,
 * valid for 30 days more, with every required name (DNS names compared without case).
 */
function serverCertUsable(certPem: string, ca: Ca, keyPem: string, required: Names): boolean {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return false;
  }
  if (Date.parse(cert.validTo) - Date.now() < 30 * DAY) return false;
  if (!cert.verify(new X509Certificate(ca.pem).publicKey) || !cert.publicKey.equals(createPublicKey(keyPem))) return false;
  const have = namesIn(certPem);
  const dns = new Set(have.dns.map((n) => n.toLowerCase()));
  return required.dns.every((n) => dns.has(n.toLowerCase())) && required.ips.every((ip) => have.ips.includes(ip));
}

/**
 * The server certificate for `keyPem`, issued when there is none and re-issued when it is not
 * usable as it is (near its end, lacking a name of this server). A re-issued certificate keeps
 * every name the stored one had, so replicas started with different `--name`s end with one
 * certificate valid for all of their names; it replaces the stored one only if no other replica
 * changed it meanwhile (compare-and-swap), otherwise this one looks again.
 */
async function serverCertificate(keys: KeyMaterialStore, ca: Ca, keyPem: string, extraNames: string[]): Promise<string> {
  const required = requiredNames(extraNames);
  const mine = localNames(extraNames);
  for (let attempt = 0; attempt < 10; attempt++) {
    const current = await keys.get('pki/server.crt');
    if (current !== undefined && serverCertUsable(current, ca, keyPem, required)) return current;
    const next = await issueServerCert(ca, keyPem, current === undefined ? mine : union(namesIn(current), mine));
    const stored = current === undefined ? (await keys.createIfAbsent('pki/server.crt', () => next)).created : await keys.replace('pki/server.crt', current, next);
    if (stored) return next;
  }
  throw new StartupError('the server certificate (pki/server.crt) kept changing while this server was re-issuing it; start it again');
}

/**
 * Loads the PKI from the key material, creating whatever is missing: from the data directory's
 * `pki/` when given a directory, else from `keys` (shared by replicas). Each key is created once
 * (the first replica's wins) and each certificate made from the key stored. The server certificate
 * is re-issued when it is near expiry or lacks a configured name, keeping the names it had.
 * @returns the PKI; `created` is true when this call made the CA
 * @throws StartupError when the CA certificate does not belong to the CA key
 */
export async function loadOrCreatePki(keys: string | KeyMaterialStore, extraNames: string[]): Promise<Pki & { created: boolean }> {
  const store = keyMaterialOf(keys);
  const caKeyPem = (await store.createIfAbsent('pki/ca.key', newEcKeyPem)).value;
  const { value: caPem, created } = await store.createIfAbsent('pki/ca.crt', () => selfSignedCa(caKeyPem));
  if (!new X509Certificate(caPem).publicKey.equals(createPublicKey(caKeyPem))) {
    throw new StartupError('the CA certificate (pki/ca.crt) does not belong to the CA key (pki/ca.key); restore both from the same backup');
  }
  const caKey = await importEcPrivate(caKeyPem);
  const serverKeyPem = (await store.createIfAbsent('pki/server.key', newEcKeyPem)).value;
  const serverCertPem = await serverCertificate(store, { pem: caPem, key: caKey }, serverKeyPem, extraNames);
  const signingPem = await store.createIfAbsent('pki/command-signing.key', () => generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string);
  const signingKey: KeyObject = createPrivateKey(signingPem.value);
  const ca = new x509.X509Certificate(caPem);

  return {
    created,
    caPem,
    caHash: certificateHash(caPem),
    serverCertChainPem: serverCertPem + caPem,
    serverKeyPem,
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
