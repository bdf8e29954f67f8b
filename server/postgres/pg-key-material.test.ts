// Key material on a real PostgreSQL: the KeyMaterialStore contract, rows that are sealed (and do
// not open under another master key or another name), the master key file's checks, and replicas
// starting together on an empty database coming up with one CA, one signing key and one NATS
// operator, and one server certificate valid for all their names.
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StartupError } from '../errors';
import { NatsAuthority } from '../nats-authority';
import { loadOrCreatePki } from '../pki';
import { keyMaterialContract } from '../test-key-material';
import { openPgPool, type PgPool } from './pg-database';
import { MasterKey, PgKeyMaterial, readMasterKey } from './pg-key-material';
import { TestPostgres } from './test-postgres';

const PEM = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n';

describe('PgKeyMaterial', () => {
  let server: TestPostgres;
  const pools: PgPool[] = [];
  const masterKey = new MasterKey(randomBytes(32), 'the test key');
  beforeAll(async () => {
    server = await TestPostgres.start();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end()));
    server?.stop();
  });

  /** A replica's store: a pool of its own on `url`. */
  async function replica(url: string, key = masterKey): Promise<PgKeyMaterial> {
    const pool = await openPgPool(url, { max: 2 });
    pools.push(pool);
    return new PgKeyMaterial(pool, key);
  }

  async function rows(url: string): Promise<PgPool> {
    const pool = await openPgPool(url, { max: 1 });
    pools.push(pool);
    return pool;
  }

  keyMaterialContract('PgKeyMaterial', async () => {
    const url = await server.database();
    return () => replica(url);
  });

  it('keeps every item encrypted, each with a nonce of its own', async () => {
    const url = await server.database();
    const store = await replica(url);
    await store.createIfAbsent('pki/ca.key', () => PEM);
    await store.createIfAbsent('pki/server.key', () => PEM);
    const { rows: stored } = await (await rows(url)).query<{ name: string; nonce: Buffer; sealed: Buffer }>('SELECT name, nonce, sealed FROM key_material ORDER BY name');
    expect(stored.map((r) => r.name)).toEqual(['pki/ca.key', 'pki/server.key']);
    for (const row of stored) {
      expect(row.nonce).toHaveLength(12);
      expect(row.sealed.toString('latin1')).not.toContain('PRIVATE KEY');
      expect(row.sealed.toString('latin1')).not.toContain('MIGHAgEA');
    }
    expect(stored[0]!.nonce.equals(stored[1]!.nonce)).toBe(false);
    expect(stored[0]!.sealed.equals(stored[1]!.sealed)).toBe(false);
  });

  it('tells a replica given another master key so, and never hands it garbage or lets it overwrite', async () => {
    const url = await server.database();
    const first = await replica(url);
    await first.createIfAbsent('pki/ca.key', () => PEM);
    const other = await replica(url, new MasterKey(randomBytes(32), '/etc/fleet/other.key'));
    for (const attempt of [() => other.get('pki/ca.key'), () => other.createIfAbsent('pki/ca.key', () => 'mine'), () => other.replace('pki/ca.key', PEM, 'mine')]) {
      const err = await attempt().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StartupError);
      expect((err as Error).message).toMatch(/\(pki\/ca\.key\) was encrypted under another master key \(id [0-9a-f]{16}\) than the one in \/etc\/fleet\/other\.key/);
    }
    expect(await first.get('pki/ca.key')).toBe(PEM);
  });

  it('refuses a row copied under another name, or altered, rather than return what it holds', async () => {
    const url = await server.database();
    const store = await replica(url);
    await store.createIfAbsent('pki/ca.key', () => PEM);
    await store.createIfAbsent('pki/ca.crt', () => 'the certificate\n');
    const pool = await rows(url);
    await pool.query("UPDATE key_material SET nonce = k.nonce, sealed = k.sealed FROM key_material k WHERE k.name = 'pki/ca.key' AND key_material.name = 'pki/ca.crt'");
    const swapped = await store.get('pki/ca.crt').catch((e: unknown) => e);
    expect(swapped).toBeInstanceOf(StartupError);
    expect((swapped as Error).message).toMatch(/\(pki\/ca\.crt\) does not decrypt with the master key in the test key, which sealed it: its row was altered or copied/);
    await pool.query("UPDATE key_material SET sealed = set_byte(sealed, 3, get_byte(sealed, 3) # 1) WHERE name = 'pki/ca.key'");
    await expect(store.get('pki/ca.key')).rejects.toThrow(/\(pki\/ca\.key\) does not decrypt/);
  });

  describe('readMasterKey', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-master-key-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const file = (name: string, text: string, mode = 0o600) => {
      const path = join(dir, name);
      writeFileSync(path, text, { mode });
      return path;
    };
    const refusal = (path: string | undefined): string => {
      try {
        readMasterKey(path);
      } catch (err) {
        expect(err).toBeInstanceOf(StartupError);
        return (err as Error).message;
      }
      throw new Error(`${path} was accepted`);
    };

    it('reads 64 hex digits from a file only its owner can read, and the same file gives the same key', () => {
      const hex = randomBytes(32).toString('hex');
      const path = file('good.key', `${hex}\n`, 0o400);
      const key = readMasterKey(path);
      expect(key.source).toBe(path);
      expect(readMasterKey(path).id).toBe(key.id);
      const { nonce, sealed } = key.seal('pki/ca.key', PEM);
      expect(new MasterKey(Buffer.from(hex, 'hex'), 'again').open('pki/ca.key', nonce, sealed)).toBe(PEM);
    });

    it('refuses a key that is not set, not readable, open to others or not 32 bytes in hex, saying which', () => {
      expect(refusal(undefined)).toMatch(/^FLEET_MASTER_KEY_FILE is not set: .*openssl rand -hex 32/);
      expect(refusal(join(dir, 'missing.key'))).toMatch(/cannot read the master key file .*missing\.key \(FLEET_MASTER_KEY_FILE\): ENOENT/);
      const sub = join(dir, 'a-directory');
      mkdirSync(sub, { mode: 0o700 });
      expect(refusal(sub)).toMatch(/cannot read the master key file .*a-directory .*EISDIR/);
      const hex = randomBytes(32).toString('hex');
      expect(refusal(file('shared.key', hex, 0o644))).toMatch(/shared\.key \(FLEET_MASTER_KEY_FILE\) is open to other users \(mode 0644\); .*chmod 600/);
      expect(refusal(file('group.key', hex, 0o640))).toMatch(/\(mode 0640\)/);
      expect(refusal(file('short.key', hex.slice(1)))).toMatch(/must hold 32 bytes as 64 hex digits; it holds 63 hex digits/);
      const base64 = randomBytes(32).toString('base64');
      const message = refusal(file('base64.key', base64));
      expect(message).toMatch(/it holds 44 characters, not all hex digits/);
      expect(message).not.toContain(base64);
    });
  });

  it('brings up one CA, one signing key and one NATS operator when replicas start together on an empty database', async () => {
    const url = await server.database();
    const replicas = await Promise.all([1, 2, 3, 4].map(() => replica(url)));
    const started = await Promise.all(replicas.map(async (keys) => ({ pki: await loadOrCreatePki(keys, []), nats: await NatsAuthority.loadOrCreate(keys) })));
    const first = started[0]!;
    expect(started.filter((s) => s.pki.created)).toHaveLength(1);
    for (const { pki, nats } of started) {
      expect(pki.caHash).toBe(first.pki.caHash);
      expect(pki.commandSigningKey.equals(first.pki.commandSigningKey)).toBe(true);
      expect(pki.serverKeyPem).toBe(first.pki.serverKeyPem);
      expect(new X509Certificate(pki.serverCertChainPem).verify(new X509Certificate(pki.caPem).publicKey)).toBe(true);
      expect(nats.configBlock()).toBe(first.nats.configBlock());
    }
    // A replica started later loads the very same.
    const later = await replica(url);
    expect((await loadOrCreatePki(later, [])).caHash).toBe(first.pki.caHash);
    expect((await NatsAuthority.loadOrCreate(later)).configBlock()).toBe(first.nats.configBlock());
    const { rows: items } = await (await rows(url)).query<{ n: number }>('SELECT count(*)::int AS n FROM key_material');
    expect(items[0]!.n).toBe(11);
  });

  it('leaves one server certificate valid for every replica’s --name, whichever started first', async () => {
    const url = await server.database();
    const [a, b] = await Promise.all([replica(url), replica(url)]);
    const [pkiA, pkiB] = await Promise.all([loadOrCreatePki(a, ['a.example']), loadOrCreatePki(b, ['b.example', '10.9.8.7'])]);
    expect(new X509Certificate(pkiA.serverCertChainPem).checkHost('a.example')).toBe('a.example');
    expect(new X509Certificate(pkiB.serverCertChainPem).checkHost('b.example')).toBe('b.example');
    // What is stored now covers both, and a replica restarting with its name serves it unchanged.
    const restarted = await loadOrCreatePki(await replica(url), ['a.example']);
    const cert = new X509Certificate(restarted.serverCertChainPem);
    expect(cert.checkHost('a.example')).toBe('a.example');
    expect(cert.checkHost('b.example')).toBe('b.example');
    expect(cert.checkIP('10.9.8.7')).toBe('10.9.8.7');
    expect((await loadOrCreatePki(await replica(url), ['b.example'])).serverCertChainPem).toBe(restarted.serverCertChainPem);
    // A third replica with a new name adds it, keeping the others'.
    const c = new X509Certificate((await loadOrCreatePki(await replica(url), ['c.example'])).serverCertChainPem);
    expect([c.checkHost('a.example'), c.checkHost('b.example'), c.checkHost('c.example')]).toEqual(['a.example', 'b.example', 'c.example']);
  });
});
