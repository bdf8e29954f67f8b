import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from './database';
import { MIGRATIONS } from './migrations';
import { NodeStore, type NodeRecord } from './node-store';

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
  it('indexes the nodes enrolled before the upgrade that added it (migration 7)', () => {
    const file = join(dir, 'old.db');
    const old = new Database(file);
    for (const sql of MIGRATIONS.slice(0, 6)) old.exec(sql);
    old.pragma('user_version = 6');
    old
      .prepare("INSERT INTO nodes (id, name, identity, cert_fingerprint, cert_not_after, enrolled_at) VALUES ('n-1', 'old-1', ?, 'fp', 0, 0)")
      .run(JSON.stringify({ hostname: 'old-1', macs: ['52:54:00:AA:BB:CC'] }));
    old.close();
    const db = openDatabase(file);
    const nodes = new NodeStore(db);
    expect(nodes.withMacs(['52:54:00:aa:bb:cc']).map((n) => n.name)).toEqual(['old-1']);
    db.close();
  });

  it('follows enrollment, re-enrollment and removal', () => {
    const db = openDatabase(':memory:');
    const nodes = new NodeStore(db);
    nodes.insert(record('a', ['52:54:00:00:00:01', '52:54:00:00:00:02']));
    nodes.insert(record('b', ['52:54:00:00:00:02']));
    expect(nodes.withMacs(['52:54:00:00:00:02']).map((n) => n.id)).toEqual(['a', 'b']);
    // Taken over from a machine with another NIC: found by the new address only.
    nodes.reenroll('a', { ...record('a', ['52:54:00:00:00:03']), certFingerprint: 'new' });
    expect(nodes.withMacs(['52:54:00:00:00:01']).map((n) => n.id)).toEqual([]);
    expect(nodes.withMacs(['52:54:00:00:00:03']).map((n) => n.id)).toEqual(['a']);
    expect(nodes.get('a')).toMatchObject({ certFingerprint: 'new', prevCertFingerprint: null });
    nodes.remove(nodes.get('b')!, 'test', 1);
    expect(nodes.withMacs(['52:54:00:00:00:02'])).toEqual([]);
    db.close();
  });
});
