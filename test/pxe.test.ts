// Journey 3: bare machines network-boot from the server. A real iPXE client (Debian's ipxe-qemu ROM
// in qemu, software emulation) asks the server who it is and gets its profile, or the discovery
// profile when nobody registered it; the cloud-init user-data of a machine carries an install
// command whose token enrolls exactly that machine, once, under its name and labels.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, waitFor } from './harness';
import { TestHost } from './netns';

const DIST = fileURLToPath(new URL('../dist', import.meta.url));

interface MachineView {
  id: string;
  name: string;
  mac: string;
  state: string;
  nodeId: string;
  bootProfile: string;
}

/** The PXE port the server printed at start. */
function pxePort(fleet: Fleet): number {
  return Number(/PXE on http:\/\/[^\s]*:(\d+)\/pxe\/boot\.ipxe/.exec(fleet.server.output)![1]);
}

describe('PXE with a real iPXE client', { timeout: 420_000 }, () => {
  const fleet = new Fleet({ serverEnv: { FLEET_PXE_LISTEN: '127.0.0.1:0', FLEET_LOG: 'info' } });
  const kernelRequests: string[] = [];
  let kernels: Server;
  let kernelPort = 0;
  const vms: ChildProcess[] = [];

  /** Network-boots a VM with this NIC MAC and SMBIOS identity; returns its serial console log path. */
  const boot = (mac: string, uuid: string, serial: string, memoryMb = 256) => {
    const log = join(fleet.dir, `vm-${mac.replaceAll(':', '')}.log`);
    writeFileSync(log, '');
    const vm = spawn(
      'qemu-system-x86_64',
      [
        ...['-m', String(memoryMb), '-nographic', '-display', 'none', '-no-reboot', '-serial', `file:${log}`, '-monitor', 'none'],
        ...['-netdev', `user,id=n0,bootfile=http://10.0.2.2:${pxePort(fleet)}/pxe/boot.ipxe`, '-device', `e1000,netdev=n0,mac=${mac}`],
        ...['-smbios', `type=1,uuid=${uuid},serial=${serial}`, '-boot', 'n'],
      ],
      { stdio: 'ignore' },
    );
    vms.push(vm);
    return { log, vm };
  };

  beforeAll(async () => {
    kernels = createServer((req, res) => {
      kernelRequests.push(req.url ?? '');
      res.writeHead(404).end('no kernel here');
    });
    await new Promise<void>((r) => kernels.listen(0, '127.0.0.1', r));
    kernelPort = (kernels.address() as { port: number }).port;
    await fleet.startServer();
    mkdirSync(join(fleet.dir, 'pxe'), { recursive: true });
    const config = join(fleet.dir, 'pxe', 'pxe.yaml');
    writeFileSync(
      config,
      `profiles:
  - name: rescue
    kernel: http://10.0.2.2:${kernelPort}/kernels/rescue-vmlinuz
    initrd: http://10.0.2.2:${kernelPort}/kernels/rescue-initrd
    args: console=ttyS0 hostname={{ machine.name }}
`,
    );
    const set = await fleet.cli(['pxe', 'set', '-f', config]);
    expect(set.code, set.stderr).toBe(0);
  });
  afterAll(async () => {
    for (const vm of vms) vm.kill('SIGKILL');
    kernels?.close();
    await fleet.stop();
  });

  it("boots a registered machine's profile, found by its MAC and SMBIOS UUID", async () => {
    const uuid = '8f0c7a4e-1b2d-4c3e-9f00-0000000000a1';
    const added = await fleet.cli(['machines', 'add', '--mac', '52:54:00:12:34:56', '--uuid', uuid, '--serial', 'SN-PXE-1', '--name', 'metal-1', '--profile', 'rescue', '--label', 'rack=a']);
    expect(added.code, added.stderr).toBe(0);
    const { log } = boot('52:54:00:12:34:56', uuid, 'SN-PXE-1');
    // iPXE fetched boot.ipxe, chained to /pxe/ipxe with its identity, and went for the profile's kernel.
    await waitFor('iPXE to fetch the profile kernel', () => kernelRequests.includes('/kernels/rescue-vmlinuz'), 90_000, 500);
    const request = fleet.server.output.split('\n').find((l) => l.includes('pxe boot request') && l.includes('52:54:00:12:34:56'));
    expect(request, fleet.server.output.slice(-2000)).toBeDefined();
    expect(JSON.parse(request!)).toMatchObject({ mac: '52:54:00:12:34:56', uuid, serial: 'SN-PXE-1', machine: 'metal-1', answer: 'profile rescue' });
    await waitFor('the boot message on the VM console', () => readFileSync(log, 'utf8').includes('fleet: metal-1 (52:54:00:12:34:56) boots profile rescue (machine)'), 10_000);
    const [machine] = await fleet.json<MachineView[]>(['machines', 'list']);
    expect(machine).toMatchObject({ name: 'metal-1', state: 'registered', bootProfile: 'rescue' });
  });

  it('records an unregistered MAC as pending, boots it into the discovery image, and approving it makes it a node', async () => {
    const { log } = boot('52:54:00:65:43:21', '8f0c7a4e-1b2d-4c3e-9f00-0000000000b2', 'SN-UNKNOWN', 1024);
    const pending = await waitFor(
      'the unknown machine to be pending',
      async () => (await fleet.json<MachineView[]>(['machines', 'list', '--pending'])).find((m) => m.mac === '52:54:00:65:43:21'),
      90_000,
      500,
    );
    expect(pending).toMatchObject({ name: 'pending-525400654321', state: 'pending', bootProfile: 'discovery' });
    const request = await waitFor('the logged boot request', () => fleet.server.output.split('\n').find((l) => l.includes('pxe boot request') && l.includes('52:54:00:65:43:21')));
    expect(JSON.parse(request)).toMatchObject({ uuid: '8f0c7a4e-1b2d-4c3e-9f00-0000000000b2', answer: 'profile discovery' });
    await waitFor('the discovery message on the VM console', () => readFileSync(log, 'utf8').includes('fleet: pending-525400654321 (52:54:00:65:43:21) boots profile discovery'), 15_000);

    // The discovery image comes up, its agent asks to enroll and is told to wait: the machine
    // stays pending, now with what it reported about itself.
    const reported = await waitFor(
      'the discovery agent to report in',
      async () => (await fleet.json<(MachineView & { reported?: { macs: string[] } })[]>(['machines', 'list', '--pending'])).find((m) => m.reported?.macs.includes('52:54:00:65:43:21')),
      180_000,
      1000,
    );
    expect(reported.state).toBe('pending');

    // The console is the serial port (qemu -nographic, like a serial-only or IPMI serial console):
    // after iPXE loads the initrd, the kernel's boot messages and the discovery image's own lines
    // show there, not only on a screen nobody looks at.
    const serialConsole = readFileSync(log, 'utf8');
    const afterInitrd = serialConsole.slice(serialConsole.lastIndexOf('/pxe/discovery/initrd.img'));
    expect(afterInitrd, serialConsole.slice(-3000)).toMatch(/Linux version \d/);
    expect(afterInitrd).toMatch(/fleet-discovery: starting on Linux/);
    expect(afterInitrd).toMatch(/fleet-discovery: starting fleet-agent/);

    expect((await fleet.nodes()).map((n) => n.name)).not.toContain('disc-1');

    const approved = await fleet.cli(['machines', 'approve', 'pending-525400654321', '--name', 'disc-1', '--label', 'stage=discovered']);
    expect(approved.code, approved.stderr).toBe(0);
    await fleet.waitOnline(['disc-1'], 120_000);
    const node = (await fleet.nodes()).find((n) => n.name === 'disc-1')!;
    expect(node.labels).toMatchObject({ stage: 'discovered' });
    const exec = await fleet.cli(['exec', 'disc-1', '--', 'cat', '/proc/cmdline']);
    expect(exec.code, exec.stderr).toBe(0);
    expect(exec.stdout).toContain('fleet.token=fj1_');
    const [machine] = (await fleet.json<MachineView[]>(['machines', 'list'])).filter((m) => m.mac === '52:54:00:65:43:21');
    expect(machine).toMatchObject({ name: 'disc-1', state: 'provisioned' });
  });
});

describe('PXE user-data and machine-bound tokens', () => {
  let host: TestHost;
  let fleet: Fleet;
  let root: string;

  beforeAll(async () => {
    host = TestHost.create({ mac: '52:54:00:aa:00:01' });
    fleet = new Fleet({ host: host.peerIp, serverEnv: { FLEET_PXE_LISTEN: `${host.peerIp}:0` } });
    root = join(fleet.dir, 'metal-root');
    await fleet.startServer();
    const config = join(fleet.dir, 'pxe.yaml');
    writeFileSync(
      config,
      `profiles:
  - name: installer
    kernel: /pxe/files/none
groups:
  - name: racks
    default: true
    profile: installer
    labels: { role: metal }
`,
    );
    expect((await fleet.cli(['pxe', 'set', '-f', config])).code).toBe(0);
  });
  afterAll(async () => {
    host?.destroy();
    await fleet?.stop();
  });

  const userData = async (machine: string) => {
    const [m] = (await fleet.json<MachineView[]>(['machines', 'list'])).filter((x) => x.name === machine);
    const r = await host.run(`curl -fsS http://${host.peerIp}:${pxePort(fleet)}/pxe/cloud-init/${m!.id}/user-data`);
    expect(r.code, r.output).toBe(0);
    return r.output;
  };
  const installCommand = (data: string) => {
    const doc = parse(data) as { runcmd: [string, string, string][] };
    return doc.runcmd[0]![2];
  };
  const tokenOf = (command: string) => /--token (fj1_\S+)/.exec(command)![1]!;
  const enrollFromHost = (token: string, dir: string) => host.run(`${process.execPath} ${join(DIST, 'fleet-agent.js')} enroll --server ${fleet.url} --token ${token} --state-dir ${dir}`);

  it('serves user-data whose install command enrolls exactly that machine, once, under its name and labels', async () => {
    expect((await fleet.cli(['machines', 'add', '--mac', '52:54:00:aa:00:01', '--name', 'metal-1', '--label', 'rack=a'])).code).toBe(0);
    const data = await userData('metal-1');
    expect(data.startsWith('#cloud-config\n')).toBe(true);
    const command = installCommand(data);
    expect(command).toMatch(/^curl -fsSL -k --pinnedpubkey '\S+' https:\/\/\S+\/install\.sh \| sh -s -- --token fj1_\S+$/);

    // The command as served (plus where to install, so the test host's real / stays untouched).
    const run = await host.run(`${command} --root ${root} --init none`);
    expect(run.code, run.output).toBe(0);
    await fleet.waitOnline(['metal-1']);
    const node = (await fleet.nodes()).find((n) => n.name === 'metal-1')!;
    expect(node.labels).toEqual({ rack: 'a', role: 'metal' });
    const [machine] = await fleet.json<MachineView[]>(['machines', 'list']);
    expect(machine).toMatchObject({ name: 'metal-1', state: 'provisioned' });

    // Once provisioned, the machine is told to boot from disk.
    const again = await host.run(`curl -fsS 'http://${host.peerIp}:${pxePort(fleet)}/pxe/ipxe?mac=52-54-00-aa-00-01&uuid=&serial=&buildarch=x86_64'`);
    expect(again.output).toMatch(/^#!ipxe\necho fleet: metal-1 is provisioned; booting from disk\nexit\n$/);

    // The token has done its one job.
    const second = await enrollFromHost(tokenOf(command), join(fleet.dir, 'second'));
    expect(second.code).not.toBe(0);
    expect(second.output).toMatch(/used 1 of 1 times|revoked/);
  });

  it("refuses another machine's token, and a refusal does not use it up", async () => {
    expect((await fleet.cli(['machines', 'add', '--mac', '52:54:00:aa:00:02', '--name', 'metal-2'])).code).toBe(0);
    const token = tokenOf(installCommand(await userData('metal-2')));
    const wrong = await enrollFromHost(token, join(fleet.dir, 'wrong'));
    expect(wrong.code).not.toBe(0);
    expect(wrong.output).toMatch(/bound to machine metal-2 \(52:54:00:aa:00:02\); this machine .* is another one/);
    const audit = await fleet.cli(['audit', '--limit', '20']);
    expect(audit.stdout).toMatch(/node\.enroll.*bound to machine metal-2/);
    expect(existsSync(join(fleet.dir, 'wrong', 'node.json'))).toBe(false);
    const [metal2] = (await fleet.json<MachineView[]>(['machines', 'list'])).filter((m) => m.name === 'metal-2');
    expect(metal2!.state).toBe('registered');
  });
});

describe('machines learn the identities they boot with', () => {
  let host: TestHost;
  let fleet: Fleet;
  const uuid = (n: number) => `8f0c7a4e-1b2d-4c3e-9f00-0000000000c${n}`;

  beforeAll(async () => {
    host = TestHost.create({ mac: '52:54:00:aa:00:05' });
    fleet = new Fleet({ host: host.peerIp, serverEnv: { FLEET_PXE_LISTEN: `${host.peerIp}:0` } });
    await fleet.startServer();
    const config = join(fleet.dir, 'pxe.yaml');
    writeFileSync(config, 'profiles:\n  - name: installer\n    kernel: /pxe/files/none\ngroups:\n  - name: all\n    default: true\n    profile: installer\n');
    expect((await fleet.cli(['pxe', 'set', '-f', config])).code).toBe(0);
  });
  afterAll(async () => {
    host?.destroy();
    await fleet?.stop();
  });

  const machine = async (name: string) => (await fleet.json<(MachineView & { uuid: string; serial: string; reported: { hostname: string; macs: string[] } | null })[]>(['machines', 'list'])).find((m) => m.name === name)!;
  /** The `fleet machines list` (-o wide) row of a machine, as a user reads it. */
  const row = async (name: string, wide = false) => (await fleet.cli(['machines', 'list', ...(wide ? ['-o', 'wide'] : [])])).stdout.split('\n').find((l) => l.startsWith(`${name} `)) ?? '';
  /**
   * Enrolls a real agent on the test host with `token`, as a machine whose firmware says `dmi`.
   * This VM has no SMBIOS tables (no /sys/class/dmi): in the mount namespace `ip netns exec` gives
   * the agent alone, a tmpfs over /sys/class holds dmi/id/product_uuid and product_serial, as the
   * kernel shows them (the agent reads nothing else under /sys/class).
   */
  const enrollAgent = async (token: string, dmi: { uuid: string; serial: string }) => {
    const dir = mkdtempSync(join(fleet.dir, 'agent-'));
    const firmware = `mount -t tmpfs fake-dmi /sys/class && mkdir -p /sys/class/dmi/id && printf '%s\\n' ${dmi.uuid.toUpperCase()} > /sys/class/dmi/id/product_uuid && printf '%s\\n' ${dmi.serial} > /sys/class/dmi/id/product_serial`;
    const r = await host.run(`${firmware} && exec ${process.execPath} ${join(DIST, 'fleet-agent.js')} enroll --server ${fleet.url} --token ${token} --state-dir ${join(dir, 'state')}`);
    expect(r.code, r.output).toBe(0);
  };
  const userDataToken = async (name: string) => {
    const r = await host.run(`curl -fsS http://${host.peerIp}:${pxePort(fleet)}/pxe/cloud-init/${(await machine(name)).id}/user-data`);
    expect(r.code, r.output).toBe(0);
    return /--token (fj1_[^\s"]+)/.exec(r.output)![1]!;
  };

  it("registered by UUID: learns the MAC and serial iPXE reports, and keeps its agent's report once provisioned", async () => {
    expect((await fleet.cli(['machines', 'add', '--uuid', uuid(1), '--name', 'by-uuid'])).code).toBe(0);
    // The request boot.ipxe chains to, as iPXE fills it in.
    const boot = await host.run(`curl -fsS 'http://${host.peerIp}:${pxePort(fleet)}/pxe/ipxe?mac=52-54-00-aa-00-05&uuid=${uuid(1)}&serial=SN-LEARN-1&buildarch=x86_64'`);
    expect(boot.output).toMatch(/^echo fleet: by-uuid \(.*\) boots profile installer/m);
    expect(await machine('by-uuid')).toMatchObject({ mac: '52:54:00:aa:00:05', uuid: uuid(1), serial: 'SN-LEARN-1', state: 'registered' });
    expect(await row('by-uuid')).toMatch(/^by-uuid +registered +52:54:00:aa:00:05 /);

    await enrollAgent(/fleet\.token=(fj1_\S+)/.exec(boot.output)![1]!, { uuid: uuid(1), serial: 'SN-LEARN-1' });
    expect(await machine('by-uuid')).toMatchObject({ state: 'provisioned', mac: '52:54:00:aa:00:05', reported: { hostname: hostname(), macs: ['52:54:00:aa:00:05'] } });
    // REPORTED, the last column, keeps what the agent said once the machine is provisioned.
    expect(await row('by-uuid', true)).toMatch(new RegExp(` ${hostname()} \\(52:54:00:aa:00:05; serial SN-LEARN-1\\)$`));
  });

  it('learns from its agent at enrollment: by MAC its UUID and serial, by UUID its MAC', async () => {
    host.setMac('52:54:00:aa:00:06');
    expect((await fleet.cli(['machines', 'add', '--mac', '52:54:00:aa:00:06', '--name', 'by-mac'])).code).toBe(0);
    await enrollAgent(await userDataToken('by-mac'), { uuid: uuid(2), serial: 'SN-LEARN-2' });
    expect(await machine('by-mac')).toMatchObject({ state: 'provisioned', mac: '52:54:00:aa:00:06', uuid: uuid(2), serial: 'SN-LEARN-2' });
    expect(await row('by-mac', true)).toMatch(new RegExp(`^by-mac +provisioned +52:54:00:aa:00:06 +${uuid(2)} +SN-LEARN-2 `));

    host.setMac('52:54:00:aa:00:07');
    expect((await fleet.cli(['machines', 'add', '--uuid', uuid(3), '--name', 'by-uuid-2'])).code).toBe(0);
    await enrollAgent(await userDataToken('by-uuid-2'), { uuid: uuid(3), serial: 'SN-LEARN-3' });
    expect(await machine('by-uuid-2')).toMatchObject({ state: 'provisioned', mac: '52:54:00:aa:00:07', uuid: uuid(3), serial: 'SN-LEARN-3' });
    expect(await row('by-uuid-2')).toMatch(/^by-uuid-2 +provisioned +52:54:00:aa:00:07 /);
  });
});
