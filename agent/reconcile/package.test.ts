import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { prune, reconcile } from './index';
import { desired, TestNode } from './test-node';

let build: string;
let deb: Buffer;
beforeAll(() => {
  // A one-file package: usr/share/fleet-test/hello.txt.
  build = mkdtempSync(join(tmpdir(), 'fleet-deb-build-'));
  const tree = join(build, 'fleet-test');
  mkdirSync(join(tree, 'DEBIAN'), { recursive: true });
  mkdirSync(join(tree, 'usr/share/fleet-test'), { recursive: true });
  writeFileSync(join(tree, 'DEBIAN/control'), 'Package: fleet-test\nVersion: 1.0\nArchitecture: all\nMaintainer: fleet <fleet@example.com>\nDescription: fleet reconciler test package\n');
  writeFileSync(join(tree, 'usr/share/fleet-test/hello.txt'), 'hello from a .deb\n');
  execFileSync('dpkg-deb', ['--build', '--root-owner-group', tree, join(build, 'fleet-test.deb')], { stdio: 'ignore' });
  deb = readFileSync(join(build, 'fleet-test.deb'));
});
afterAll(() => rmSync(build, { recursive: true, force: true }));

let node: TestNode;
beforeEach(() => {
  node = new TestNode();
});
afterEach(() => node.cleanup());

function dpkgStatus(): string {
  const result = spawnSync('dpkg-query', [`--admindir=${join(node.root, 'var/lib/dpkg')}`, '-W', '-f', '${Status}\t${Version}', 'fleet-test']);
  return result.stdout.toString();
}

describe('package resources under a test root', () => {
  it('installs a .deb with dpkg --root, finds it installed on re-apply, and removes it', async () => {
    const spec = desired([{ type: 'package', name: 'fleet-test', version: '1.0', deb: node.artifact('fleet-test.deb', deb) }]);
    expect(await reconcile(spec, node.options({ dryRun: true }))).toEqual([{ id: 'package:fleet-test', status: 'pending', changes: ['install fleet-test 1.0 from .deb'] }]);
    expect(existsSync(join(node.root, 'var'))).toBe(false);

    expect((await reconcile(spec, node.options()))[0]).toMatchObject({ status: 'changed' });
    expect(readFileSync(join(node.root, 'usr/share/fleet-test/hello.txt'), 'utf8')).toBe('hello from a .deb\n');
    expect(dpkgStatus()).toBe('install ok installed\t1.0');

    expect((await reconcile(spec, node.options()))[0]).toMatchObject({ status: 'ok' });
    expect(node.downloads).toHaveLength(1);

    const absent = await reconcile(desired([{ type: 'package', name: 'fleet-test', state: 'absent' }]), node.options());
    expect(absent).toEqual([{ id: 'package:fleet-test', status: 'changed', changes: ['remove fleet-test 1.0'] }]);
    expect(existsSync(join(node.root, 'usr/share/fleet-test/hello.txt'))).toBe(false);
    expect(dpkgStatus()).not.toMatch(/installed/);
  });

  it('removes a package no spec lists any more only when fleet installed it', async () => {
    const spec = desired([{ type: 'package', name: 'fleet-test', deb: node.artifact('fleet-test.deb', deb) }]);
    const removal = { ...spec, revision: 0, resources: [] };
    await reconcile(spec, node.options());
    expect(dpkgStatus()).toBe('install ok installed\t1.0');
    expect(await prune(spec, removal, node.options({ dryRun: true }))).toEqual([{ id: 'package:fleet-test', status: 'pending', changes: ['remove fleet-test 1.0'] }]);
    expect(await prune(spec, removal, node.options())).toEqual([{ id: 'package:fleet-test', status: 'changed', changes: ['remove fleet-test 1.0'] }]);
    expect(dpkgStatus()).not.toMatch(/installed/);

    // Installed before any spec listed it (here by hand): a spec that lists it did not install it.
    execFileSync('dpkg', [`--root=${node.root}`, '--force-not-root', '--force-script-chrootless', '-i', join(build, 'fleet-test.deb')], { stdio: 'ignore' });
    expect((await reconcile(spec, node.options()))[0]).toMatchObject({ status: 'ok' });
    expect(await prune(spec, removal, node.options())).toEqual([{ id: 'package:fleet-test', status: 'ok', changes: [] }]);
    expect(dpkgStatus()).toBe('install ok installed\t1.0');
  });

  it('refuses a .deb with the wrong sha256, and a repository install outside root /', async () => {
    const tampered = { ...node.artifact('fleet-test.deb', deb), sha256: 'b'.repeat(64) };
    const [mismatch, noDeb] = await reconcile(
      desired([
        { type: 'package', name: 'fleet-test', deb: tampered },
        { type: 'package', name: 'curl' },
      ]),
      node.options(),
    );
    expect(mismatch).toMatchObject({ status: 'failed', error: expect.stringMatching(/^sha256 mismatch: expected b{64}, got [0-9a-f]{64}$/) });
    expect(noDeb).toMatchObject({ status: 'failed', error: `package curl: under root ${node.root} packages can only be installed from a deb: artifact` });
    expect(existsSync(join(node.root, 'usr'))).toBe(false);
  });
});
