import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from './database';
import { MIGRATIONS } from './migrations';
import { SqliteNodeStore, type NodeRecord } from './node-store';
import { SqliteStateStore } from './state-store';

const dir = mkdtempSync(join(tmpdir(), 'fleet-node-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function record(id: string, macs: string[]): NodeRecord {
  return {
    id,
    name: id,
    labels: {},
    facts: undefined,
    identity: { hostname: id, macs, dmiUuid: '', serial: '' },
    certFingerprint: `fp-${id}`,
    prevCertFingerprint: null,
    certNotAfter: 0,
    agentVersion: '1',
    joinTokenId: null,
    enrolledAt: 0,
    lastSeenAt: null,
  };
}

describe('NodeStore MAC index', () => {
  it('indexes the nodes enrolled before the upgrade that added it (migration 7)', async () => {
    const file = join(dir, 'old.db');
    const old = new Database(file);
    for (const sql of MIGRATIONS.slice(0, 6)) old.exec(sql);
    old.pragma('user_version = 6');
    old
      .prepare("INSERT INTO nodes (id, name, identity, cert_fingerprint, cert_not_after, enrolled_at) VALUES ('n-1', 'old-1', ?, 'fp', 0, 0)")
      .run(JSON.stringify({ hostname: 'old-1', macs: ['52:54:00:AA:BB:CC'] }));
    old.close();
    const db = openDatabase(file);
    const nodes = new SqliteNodeStore(db);
    expect((await nodes.withMacs(['52:54:00:aa:bb:cc'])).map((n) => n.name)).toEqual(['old-1']);
    db.close();
  });

  it('follows enrollment, re-enrollment and removal', async () => {
    const db = openDatabase(':memory:');
    const nodes = new SqliteNodeStore(db);
    await nodes.insert(record('a', ['52:54:00:00:00:01', '52:54:00:00:00:02']));
    await nodes.insert(record('b', ['52:54:00:00:00:02']));
    expect((await nodes.withMacs(['52:54:00:00:00:02'])).map((n) => n.id)).toEqual(['a', 'b']);
    // Taken over from a machine with another NIC: found by the new address only.
    await nodes.reenroll('a', { name: 'a', certFingerprint: 'fp-a' }, { ...record('a', ['52:54:00:00:00:03']), certFingerprint: 'new' });
    expect((await nodes.withMacs(['52:54:00:00:00:01'])).map((n) => n.id)).toEqual([]);
    expect((await nodes.withMacs(['52:54:00:00:00:03'])).map((n) => n.id)).toEqual(['a']);
    expect(await nodes.get('a')).toMatchObject({ certFingerprint: 'new', prevCertFingerprint: null });
    await nodes.remove((await nodes.get('b'))!, 'test', 1);
    expect(await nodes.withMacs(['52:54:00:00:00:02'])).toEqual([]);
    db.close();
  });

  it('takes a node over only while it is as it was looked up', async () => {
    const db = openDatabase(':memory:');
    const nodes = new SqliteNodeStore(db);
    await nodes.insert(record('a', ['52:54:00:00:00:01']));
    const takeOver = { ...record('a', ['52:54:00:00:00:09']), certFingerprint: 'new' };
    // Enrolled again meanwhile (another certificate): the stale take-over changes nothing.
    expect(await nodes.reenroll('a', { name: 'a', certFingerprint: 'fp-other' }, takeOver)).toBe(false);
    expect(await nodes.get('a')).toMatchObject({ certFingerprint: 'fp-a' });
    expect((await nodes.withMacs(['52:54:00:00:00:09'])).map((n) => n.id)).toEqual([]);
    expect(await nodes.reenroll('a', { name: 'a', certFingerprint: 'fp-a' }, takeOver)).toBe(true);
    expect(await nodes.get('a')).toMatchObject({ certFingerprint: 'new' });
    db.close();
  });
});

describe('stores keep to their own rows', () => {
  it("leaves a removed node's desired state to the state store, which forgets it", async () => {
    const db = openDatabase(':memory:');
    const nodes = new SqliteNodeStore(db);
    const state = new SqliteStateStore(db);
    await nodes.insert(record('a', []));
    await state.setDesired('a', 'web', 1);
    await state.replaceChecks('a', [{ spec: 'web', name: 'http', passing: true, output: '', sinceUnixMs: 1, checkedUnixMs: 1 }]);
    await nodes.remove((await nodes.get('a'))!, 'test', 1);
    expect(await state.nodeSpecs('a')).toHaveLength(1);
    await state.forgetNode('a');
    expect(await state.nodeSpecs('a')).toEqual([]);
    expect(await state.checks('a')).toEqual([]);
    db.close();
  });
});
