import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Inventory, collectFacts, collectIdentity, factsFingerprint, lookupFqdn, parseCpuModel, parseMeminfo, parseOsRelease, readDisks } from './inventory';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fake machine root: path → file content. */
function fakeRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'fleet-inventory-'));
  dirs.push(root);
  for (const [path, content] of Object.entries(files)) write(root, path, content);
  return root;
}
function write(root: string, path: string, content: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), content);
}

describe('inventory', () => {
  it('reads this machine: OS, kernel, fqdn, CPU, memory, interfaces and uptime', async () => {
    const facts = await collectFacts();
    expect(facts.os?.platform).toBe(process.platform);
    expect(facts.os?.kernel).toMatch(/\d+\.\d+/);
    expect(facts.os?.distro).not.toBe('unknown');
    expect(facts.os?.fqdn.length).toBeGreaterThan(0);
    expect(facts.cpu?.cores).toBeGreaterThan(0);
    expect(facts.cpu?.physicalCores).toBeGreaterThan(0);
    expect(facts.memory?.totalBytes).toBeGreaterThan(0);
    expect(facts.interfaces.some((i) => i.ipv4.includes('127.0.0.1'))).toBe(true);
    expect(facts.uptimeSeconds).toBeGreaterThan(0);
  });

  it('fingerprints facts the same way when only uptime moved', async () => {
    const a = await new Inventory({ lookupFqdn: null }).collect();
    const b = { ...a, uptimeSeconds: a.uptimeSeconds + 60, collectedUnixMs: a.collectedUnixMs + 60_000 };
    expect(factsFingerprint(b)).toBe(factsFingerprint(a));
    expect(factsFingerprint({ ...a, memory: { totalBytes: 1, swapTotalBytes: 0 } })).not.toBe(factsFingerprint(a));
  });

  it('reports the hostname and MAC addresses as identity', async () => {
    const id = await collectIdentity();
    expect(id.hostname.length).toBeGreaterThan(0);
    for (const mac of id.macs) expect(mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  });

  it('reads the DMI UUID and serial, leaving firmware placeholders out', async () => {
    const root = fakeRoot({ 'sys/class/dmi/id/product_uuid': '4C4C4544-0042-3510-8052-B4C04F564432\n', 'sys/class/dmi/id/product_serial': 'To Be Filled By O.E.M.\n' });
    const id = await collectIdentity(root);
    expect(id.dmiUuid).toBe('4c4c4544-0042-3510-8052-b4c04f564432');
    expect(id.serial).toBe('');
  });
});

describe('parsing what /proc and /etc say', () => {
  it('names the distribution, release and codename from os-release files', () => {
    const debian = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n';
    expect(parseOsRelease([debian])).toEqual({ distro: 'Debian GNU/Linux', release: '12', codename: 'bookworm' });
    const lsb = 'DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\nDISTRIB_CODENAME=jammy\nDISTRIB_DESCRIPTION="Ubuntu 22.04.3 LTS"\n';
    const ubuntu = 'PRETTY_NAME="Ubuntu 22.04.3 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nVERSION="22.04.3 LTS (Jammy Jellyfish)"\nVERSION_CODENAME=jammy\n';
    expect(parseOsRelease([lsb, ubuntu])).toEqual({ distro: 'Ubuntu', release: '22.04.3 LTS', codename: 'jammy' });
    const alpine = 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n';
    expect(parseOsRelease([alpine])).toEqual({ distro: 'Alpine Linux', release: 'v3.19', codename: '' });
    expect(parseOsRelease([''])).toEqual({ distro: 'unknown', release: 'unknown', codename: '' });
  });

  it('splits a CPU model name into manufacturer, brand and rated speed', () => {
    expect(parseCpuModel('Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz')).toEqual({ manufacturer: 'Intel', brand: 'Xeon® E5-2680 v4', speedGhz: 2.4 });
    expect(parseCpuModel('Intel(R) Core(TM) i7-8650U CPU @ 1.90GHz')).toEqual({ manufacturer: 'Intel', brand: 'Core™ i7-8650U', speedGhz: 1.9 });
    expect(parseCpuModel('AMD EPYC 7B13 64-Core Processor')).toEqual({ manufacturer: 'AMD', brand: 'EPYC 7B13 64-Core Processor', speedGhz: 0 });
  });

  it('reads memory and swap totals from /proc/meminfo', () => {
    expect(parseMeminfo('MemTotal:       24683748 kB\nMemFree:  1 kB\nSwapTotal:       1048572 kB\n')).toEqual({ totalBytes: 24683748 * 1024, swapTotalBytes: 1048572 * 1024 });
    expect(parseMeminfo('')).toEqual({ totalBytes: 0, swapTotalBytes: 0 });
  });

  it('lists whole hardware disks from /sys/block, not loop, zram, CD drives or empty slots', async () => {
    const disk = (name: string, sectors: number, rotational: string, extra: Record<string, string> = {}) => ({
      [`sys/block/${name}/size`]: `${sectors}\n`,
      [`sys/block/${name}/queue/rotational`]: `${rotational}\n`,
      ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [`sys/block/${name}/${k}`, v])),
    });
    const root = fakeRoot({
      ...disk('sda', 1000, '0', { 'device/model': 'Samsung SSD 860 \n', 'device/type': '0\n' }),
      ...disk('sdb', 2000, '1', { 'device/model': 'WDC WD40EFRX\n' }),
      ...disk('sdc', 0, '1', { 'device/model': 'Card Reader\n' }),
      ...disk('sr0', 100, '1', { 'device/model': 'DVD-ROM\n', 'device/type': '5\n' }),
      ...disk('nvme0n1', 4000, '0', { 'device/model': 'Samsung 980\n' }),
      ...disk('vda', 8000, '1', { 'device/vendor': '0x1af4\n' }),
      ...disk('loop0', 500, '1'),
      ...disk('zram0', 500, '0'),
    });
    expect(await readDisks(root)).toEqual([
      { device: '/dev/nvme0n1', type: 'NVMe', name: 'Samsung 980', sizeBytes: 4000 * 512 },
      { device: '/dev/sda', type: 'SSD', name: 'Samsung SSD 860', sizeBytes: 1000 * 512 },
      { device: '/dev/sdb', type: 'HD', name: 'WDC WD40EFRX', sizeBytes: 2000 * 512 },
      { device: '/dev/vda', type: 'HD', name: '', sizeBytes: 8000 * 512 },
    ]);
  });
});

describe('Inventory: cheap facts every collection, slow ones hourly', () => {
  const machine = (model: string) => ({
    'proc/cpuinfo': `processor\t: 0\nmodel name\t: ${model}\n\nprocessor\t: 1\nmodel name\t: ${model}\n`,
    'sys/devices/system/cpu/cpu0/topology/core_cpus_list': '0-1\n',
    'sys/devices/system/cpu/cpu1/topology/core_cpus_list': '0-1\n',
    'proc/meminfo': 'MemTotal: 1000 kB\nSwapTotal: 0 kB\n',
    'etc/os-release': 'NAME="Debian GNU/Linux"\nVERSION="12 (bookworm)"\n',
  });

  it('reads memory each time, but the CPU and the fqdn once an hour (or at once for a new hostname)', async () => {
    const root = fakeRoot(machine('Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz'));
    let now = 0;
    let host = 'web-1';
    const lookups: string[] = [];
    const inventory = new Inventory({ root, now: () => now, hostname: () => host, lookupFqdn: async () => (lookups.push(host), `${host}.example.com`) });
    const first = await inventory.collect();
    expect(first.cpu).toMatchObject({ manufacturer: 'Intel', brand: 'Xeon® E5-2680 v4', cores: 2, physicalCores: 1, speedGhz: 2.4 });
    expect(first.os).toMatchObject({ distro: 'Debian GNU/Linux', release: '12', codename: 'bookworm', hostname: 'web-1' });

    write(root, 'proc/meminfo', 'MemTotal: 2000 kB\nSwapTotal: 512 kB\n');
    write(root, 'proc/cpuinfo', 'processor\t: 0\nmodel name\t: AMD EPYC 7B13\n');
    for (let minute = 1; minute < 60; minute++) {
      now = minute * 60_000;
      const facts = await inventory.collect();
      expect(facts.memory).toEqual({ totalBytes: 2000 * 1024, swapTotalBytes: 512 * 1024 });
      expect(facts.cpu?.brand).toBe('Xeon® E5-2680 v4');
      expect(facts.os?.fqdn).toBe('web-1.example.com');
    }
    expect(lookups).toEqual(['web-1']);

    now = 3_600_000;
    const hourLater = await inventory.collect();
    expect(hourLater.cpu).toMatchObject({ manufacturer: 'AMD', brand: 'EPYC 7B13', cores: 1 });
    expect(lookups).toEqual(['web-1', 'web-1']);

    host = 'web-2';
    now += 60_000;
    const renamed = await inventory.collect();
    expect(renamed.os?.hostname).toBe('web-2');
    expect(lookups).toEqual(['web-1', 'web-1', 'web-2']);
    expect((await inventory.collect()).os?.fqdn).toBe('web-2.example.com');
  });

  it('does not wait for the fqdn: says so when it arrives, and falls back to the hostname when DNS has none', async () => {
    let answer: (name: string) => void = () => {};
    let fail: (err: Error) => void = () => {};
    let changes = 0;
    const root = fakeRoot(machine('AMD EPYC'));
    const pending = new Inventory({ root, hostname: () => 'db-1', onChange: () => changes++, lookupFqdn: () => new Promise((resolve) => (answer = resolve)) });
    expect((await pending.collect()).os?.fqdn).toBe('');
    answer('db-1.example.com');
    await new Promise((r) => setImmediate(r));
    expect(changes).toBe(1);
    expect((await pending.collect()).os?.fqdn).toBe('db-1.example.com');

    const failing = new Inventory({ root, hostname: () => 'db-2', onChange: () => changes++, lookupFqdn: () => new Promise((_, reject) => (fail = reject)) });
    await failing.collect();
    fail(new Error('Temporary failure in name resolution'));
    await new Promise((r) => setImmediate(r));
    expect((await failing.collect()).os?.fqdn).toBe('db-2');
  });

  it('stop() kills a `hostname -f` that waits on DNS and returns once it has exited', async () => {
    const bin = fakeRoot({});
    const pidFile = join(bin, 'pid');
    write(bin, 'hostname', `#!/bin/sh\necho $$ > ${pidFile}\nexec sleep 60\n`);
    chmodSync(join(bin, 'hostname'), 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    try {
      const inventory = new Inventory({ root: fakeRoot(machine('AMD EPYC')) });
      await inventory.collect();
      let pid = 0;
      for (let i = 0; i < 200 && !pid; i++) {
        await new Promise((r) => setTimeout(r, 25));
        if (existsSync(pidFile)) pid = Number(readFileSync(pidFile, 'utf8').trim());
      }
      expect(pid).toBeGreaterThan(0);
      await inventory.stop();
      expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
    } finally {
      process.env.PATH = path;
    }
  });

  it('looks the fqdn up with `hostname -f`', async () => {
    expect(await lookupFqdn(new AbortController().signal)).toMatch(/\S/);
  });
});
