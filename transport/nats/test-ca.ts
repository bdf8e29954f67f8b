// A throwaway certificate authority for the transport's tests: a self-signed CA and node
// certificates it issues (CN = the node id), made with @peculiar/x509 as the server's PKI makes
// them, so the tests need neither the server's nor the agent's internals.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createHash, webcrypto } from 'node:crypto';

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

async function keyPair(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function privatePem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/** A CA that issues node certificates. */
export interface TestCa {
  caPem: string;
  /** A key and a certificate for `nodeId`; `fingerprint` is the SHA-256 of the certificate (hex). */
  issue(nodeId: string): Promise<{ keyPem: string; certPem: string; fingerprint: string }>;
}

/** Makes a new CA (a fresh key each time: two CAs never trust each other's certificates). */
export async function newTestCa(): Promise<TestCa> {
  const caKeys = await keyPair();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=test fleet CA',
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + DAY),
    keys: caKeys as never,
    signingAlgorithm: EC,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  let serial = 1;
  return {
    caPem: ca.toString('pem'),
    async issue(nodeId) {
      const keys = await keyPair();
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: String(++serial).padStart(2, '0'),
        subject: `CN=${nodeId}`,
        issuer: ca.subject,
        notBefore: new Date(Date.now() - 5 * 60_000),
        notAfter: new Date(Date.now() + DAY),
        signingKey: caKeys.privateKey as never,
        publicKey: keys.publicKey as never,
        signingAlgorithm: EC,
        extensions: [new x509.BasicConstraintsExtension(false, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
      });
      return { keyPem: await privatePem(keys.privateKey), certPem: cert.toString('pem'), fingerprint: createHash('sha256').update(Buffer.from(cert.rawData)).digest('hex') };
    },
  };
}
