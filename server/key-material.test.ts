// Key material as files in the data directory: the KeyMaterialStore contract, and the files'
// names and modes, which existing data directories (and backups, doctor) rely on.
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KEY_ITEMS, LocalKeyMaterial, type KeyItem } from './key-material';
import { keyMaterialContract } from './test-key-material';

const root = mkdtempSync(join(tmpdir(), 'fleet-keys-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

keyMaterialContract('LocalKeyMaterial', async () => {
  const dir = join(root, `d${++n}`);
  return async () => new LocalKeyMaterial(dir);
});

describe('LocalKeyMaterial', () => {
  it('keeps each item as DATA/<name>: secrets readable by the server user only, in directories only it can enter', async () => {
    const dir = join(root, 'modes');
    const store = new LocalKeyMaterial(dir);
    for (const item of Object.keys(KEY_ITEMS) as KeyItem[]) await store.createIfAbsent(item, () => `${item}\n`);
    expect(readdirSync(dir).sort()).toEqual(['nats', 'pki']);
    expect(readdirSync(join(dir, 'pki')).sort()).toEqual(['ca.crt', 'ca.key', 'command-signing.key', 'server.crt', 'server.key']);
    expect(readdirSync(join(dir, 'nats')).sort()).toEqual(['account.jwt', 'account.nk', 'operator.jwt', 'operator.nk', 'system.jwt', 'system.nk']);
    for (const sub of ['pki', 'nats']) expect(statSync(join(dir, sub)).mode & 0o777).toBe(0o700);
    const mode = (file: string) => statSync(join(dir, file)).mode & 0o777;
    expect(mode('pki/ca.key')).toBe(0o600);
    expect(mode('pki/server.key')).toBe(0o600);
    expect(mode('pki/command-signing.key')).toBe(0o600);
    expect(mode('nats/operator.nk')).toBe(0o600);
    expect(mode('pki/ca.crt')).toBe(0o644);
    expect(mode('nats/account.jwt')).toBe(0o644);
    expect(readFileSync(join(dir, 'pki/ca.key'), 'utf8')).toBe('pki/ca.key\n');
    // A replaced item keeps its mode.
    expect(await store.replace('pki/server.key', 'pki/server.key\n', 'new\n')).toBe(true);
    expect(mode('pki/server.key')).toBe(0o600);
  });
});
