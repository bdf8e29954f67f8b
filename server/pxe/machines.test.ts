// Machines on a real (in-memory) SQLite store: the discovery image's kernel arguments, and what a
// machine's record learns from what iPXE and its agent report.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/logger';
import { InvalidRequestError, MachinePendingError } from '../errors';
import { type MachineRecord, openSqliteStores } from '../store';
import { Machines } from './machines';

const image = mkdtempSync(join(tmpdir(), 'fleet-machines-'));
writeFileSync(join(image, 'vmlinuz'), 'kernel');
writeFileSync(join(image, 'initrd.img'), 'initrd');
afterAll(() => rmSync(image, { recursive: true, force: true }));

const ctx = { remoteAddress: '10.0.0.9', host: '10.0.0.1:8080' };
const UUID_A = '8f0c7a4e-1b2d-4c3e-9f00-00000000000a';
const UUID_B = '8f0c7a4e-1b2d-4c3e-9f00-00000000000b';

async function setup() {
  const stores = openSqliteStores(':memory:');
  const store = stores.machines;
  const tokens = stores.tokens;
  const audit = stores.audit;
  const machines = new Machines({
    machines: store,
    tokens,
    audit,
    log: silentLogger(),
    caHash: 'c'.repeat(64),
    grpcPort: () => 7443,
    install: () => ({ port: 8443, pin: 'sha256//pin=' }),
    discoveryDirs: [image],
    pxePort: () => 8080,
  });
  await machines.setConfig('profiles:\n  - name: os\n    kernel: /k\n    args: console=ttyS0\ngroups:\n  - name: all\n    default: true\n    profile: os\n', 'pxe.yaml', 'test');
  const boot = (mac: string, uuid = '', serial = '') => machines.bootScript({ mac, uuid, serial, buildarch: 'x86_64' }, ctx);
  const get = async (name: string) => (await store.find(name))!;
  /** Enrolls `m`'s agent (the policy step) with a token bound to it, reporting `identity`. */
  const enroll = (m: MachineRecord, identity: { hostname?: string; macs?: string[]; dmiUuid?: string; serial?: string }) => {
    const token = { id: 't1', machineId: m.id } as Parameters<Machines['admit']>[0];
    return machines.admit(token, { hostname: 'host', macs: [], dmiUuid: '', serial: '', ...identity }, '10.0.0.9:1234');
  };
  return { machines, store, audit, boot, get, enroll };
}

describe('the discovery image', () => {
  it('has the serial console last, so /dev/console (the init, the agent) is the serial port; the kernel writes to both', async () => {
    const { boot } = await setup();
    const script = await boot('52-54-00-00-00-01');
    expect(script).toMatch(/^kernel http:\/\/10\.0\.0\.1:8080\/pxe\/discovery\/vmlinuz console=tty0 console=ttyS0,115200n8 fleet\.server=https:\/\/10\.0\.0\.1:7443 fleet\.token=fj1_/m);
    expect(script).not.toMatch(/\bquiet\b/);
  });

  it("takes its kernel arguments from the PXE config's discovery.args when given (another serial port, another speed)", async () => {
    const { machines, boot } = await setup();
    await machines.setConfig('discovery:\n  args: console=tty0 console=ttyS1,57600n8 quiet\n', 'pxe.yaml', 'test');
    expect(await boot('52-54-00-00-00-02')).toMatch(/^kernel \S+\/pxe\/discovery\/vmlinuz console=tty0 console=ttyS1,57600n8 quiet fleet\.server=/m);
  });
});

describe('what machines learn from what they report', () => {
  it('a machine registered by UUID learns the MAC and serial it network-boots with', async () => {
    const { machines, boot, get } = await setup();
    await machines.add({ name: 'by-uuid', mac: '', uuid: UUID_A.toUpperCase(), serial: '', profile: '', labels: {} }, 'admin');
    expect(await boot('52-54-00-00-00-0A', UUID_A, 'SN-A')).toMatch(/by-uuid .* boots profile os/);
    expect(await get('by-uuid')).toMatchObject({ mac: '52:54:00:00:00:0a', uuid: UUID_A, serial: 'SN-A' });
    // …and is found by that MAC from now on, as `fleet machines` verbs find it.
    expect((await machines.find('52:54:00:00:00:0a')).name).toBe('by-uuid');
  });

  it('a machine registered by MAC learns its UUID and serial from iPXE', async () => {
    const { machines, boot, get, audit } = await setup();
    await machines.add({ name: 'by-mac', mac: '52:54:00:00:00:0b', uuid: '', serial: '', profile: '', labels: {} }, 'admin');
    await boot('52-54-00-00-00-0b', UUID_B, 'SN-B');
    expect(await get('by-mac')).toMatchObject({ mac: '52:54:00:00:00:0b', uuid: UUID_B, serial: 'SN-B' });
    expect((await audit.list(10, 'machine.learn')).map((e) => [e.target, e.detail])).toEqual([['by-mac', 'uuid 8f0c7a4e-1b2d-4c3e-9f00-00000000000b, serial SN-B (from iPXE)']]);
  });

  it('learns from its agent at enrollment (by MAC: UUID and serial; by UUID: a MAC) and keeps the report', async () => {
    const { machines, get, enroll } = await setup();
    await machines.add({ name: 'by-mac', mac: '52:54:00:00:00:0b', uuid: '', serial: '', profile: '', labels: {} }, 'admin');
    await enroll(await get('by-mac'), { hostname: 'b', macs: ['52:54:00:00:00:0b', '52:54:00:00:00:0c'], dmiUuid: UUID_B, serial: 'SN-B' });
    expect(await get('by-mac')).toMatchObject({ mac: '52:54:00:00:00:0b', uuid: UUID_B, serial: 'SN-B', reported: { hostname: 'b', macs: ['52:54:00:00:00:0b', '52:54:00:00:00:0c'] } });
    await machines.add({ name: 'by-uuid', mac: '', uuid: UUID_A, serial: '', profile: '', labels: {} }, 'admin');
    await enroll(await get('by-uuid'), { hostname: 'a', macs: ['52:54:00:00:00:0b', '52:54:00:00:00:0d'], dmiUuid: UUID_A, serial: 'SN-A' });
    // The first MAC is by-mac's: by-uuid takes the next one.
    expect(await get('by-uuid')).toMatchObject({ mac: '52:54:00:00:00:0d', uuid: UUID_A, serial: 'SN-A' });
  });

  it("never replaces what it knows, and never takes another machine's identity or a placeholder many machines share", async () => {
    const { machines, boot, get } = await setup();
    await machines.add({ name: 'one', mac: '52:54:00:00:00:01', uuid: '', serial: 'SN-1', profile: '', labels: {} }, 'admin');
    await machines.add({ name: 'two', mac: '', uuid: UUID_B, serial: '', profile: '', labels: {} }, 'admin');
    await boot('52-54-00-00-00-01', UUID_B, 'SN-OTHER');
    expect(await get('one')).toMatchObject({ mac: '52:54:00:00:00:01', uuid: null, serial: 'SN-1' });
    await machines.add({ name: 'three', mac: '52:54:00:00:00:03', uuid: '', serial: '', profile: '', labels: {} }, 'admin');
    await boot('52-54-00-00-00-03', '00000000-0000-0000-0000-000000000000', 'To Be Filled By O.E.M.');
    await boot('52-54-00-00-00-03', '03000200-0400-0500-0006-000700080009', 'Default string');
    await boot('52-54-00-00-00-03', 'not-a-uuid', '0000000000');
    expect(await get('three')).toMatchObject({ uuid: null, serial: null });
  });

  it('does not take an unknown machine for another one because both report the same placeholder serial', async () => {
    const { boot, machines } = await setup();
    expect(await boot('52-54-00-00-00-11', '', 'To Be Filled By O.E.M.')).toMatch(/pending-525400000011 .* boots profile discovery/);
    expect(await boot('52-54-00-00-00-12', '', 'To Be Filled By O.E.M.')).toMatch(/pending-525400000012 .* boots profile discovery/);
    expect((await machines.list(true)).map((m) => [m.name, m.serial])).toEqual([
      ['pending-525400000011', null],
      ['pending-525400000012', null],
    ]);
  });

  it('a pending machine keeps its report while it waits', async () => {
    const { boot, get, enroll } = await setup();
    await boot('52-54-00-00-00-21', '', '');
    await expect(enroll(await get('pending-525400000021'), { hostname: 'discovery-525400000021', macs: ['52:54:00:00:00:21'], dmiUuid: UUID_A, serial: 'SN-21' })).rejects.toThrow(MachinePendingError);
    expect(await get('pending-525400000021')).toMatchObject({ uuid: UUID_A, serial: 'SN-21', reported: { hostname: 'discovery-525400000021' } });
  });

  it('refuses to register a machine by a placeholder UUID or serial, which would match any machine that reports it', async () => {
    const { machines } = await setup();
    await expect(machines.add({ name: 'x', mac: '', uuid: '', serial: 'To Be Filled By O.E.M.', profile: '', labels: {} }, 'admin')).rejects.toThrow(InvalidRequestError);
    await expect(machines.add({ name: 'x', mac: '', uuid: 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', serial: '', profile: '', labels: {} }, 'admin')).rejects.toThrow(/placeholder/);
  });
});
