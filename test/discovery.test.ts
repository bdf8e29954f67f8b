// Journey: an unknown machine boots the PXE discovery image (kernel + initramfs, given to qemu
// directly here; iPXE is tested elsewhere), gets an address by DHCP, runs the standalone agent from
// RAM and enrolls with the join token from its kernel command line; it then shows up online with
// its NIC's MAC and runs commands on the discovery kernel. Software emulation (TCG), so: slow.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, Proc, waitFor } from './harness';

const root = fileURLToPath(new URL('..', import.meta.url));
const IMAGE = join(root, 'dist/discovery');
const MAC = '52:54:00:12:34:56';
const BOOT_TIMEOUT_MS = 240_000;

/** The release (`uname -r`) of a bzImage, from the version string its setup header points at. */
function kernelRelease(vmlinuz: string): string {
  const b = readFileSync(vmlinuz);
  expect(b.toString('latin1', 0x202, 0x206), `${vmlinuz} is not a bzImage`).toBe('HdrS');
  const at = b.readUInt16LE(0x20e) + 0x200;
  return b.toString('latin1', at, b.indexOf(0, at)).split(' ')[0]!;
}

interface NodeView {
  name: string;
  online: boolean;
  identity?: { hostname: string; macs: string[] };
}

describe('PXE discovery image', { timeout: BOOT_TIMEOUT_MS + 60_000 }, () => {
  // qemu's user-mode network maps 10.0.2.2 to the host's loopback, where the server listens.
  const fleet = new Fleet();
  const dir = mkdtempSync(join(tmpdir(), 'fleet-discovery-'));
  const serialLog = join(dir, 'serial.log');
  let qemu: Proc | undefined;
  let release = '';

  beforeAll(async () => {
    if (!existsSync(join(IMAGE, 'initrd.img')) || !existsSync(join(IMAGE, 'vmlinuz'))) {
      const build = spawnSync('npm', ['run', 'build:discovery'], { cwd: root, encoding: 'utf8' });
      expect(build.status, `npm run build:discovery failed:\n${build.stdout}${build.stderr}`).toBe(0);
    }
    release = kernelRelease(join(IMAGE, 'vmlinuz'));
    await fleet.startServer();
  }, 300_000);

  afterAll(async () => {
    await qemu?.kill('SIGKILL');
    await fleet.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const serial = () => (existsSync(serialLog) ? readFileSync(serialLog, 'utf8') : '');

  it('has an /init and DHCP script that are clean under shellcheck (POSIX sh)', () => {
    const r = spawnSync('shellcheck', ['-s', 'sh', 'init', 'udhcpc-script'], { cwd: join(root, 'installer/discovery'), encoding: 'utf8' });
    expect(r.error, 'shellcheck must be installed (npm test installs it)').toBeUndefined();
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('boots, enrolls with the token on the kernel command line, and runs commands', async () => {
    const token = await fleet.token(['--label', 'stage=discovery']);
    const started = Date.now();
    qemu = new Proc(
      spawn(
        'qemu-system-x86_64',
        [
          '-m', '1024', '-nographic', '-no-reboot', '-display', 'none', '-monitor', 'none',
          '-kernel', join(IMAGE, 'vmlinuz'),
          '-initrd', join(IMAGE, 'initrd.img'),
          '-append', `console=ttyS0 panic=-1 fleet.server=https://10.0.2.2:${fleet.port} fleet.token=${token}`,
          '-netdev', 'user,id=n0',
          '-device', `e1000,netdev=n0,mac=${MAC}`,
          '-serial', `file:${serialLog}`,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    );

    let node: NodeView | undefined;
    try {
      node = await waitFor(
        'the discovery node online',
        async () => {
          if (!qemu!.running) throw new Error(`qemu exited: ${qemu!.output}`);
          return (await fleet.json<NodeView[]>(['nodes'])).find((n) => n.online && n.identity?.macs.includes(MAC));
        },
        BOOT_TIMEOUT_MS,
        2_000,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- serial console (last 4000 characters) ---\n${serial().slice(-4000)}`);
    }
    const bootToOnline = ((Date.now() - started) / 1000).toFixed(1);
    process.stderr.write(`discovery: qemu start to node online in ${bootToOnline} s\n`);

    // Named after its first MAC, labelled by the token.
    expect(node.name).toBe('discovery-525400123456');
    expect(serial()).toMatch(/fleet-discovery: eth0 has 10\.0\.2\.15\/24/);
    const labels = (await fleet.json<{ name: string; labels: Record<string, string> }[]>(['nodes', '-l', 'stage=discovery'])).map((n) => n.name);
    expect(labels).toEqual([node.name]);

    const r = await fleet.cli(['exec', node.name, '--', 'uname', '-r']);
    expect(r.stdout).toBe(`${node.name}: ${release}\n`);
    expect(r.code).toBe(0);

    // Shells need PTYs: the agent's own check opens one from the image's devpts.
    const doctor = await fleet.cli(['exec', node.name, '--', 'fleet-agent', 'doctor', '--state-dir', '/tmp/doctor']);
    expect(doctor.stdout).toMatch(/: pty: pty ok: \/dev\/pts\/\d+$/m);
  });
});
