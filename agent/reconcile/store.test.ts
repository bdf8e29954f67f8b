import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/logger';
import { DesiredStore } from './index';
import { desired } from './test-node';

let stateDir: string;
beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'fleet-store-'));
});
afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

describe('DesiredStore', () => {
  it('keeps each spec across restarts, marking an apply in progress as pending', () => {
    const state = desired([{ type: 'file', path: '/etc/app.conf', content: 'secret' }]);
    new DesiredStore(stateDir, silentLogger()).save({ desired: state, results: [], appliedUnixMs: 1, rolloutId: 'r1', pending: true });

    const restarted = new DesiredStore(stateDir, silentLogger());
    expect(restarted.load()).toEqual([{ desired: state, results: [], appliedUnixMs: 1, rolloutId: 'r1', pending: true }]);
    const results = [{ id: 'file:/etc/app.conf', status: 'changed' as const, changes: ['create (6 bytes, mode 0644)'] }];
    restarted.save({ desired: state, results, appliedUnixMs: 2, pending: false });
    expect(restarted.get('app')).toEqual({ desired: state, results, appliedUnixMs: 2, pending: false });
    expect(readdirSync(join(stateDir, 'desired'))).toEqual(['app.json']);
    expect(statSync(join(stateDir, 'desired/app.json')).mode & 0o777).toBe(0o600);

    restarted.remove('app');
    expect(restarted.load()).toEqual([]);
  });

  it('skips unreadable files and refuses spec names that are not file names', () => {
    const store = new DesiredStore(stateDir, silentLogger());
    store.save({ desired: desired([]), results: [], appliedUnixMs: 1, pending: false });
    writeFileSync(join(stateDir, 'desired/broken.json'), '{ half');
    expect(store.load().map((s) => s.desired.spec)).toEqual(['app']);
    expect(() => store.get('../node')).toThrow('invalid spec name "../node"');
  });
});
