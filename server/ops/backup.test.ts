// Backup and restore of a real data directory (SQLite file and PKI) without a running server:
// the round trip keeps everything, and damaged or hostile archives are refused before anything
// is written to the target.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupCorruptError, RestoreRefusedError } from '../errors';
import { loadOrCreatePki } from '../pki';
import { openDatabase } from '../store';
import { backup, restore } from './backup';
import { runDoctor } from './doctor';

describe('backup and restore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-backup-unit-'));
  const data = join(dir, 'data');
  const file = join(dir, 'b.tar.gz');

  beforeAll(async () => {
    mkdirSync(data, { mode: 0o700 });
    const db = openDatabase(join(data, 'fleet.db'));
    db.prepare("INSERT INTO audit_log (at, actor, action, target, ok, detail) VALUES (1, 'test', 'marker', 'x', 1, 'kept')").run();
    db.close();
    await loadOrCreatePki(data, []);
  }, 20_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips the database and the PKI into a new directory', async () => {
    const made = await backup(data, file);
    expect(made.schemaVersion).toBeGreaterThan(0);
    const target = join(dir, 'restored');
    const done = await restore(file, target);
    expect(done.caHash).toBe(made.caHash);
    expect(readFileSync(join(target, 'pki', 'ca.key'), 'utf8')).toBe(readFileSync(join(data, 'pki', 'ca.key'), 'utf8'));
    const db = openDatabase(join(target, 'fleet.db'));
    expect(db.prepare("SELECT detail FROM audit_log WHERE action = 'marker'").get()).toEqual({ detail: 'kept' });
    db.close();
    expect(runDoctor(target).filter((c) => c.status === 'fail')).toEqual([]);
  });

  it('refuses a file with one flipped byte, and an archive with a path leaving the directory', async () => {
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    writeFileSync(join(dir, 'flipped.tar.gz'), bytes);
    await expect(restore(join(dir, 'flipped.tar.gz'), join(dir, 'never'))).rejects.toBeInstanceOf(BackupCorruptError);
    expect(existsSync(join(dir, 'never'))).toBe(false);

    const header = Buffer.alloc(512);
    header.write('../evil', 0);
    header.write('0000600\0', 100);
    header.write('00000000005\0', 124);
    header.write('        ', 148);
    header.write('0', 156);
    header.write('ustar\0', 257);
    header.write('00', 263);
    let sum = 0;
    for (const b of header) sum += b;
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    const evil = Buffer.concat([header, Buffer.from('evil\n'), Buffer.alloc(507), Buffer.alloc(1024)]);
    writeFileSync(join(dir, 'evil.tar.gz'), gzipSync(evil));
    await expect(restore(join(dir, 'evil.tar.gz'), join(dir, 'never'))).rejects.toThrow(/unsafe path "..\/evil"/);
    expect(existsSync(join(dir, 'evil'))).toBe(false);
  });

  it('refuses a non-empty target unless forced, and then moves the old content aside', async () => {
    const target = join(dir, 'busy');
    await restore(file, target);
    await expect(restore(file, target)).rejects.toBeInstanceOf(RestoreRefusedError);
    const forced = await restore(file, target, { force: true });
    expect(forced.movedAside).toMatch(/busy\.before-restore-/);
    expect(existsSync(join(forced.movedAside!, 'fleet.db'))).toBe(true);
    expect(existsSync(join(target, 'fleet.db'))).toBe(true);
  });
});
