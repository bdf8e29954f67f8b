// The server's PKI on the data directory's files: made once and loaded unchanged afterwards, the
// server certificate re-issued for a name it lacks (keeping the names and the key it had), and
// two servers started at once with different names ending with one certificate for both.
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StartupError } from './errors';
import { LocalKeyMaterial } from './key-material';
import { loadOrCreatePki } from './pki';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-pki-'));
  dirs.push(dir);
  return dir;
}

/** The server certificate (the first of the chain) and whether the CA signed it. */
function serverCert(pki: { serverCertChainPem: string; caPem: string }): X509Certificate {
  const cert = new X509Certificate(pki.serverCertChainPem);
  expect(cert.verify(new X509Certificate(pki.caPem).publicKey)).toBe(true);
  return cert;
}

describe('loadOrCreatePki', () => {
  it('creates the CA, the server certificate and the keys once, as files in DATA/pki, and loads the same ones again', async () => {
    const dir = dataDir();
    const first = await loadOrCreatePki(dir, []);
    expect(first.created).toBe(true);
    expect(readdirSync(join(dir, 'pki')).sort()).toEqual(['ca.crt', 'ca.key', 'command-signing.key', 'server.crt', 'server.key']);
    for (const key of ['ca.key', 'server.key', 'command-signing.key']) expect(statSync(join(dir, 'pki', key)).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8')).toBe(first.caPem);
    const cert = serverCert(first);
    expect(cert.checkHost('fleet-server')).toBe('fleet-server');
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');

    const again = await loadOrCreatePki(new LocalKeyMaterial(dir), []);
    expect(again.created).toBe(false);
    expect(again.caHash).toBe(first.caHash);
    expect(again.serverCertChainPem).toBe(first.serverCertChainPem);
    expect(again.serverKeyPem).toBe(first.serverKeyPem);
    expect(again.commandSigningKey.equals(first.commandSigningKey)).toBe(true);
  });

  it('re-issues the server certificate for a --name it lacks, keeping the names and the key it had', async () => {
    const dir = dataDir();
    const a = await loadOrCreatePki(dir, ['a.example']);
    expect(serverCert(a).checkHost('b.example')).toBeUndefined();
    const b = await loadOrCreatePki(dir, ['b.example', '10.1.2.3']);
    const cert = serverCert(b);
    expect(cert.checkHost('a.example')).toBe('a.example');
    expect(cert.checkHost('b.example')).toBe('b.example');
    expect(cert.checkIP('10.1.2.3')).toBe('10.1.2.3');
    expect(b.caHash).toBe(a.caHash);
    // The same key: the pinned public key in printed install lines stays right.
    expect(b.serverKeyPem).toBe(a.serverKeyPem);
    expect(b.serverCertChainPem).not.toBe(a.serverCertChainPem);
    // Names it already has cause no new certificate.
    expect((await loadOrCreatePki(dir, ['a.example'])).serverCertChainPem).toBe(b.serverCertChainPem);
  });

  it('leaves one certificate valid for both names when two servers with different names start at once', async () => {
    const dir = dataDir();
    const [a, b] = await Promise.all([loadOrCreatePki(new LocalKeyMaterial(dir), ['a.example']), loadOrCreatePki(new LocalKeyMaterial(dir), ['b.example'])]);
    expect(a.caHash).toBe(b.caHash);
    expect(serverCert(a).checkHost('a.example')).toBe('a.example');
    expect(serverCert(b).checkHost('b.example')).toBe('b.example');
    const stored = new X509Certificate(readFileSync(join(dir, 'pki', 'server.crt')));
    expect(stored.checkHost('a.example')).toBe('a.example');
    expect(stored.checkHost('b.example')).toBe('b.example');
  });

  it('re-issues a server certificate that another CA signed', async () => {
    const dir = dataDir();
    const other = dataDir();
    const pki = await loadOrCreatePki(dir, []);
    await loadOrCreatePki(other, []);
    copyFileSync(join(other, 'pki', 'server.crt'), join(dir, 'pki', 'server.crt'));
    const again = await loadOrCreatePki(dir, []);
    expect(again.caHash).toBe(pki.caHash);
    serverCert(again);
  });

  it('refuses a CA certificate that is not the CA key’s, rather than sign with a key nobody trusts', async () => {
    const dir = dataDir();
    const other = dataDir();
    await loadOrCreatePki(dir, []);
    await loadOrCreatePki(other, []);
    copyFileSync(join(other, 'pki', 'ca.crt'), join(dir, 'pki', 'ca.crt'));
    const err = await loadOrCreatePki(dir, []).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StartupError);
    expect((err as Error).message).toMatch(/pki\/ca\.crt\) does not belong to the CA key/);
  });
});
