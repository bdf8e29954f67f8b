import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DesiredState } from '../../common/spec/schema';
import { prune, reconcile } from './index';
import { desired, TestNode } from './test-node';

let node: TestNode;
beforeEach(() => {
  node = new TestNode();
});
afterEach(() => node.cleanup());

function mtimes(paths: string[]): number[] {
  return paths.map((p) => lstatSync(join(node.root, p)).mtimeMs);
}

describe('file resources', () => {
  const spec = () =>
    desired([
      { type: 'file', path: '/etc/app/app.conf', content: 'port = 8080\n' },
      { type: 'file', path: '/etc/app/secret', content: 'hunter2', mode: '0600' },
    ]);

  it('plans the changes and writes nothing in a dry run', async () => {
    const results = await reconcile(spec(), node.options({ dryRun: true }));
    expect(results).toEqual([
      { id: 'file:/etc/app/app.conf', status: 'pending', changes: ['create (12 bytes, mode 0644)'] },
      { id: 'file:/etc/app/secret', status: 'pending', changes: ['create (7 bytes, mode 0600)'] },
    ]);
    expect(readdirSync(node.root)).toEqual([]);
  });

  it('applies, and a re-apply reports all ok without touching a thing', async () => {
    const first = await reconcile(spec(), node.options());
    expect(first.map((r) => r.status)).toEqual(['changed', 'changed']);
    expect(readFileSync(join(node.root, 'etc/app/app.conf'), 'utf8')).toBe('port = 8080\n');
    expect(statSync(join(node.root, 'etc/app/secret')).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(node.root, 'etc/app')).sort()).toEqual(['app.conf', 'secret']);

    const before = mtimes(['etc/app', 'etc/app/app.conf', 'etc/app/secret']);
    const second = await reconcile(spec(), node.options());
    expect(second.map((r) => r.status)).toEqual(['ok', 'ok']);
    expect(second.flatMap((r) => r.changes)).toEqual([]);
    expect(mtimes(['etc/app', 'etc/app/app.conf', 'etc/app/secret'])).toEqual(before);
  });

  it('repairs a hand-edited file and reports it as drifted', async () => {
    await reconcile(spec(), node.options());
    const conf = join(node.root, 'etc/app/app.conf');
    writeFileSync(conf, 'port = 9999\n');
    chmodSync(conf, 0o666);
    chmodSync(join(node.root, 'etc/app/secret'), 0o644);

    const results = await reconcile(spec(), node.options({ drift: true }));
    expect(results[0]).toMatchObject({ status: 'drifted', changes: [expect.stringMatching(/^content differs \(sha256 [0-9a-f]{8} → [0-9a-f]{8}\)$/), 'mode 0666 → 0644'] });
    expect(results[1]).toMatchObject({ status: 'drifted', changes: ['mode 0644 → 0600'] });
    expect(readFileSync(conf, 'utf8')).toBe('port = 8080\n');
    expect(statSync(conf).mode & 0o777).toBe(0o644);
  });

  it('sets owner and group by name, and fails clearly for an unknown user', async () => {
    const nobody = Number(execFileSync('id', ['-u', 'nobody']).toString());
    const results = await reconcile(
      desired([
        { type: 'file', path: '/owned', content: 'x', owner: 'nobody', group: 'nogroup' },
        { type: 'file', path: '/unowned', content: 'x', owner: 'no-such-user-here' },
      ]),
      node.options(),
    );
    expect(results[0]!.status).toBe('changed');
    expect(statSync(join(node.root, 'owned')).uid).toBe(nobody);
    expect(results[1]).toMatchObject({ status: 'failed', error: 'no such user "no-such-user-here" on this host' });
    expect(existsSync(join(node.root, 'unowned'))).toBe(false);
  });

  it('deletes an absent file, and prune deletes files the new state no longer lists', async () => {
    await reconcile(spec(), node.options());
    const absent = await reconcile(desired([{ type: 'file', path: '/etc/app/secret', state: 'absent' }]), node.options());
    expect(absent).toEqual([{ id: 'file:/etc/app/secret', status: 'changed', changes: ['delete'] }]);
    expect(existsSync(join(node.root, 'etc/app/secret'))).toBe(false);

    const next = desired([{ type: 'file', path: '/etc/app/other', content: '' }]);
    expect(await prune(spec(), next, node.options({ dryRun: true }))).toEqual([
      { id: 'file:/etc/app/secret', status: 'ok', changes: [] },
      { id: 'file:/etc/app/app.conf', status: 'pending', changes: ['delete'] },
    ]);
    expect(existsSync(join(node.root, 'etc/app/app.conf'))).toBe(true);
    await prune(spec(), next, node.options());
    expect(existsSync(join(node.root, 'etc/app/app.conf'))).toBe(false);
  });
});

describe('pruning what a spec no longer lists', () => {
  it('deletes a file only while it holds what fleet wrote; an edited one stays and says why', async () => {
    const state = desired([
      { type: 'file', path: '/etc/app/kept.conf', content: 'fleet\n' },
      { type: 'file', path: '/etc/app/gone.conf', content: 'fleet\n', mode: '0600' },
      { type: 'file', path: '/etc/app/dir', content: 'fleet\n' },
    ]);
    await reconcile(state, node.options());
    writeFileSync(join(node.root, 'etc/app/kept.conf'), 'edited by hand\n');
    // A mode changed by hand is not an edit: the content is still fleet's.
    chmodSync(join(node.root, 'etc/app/gone.conf'), 0o644);
    rmSync(join(node.root, 'etc/app/dir'));
    mkdirSync(join(node.root, 'etc/app/dir'));
    const removal = { ...state, revision: 0, resources: [] };

    const plan = await prune(state, removal, node.options({ dryRun: true }));
    expect(plan).toEqual([
      { id: 'file:/etc/app/dir', status: 'skipped', changes: [], error: 'replaced by a directory since fleet wrote it' },
      { id: 'file:/etc/app/gone.conf', status: 'pending', changes: ['delete'] },
      { id: 'file:/etc/app/kept.conf', status: 'skipped', changes: [], error: 'edited since fleet wrote it' },
    ]);
    expect(await prune(state, removal, node.options())).toEqual(plan.map((r) => (r.status === 'pending' ? { ...r, status: 'changed' } : r)));
    expect(existsSync(join(node.root, 'etc/app/gone.conf'))).toBe(false);
    expect(readFileSync(join(node.root, 'etc/app/kept.conf'), 'utf8')).toBe('edited by hand\n');
    expect(statSync(join(node.root, 'etc/app/dir')).isDirectory()).toBe(true);
  });

  it('leaves what another spec on the node still lists', async () => {
    const state = desired([
      { type: 'file', path: '/etc/shared.conf', content: 'x' },
      { type: 'file', path: '/etc/own.conf', content: 'y' },
    ]);
    await reconcile(state, node.options());
    const results = await prune(state, { ...state, revision: 0, resources: [] }, node.options(), new Set(['file:/etc/shared.conf']));
    expect(results).toEqual([{ id: 'file:/etc/own.conf', status: 'changed', changes: ['delete'] }]);
    expect(existsSync(join(node.root, 'etc/shared.conf'))).toBe(true);
  });
});

describe('path containment', () => {
  let outside: string;
  beforeEach(() => {
    outside = mkdtempSync(join(tmpdir(), 'fleet-outside-'));
  });
  afterEach(() => rmSync(outside, { recursive: true, force: true }));

  it('refuses ".." and symlinked parents that lead out of the root, and carries on with the rest', async () => {
    symlinkSync(outside, join(node.root, 'etc'));
    // Bypasses the schema (which already refuses ".."): the reconciler checks again.
    const state = {
      spec: 'app',
      revision: 1,
      checks: [],
      resources: [
        { type: 'file', path: `/../${outside.split('/').pop()}/escaped`, state: 'present', content: 'x', mode: '0644', template: false },
        { type: 'file', path: '/etc/app.conf', state: 'present', content: 'x', mode: '0644', template: false },
        { type: 'file', path: '/etc/deeper/app.conf', state: 'present', content: 'x', mode: '0644', template: false },
        { type: 'file', path: '/fine.conf', state: 'present', content: 'x', mode: '0644', template: false },
      ],
    } as DesiredState;
    const results = await reconcile(state, node.options());
    expect(results.map((r) => r.status)).toEqual(['failed', 'failed', 'failed', 'changed']);
    expect(results[0]!.error).toMatch(/is not a plain absolute path inside the root/);
    expect(results[1]!.error).toBe(`/etc/app.conf resolves outside the root ${node.root}; refusing to touch it`);
    expect(results[2]!.error).toMatch(/resolves outside the root/);
    expect(readdirSync(outside)).toEqual([]);
  });

  it('refuses a file where a directory is', async () => {
    mkdirSync(join(node.root, 'etc'));
    const [result] = await reconcile(desired([{ type: 'file', path: '/etc', content: 'x' }]), node.options());
    expect(result).toMatchObject({ status: 'failed', error: '/etc is a directory; a file resource never replaces or deletes directories' });
  });
});

describe('exec resources', () => {
  it('runs in the root with FLEET_ROOT set, and skips once `creates` exists', async () => {
    const spec = desired([{ type: 'exec', name: 'init', command: 'echo "$FLEET_ROOT" > ran; echo again >> ran', creates: '/ran' }]);
    expect(await reconcile(spec, node.options({ dryRun: true }))).toEqual([{ id: 'exec:init', status: 'pending', changes: ['run: echo "$FLEET_ROOT" > ran; echo again >> ran'] }]);
    expect(existsSync(join(node.root, 'ran'))).toBe(false);

    expect((await reconcile(spec, node.options()))[0]!.status).toBe('changed');
    expect(readFileSync(join(node.root, 'ran'), 'utf8')).toBe(`${node.root}\nagain\n`);
    expect((await reconcile(spec, node.options()))[0]!.status).toBe('ok');
  });

  it('skips when `unless` exits 0', async () => {
    const spec = (unless: string) => desired([{ type: 'exec', name: 'mark', command: 'touch marked', unless }]);
    expect((await reconcile(spec('true'), node.options()))[0]!.status).toBe('ok');
    expect(existsSync(join(node.root, 'marked'))).toBe(false);
    expect((await reconcile(spec('test -e marked'), node.options()))[0]!.status).toBe('changed');
    expect((await reconcile(spec('test -e marked'), node.options()))[0]!.status).toBe('ok');
  });

  it('reports the exit code and output of a failing command, and kills it at the timeout', async () => {
    const [failed, timedOut] = await reconcile(
      desired([
        { type: 'exec', name: 'broken', command: 'echo first; echo "no disk" >&2; exit 3' },
        { type: 'exec', name: 'slow', command: 'sleep 30', timeout: '200ms' },
      ]),
      node.options(),
    );
    expect(failed).toEqual({ id: 'exec:broken', status: 'failed', changes: [], error: 'exec broken: exit 3: first\nno disk' });
    expect(timedOut).toMatchObject({ status: 'failed', error: 'exec slow: timed out after 200 ms' });
  });
});
