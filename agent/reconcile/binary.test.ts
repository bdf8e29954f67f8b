import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prune, reconcile } from './index';
import { desired, TestNode } from './test-node';

let node: TestNode;
beforeEach(() => {
  node = new TestNode();
});
afterEach(() => node.cleanup());

function hello(version: string, artifact = node.artifact(`hello-${version}`, `#!/bin/sh\necho hello ${version}\n`)) {
  return desired([{ type: 'binary', name: 'hello', version, ...artifact }]);
}

function runHello(): string {
  return execFileSync(join(node.root, 'opt/fleet/bin/hello')).toString();
}

describe('binary resources', () => {
  it('plans a download without fetching anything, then installs and links it', async () => {
    const spec = hello('1.0.0');
    const planned = await reconcile(spec, node.options({ dryRun: true }));
    expect(planned[0]).toMatchObject({ status: 'pending', changes: [expect.stringMatching(/^download hello 1\.0\.0 \(sha256 [0-9a-f]{12}…\)$/), 'link bin/hello → 1.0.0'] });
    expect(node.downloads).toEqual([]);
    expect(readdirSync(node.root)).toEqual([]);

    expect((await reconcile(spec, node.options()))[0]!.status).toBe('changed');
    expect(readlinkSync(join(node.root, 'opt/fleet/bin/hello'))).toBe('../pkgs/hello/1.0.0/hello');
    expect(statSync(join(node.root, 'opt/fleet/pkgs/hello/1.0.0/hello')).mode & 0o777).toBe(0o755);
    expect(runHello()).toBe('hello 1.0.0\n');

    const link = lstatSync(join(node.root, 'opt/fleet/bin/hello')).mtimeMs;
    expect(await reconcile(spec, node.options())).toEqual([{ id: 'binary:hello', status: 'ok', changes: [] }]);
    expect(node.downloads).toHaveLength(1);
    expect(lstatSync(join(node.root, 'opt/fleet/bin/hello')).mtimeMs).toBe(link);
  });

  it('refuses an artifact whose sha256 does not match, leaving the current version linked', async () => {
    await reconcile(hello('1.0.0'), node.options());
    const genuine = node.artifact('hello-2.0.0', '#!/bin/sh\necho hello 2.0.0\n');
    node.artifact('hello-2.0.0', '#!/bin/sh\necho tampered\n');

    const [result] = await reconcile(hello('2.0.0', genuine), node.options());
    expect(result!.status).toBe('failed');
    expect(result!.error).toMatch(new RegExp(`^sha256 mismatch: expected ${genuine.sha256}, got [0-9a-f]{64}$`));
    expect(readdirSync(join(node.root, 'opt/fleet/pkgs/hello'))).toEqual(['1.0.0']);
    expect(runHello()).toBe('hello 1.0.0\n');
  });

  it('keeps the old version on upgrade, so rolling back only relinks', async () => {
    await reconcile(hello('1.0.0'), node.options());
    const [upgrade] = await reconcile(hello('2.0.0'), node.options());
    expect(upgrade!.changes).toEqual([expect.stringMatching(/^download hello 2\.0\.0/), 'link bin/hello → 2.0.0 (was 1.0.0)']);
    expect(runHello()).toBe('hello 2.0.0\n');
    expect(readdirSync(join(node.root, 'opt/fleet/pkgs/hello')).sort()).toEqual(['1.0.0', '2.0.0']);

    const [rollback] = await reconcile(hello('1.0.0'), node.options());
    expect(rollback).toEqual({ id: 'binary:hello', status: 'changed', changes: ['link bin/hello → 1.0.0 (was 2.0.0)'] });
    expect(node.downloads).toHaveLength(2);
    expect(runHello()).toBe('hello 1.0.0\n');
  });

  it('fails clearly when the download fails, and prune unlinks but keeps the versions', async () => {
    const [failed] = await reconcile(desired([{ type: 'binary', name: 'gone', version: '1.0', url: 'http://artifacts.test/missing', sha256: 'a'.repeat(64) }]), node.options());
    expect(failed).toMatchObject({ status: 'failed', error: 'download of gone 1.0 failed: 404 http://artifacts.test/missing' });
    expect(existsSync(join(node.root, 'opt/fleet/pkgs/gone/1.0'))).toBe(false);

    await reconcile(hello('1.0.0'), node.options());
    expect(await prune(hello('1.0.0'), desired([]), node.options())).toEqual([{ id: 'binary:hello', status: 'changed', changes: ['unlink bin/hello'] }]);
    expect(existsSync(join(node.root, 'opt/fleet/bin/hello'))).toBe(false);
    expect(existsSync(join(node.root, 'opt/fleet/pkgs/hello/1.0.0/hello'))).toBe(true);
  });
});
