// SqliteNodeStore: the NodeStore contract, the MAC index filled in for nodes enrolled before it
// existed (SQLite migration 7), and a removed node's desired state left to the state store.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from './database';
import { MIGRATIONS } from './migrations';
import { SqliteNodeStore } from './node-store';
import { SqliteStateStore } from './state-store';
import { sqliteDatabases } from './test-databases';
import { nodeRecord, nodeStoreContract } from './test-node-store';

const dir = mkdtempSync(join(tmpdir(), 'fleet-node-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const databases = sqliteDatabases();

nodeStoreContract('SqliteNodeStore', async (servers) => databases(servers).map((db) => new SqliteNodeStore(db)));

describe('SqliteNodeStore MAC index', () => {
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
});

describe('stores keep to their own rows', () => {
  it("leaves a removed node's desired state to the state store, which forgets it", async () => {
    const [db] = databases();
    const nodes = new SqliteNodeStore(db!);
    const state = new SqliteStateStore(db!);
    await nodes.insert(nodeRecord('a'));
    await state.setDesired('a', 'web', 1);
    await state.replaceChecks('a', [{ spec: 'web', name: 'http', passing: true, output: '', sinceUnixMs: 1, checkedUnixMs: 1 }]);
    await nodes.remove((await nodes.get('a'))!, 'test', 1);
    expect(await state.nodeSpecs('a')).toHaveLength(1);
    await state.forgetNode('a');
    expect(await state.nodeSpecs('a')).toEqual([]);
    expect(await state.checks('a')).toEqual([]);
  });
});
