// install.sh on a busybox-only machine: a root with nothing but Debian's static busybox (which has
// no nohup applet) and curl with its libraries, entered with chroot inside its own network
// namespace. The installer works there with --init none; and a machine that lacks a tool the
// installer needs is refused before enrollment: no token use spent, no node left behind. Needs
// root, busybox-static and the standalone agent build.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from './harness';
import { TestHost } from './netns';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const BUSYBOX = '/bin/busybox';

/** Shared libraries (and the loader) an ELF file needs, per ldd. */
function sharedLibraries(file: string): string[] {
  return execFileSync('ldd', [file])
    .toString()
    .split('\n')
    .map((line) => (/=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)/.exec(line))?.[1])
    .filter((lib): lib is string => lib !== undefined);
}

/**
 * A root holding only busybox (every applet but `without`), curl and the libraries curl and the
 * agent load; `dash` makes dash its /bin/sh. Device nodes are made, not bind-mounted, so removing
 * the tree is always safe.
 */
function busyboxRoot(options: { without?: string[]; dash?: boolean } = {}): string {
  const without = [...(options.without ?? []), ...(options.dash ? ['sh'] : [])];
  const root = mkdtempSync(join(tmpdir(), 'fleet-busybox-'));
  const put = (path: string, from: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    copyFileSync(from, join(root, path));
  };
  for (const d of ['proc', 'sys', 'dev', 'etc', 'root', 'run', 'var', 'usr/bin', 'usr/sbin']) mkdirSync(join(root, d), { recursive: true });
  mkdirSync(join(root, 'tmp'), { mode: 0o1777 });
  execFileSync('chmod', ['1777', join(root, 'tmp')]);
  put('bin/busybox', BUSYBOX);
  const applets = execFileSync(BUSYBOX, ['--list-full']).toString().split('\n').filter(Boolean);
  expect(applets.map((a) => a.split('/').pop()), 'Debian\'s busybox-static has no nohup: this test is about that').not.toContain('nohup');
  for (const applet of applets) {
    if (applet === 'bin/busybox' || without.includes(applet.split('/').pop()!)) continue;
    mkdirSync(dirname(join(root, applet)), { recursive: true });
    symlinkSync('/bin/busybox', join(root, applet));
  }
  put('usr/bin/curl', '/usr/bin/curl');
  if (options.dash) put('bin/sh', '/bin/dash');
  const ptyNode = join(REPO, 'node_modules/node-pty/build/Release/pty.node');
  const programs = ['/usr/bin/curl', join(REPO, 'dist/fleet-agent-linux-x64'), ptyNode, ...(options.dash ? ['/bin/dash'] : [])];
  for (const lib of new Set(programs.flatMap(sharedLibraries))) put(lib, lib);
  for (const [name, major, minor] of [['null', 1, 3], ['zero', 1, 5], ['random', 1, 8], ['urandom', 1, 9]] as const) {
    execFileSync('mknod', ['-m', '666', join(root, 'dev', name), 'c', String(major), String(minor)]);
  }
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\n');
  return root;
}

describe('install.sh on a busybox-only machine', () => {
  let host: TestHost;
  let fleet: Fleet;
  const roots: string[] = [];

  beforeAll(async () => {
    host = TestHost.create({ prefix: 'fleet-bb' });
    fleet = new Fleet({ host: host.peerIp });
    await fleet.startServer();
  });
  afterAll(async () => {
    // Everything the chroots started runs in the host's namespace: gone before the trees go.
    host?.destroy();
    await fleet?.stop();
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });

  /** Runs `command` with busybox's sh inside `root` (chroot, private /proc and /sys) in the host. */
  const inRoot = (root: string, command: string) =>
    host.run(`exec unshare -m sh -c 'mount -t proc proc ${root}/proc && mount -t sysfs sysfs ${root}/sys && exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root chroot ${root} /bin/sh -c "$0"' '${command.replaceAll("'", "'\\''")}'`);
  const installCommand = (token: string, name: string) => `curl -fsSL -k --pinnedpubkey '${fleet.installPin}' ${fleet.installUrl}/install.sh | sh -s -- --token ${token} --init none --name ${name}`;
  const tokenUses = async (token: string) => (await fleet.json<{ id: string; used: number }[]>(['tokens', 'list'])).find((t) => t.id === token.split('_')[1])?.used;

  it('installs and starts the agent with busybox alone (no nohup)', async () => {
    const root = busyboxRoot();
    roots.push(root);
    const token = await fleet.token();
    const r = await inRoot(root, installCommand(token, 'bb-1'));
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/started in the background/);
    await fleet.waitOnline(['bb-1']);
    expect(existsSync(join(root, 'opt/fleet/bin/fleet-agent'))).toBe(true);
    const job = await fleet.cli(['exec', 'bb-1', '--', 'sh', '-c', 'readlink /bin/sh']);
    expect(job.stdout).toBe('bb-1: /bin/busybox\n');
  });

  it('refuses before enrolling when a tool it needs is missing: the token is not spent, no node appears', async () => {
    // busybox's own sh runs every applet even without its link, so this root's /bin/sh is dash;
    // env is what the installer used to find missing only after enrolling.
    const root = busyboxRoot({ without: ['env'], dash: true });
    roots.push(root);
    const token = await fleet.token();
    const r = await inRoot(root, installCommand(token, 'bb-2'));
    expect(r.code, r.output).not.toBe(0);
    expect(r.output).toMatch(/fleet install: env is missing/);
    expect(r.output).not.toMatch(/Enrolling/);
    expect(await tokenUses(token)).toBe(0);
    expect((await fleet.nodes()).map((n) => n.name)).not.toContain('bb-2');
    expect(existsSync(join(root, 'var/lib/fleet-agent/node.json'))).toBe(false);
  });
});
