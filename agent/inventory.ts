// Collects the machine's inventory (facts) and identity with systeminformation and Node's os module.
import { createHash } from 'node:crypto';
import { hostname, networkInterfaces } from 'node:os';
import si from 'systeminformation';
import { Facts, type InterfaceFacts, type MachineIdentity } from '../proto/gen/fleet/v1/common';

const ZERO_MAC = '00:00:00:00:00:00';

function interfaceFacts(virtualNames: Set<string>): InterfaceFacts[] {
  const out: InterfaceFacts[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (!addrs || addrs.length === 0) continue;
    out.push({
      name,
      mac: addrs[0]!.mac,
      ipv4: addrs.filter((a) => a.family === 'IPv4').map((a) => a.address),
      ipv6: addrs.filter((a) => a.family === 'IPv6').map((a) => a.address),
      internal: addrs.every((a) => a.internal),
      virtual: virtualNames.has(name),
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Reads everything the server keeps about this machine. Never throws: missing parts stay empty. */
export async function collectFacts(): Promise<Facts> {
  const [os, cpu, mem, disks, ifaces] = await Promise.all([
    si.osInfo().catch(() => undefined),
    si.cpu().catch(() => undefined),
    si.mem().catch(() => undefined),
    si.diskLayout().catch(() => []),
    si.networkInterfaces().catch(() => []),
  ]);
  const time = si.time();
  const uptime = Math.floor(Number(time.uptime) || 0);
  const list = Array.isArray(ifaces) ? ifaces : [ifaces];
  return Facts.fromPartial({
    os: os && { platform: os.platform, distro: os.distro, release: os.release, codename: os.codename, kernel: os.kernel, arch: os.arch, hostname: os.hostname || hostname() },
    cpu: cpu && { manufacturer: cpu.manufacturer, brand: cpu.brand, cores: cpu.cores, physicalCores: cpu.physicalCores, speedGhz: cpu.speed },
    memory: mem && { totalBytes: mem.total, swapTotalBytes: mem.swaptotal },
    disks: disks.map((d) => ({ device: d.device, type: d.type, name: d.name, sizeBytes: d.size })),
    interfaces: interfaceFacts(new Set(list.filter((i) => i.virtual).map((i) => i.iface))),
    uptimeSeconds: uptime,
    // Rounded to 10 s so the value is stable between collections.
    bootTimeUnixMs: Math.round((Date.now() - uptime * 1000) / 10_000) * 10_000,
    collectedUnixMs: Date.now(),
  });
}

/** A hash of the facts that ignores what changes every time (uptime, collection time). */
export function factsFingerprint(facts: Facts): string {
  const stable = Facts.toJSON({ ...facts, uptimeSeconds: 0, collectedUnixMs: 0 });
  return createHash('sha256').update(JSON.stringify(stable)).digest('hex');
}

/** Hostname, MACs, DMI UUID and serial: what enrollment records to recognise the machine. */
export async function collectIdentity(): Promise<MachineIdentity> {
  const system = await si.system().catch(() => undefined);
  const macs = new Set<string>();
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (!a.internal && a.mac && a.mac !== ZERO_MAC) macs.add(a.mac.toLowerCase());
  }
  const clean = (v: string | undefined) => (v && !/^(-|default string|not specified|none)$/i.test(v.trim()) ? v.trim() : '');
  return { hostname: hostname(), macs: [...macs].sort(), dmiUuid: clean(system?.uuid).toLowerCase(), serial: clean(system?.serial) };
}
