// Reads the machine's inventory (facts) and identity straight from /proc, /sys and /etc, with
// asynchronous reads and no shell, so heartbeats, commands and signals never wait for it. Cheap
// facts are read at every collection; slow ones (the CPU, and the fqdn, which may wait on DNS)
// once an hour, the fqdn in the background. docs/install.md lists what is read when.
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { arch, cpus, hostname, networkInterfaces, platform, release, totalmem, uptime } from 'node:os';
import { join } from 'node:path';
import { describeFailure, runProcess } from '../common/process-runner';
import { Facts, type CpuFacts, type DiskFacts, type InterfaceFacts, type MachineIdentity } from '../proto/gen/fleet/v1/common';

/** How long slow facts (CPU, fqdn) are kept before they are read again. */
export const SLOW_FACTS_MAX_AGE_MS = 3_600_000;
/** `hostname -f` is given this long (DNS that does not answer) before the hostname stands in. */
export const FQDN_TIMEOUT_MS = 30_000;

const ZERO_MAC = '00:00:00:00:00:00';
/** Vendor prefixes of virtual machines' network cards (VMware, Hyper-V, VirtualBox, Xen, Parallels, …). */
const VIRTUAL_MAC_PREFIXES = [
  '00:03:ff', '00:05:69', '00:0c:29', '00:0f:4b', '00:13:07', '00:13:be', '00:15:5d', '00:16:3e', '00:1c:42', '00:21:f6',
  '00:24:0b', '00:50:56', '00:a0:b1', '00:e0:c8', '08:00:27', '0a:00:27', '18:92:2c', '16:df:49', '3c:f3:92', '54:52:00', 'fc:15:97',
];

/** A file's text, or '' when it cannot be read (missing, no permission). */
async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}

async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch {
    return [];
  }
}

/**
 * Distribution, release and codename from os-release style files (KEY=value lines; later files
 * win): DISTRIB_ID or NAME, the release from PRETTY_NAME or VERSION ("12 (bookworm)" → "12" and
 * codename "bookworm"), else DISTRIB_RELEASE or VERSION_ID.
 */
export function parseOsRelease(texts: string[]): { distro: string; release: string; codename: string } {
  const values = new Map<string, string>();
  for (const text of texts) {
    for (const line of text.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) values.set(line.slice(0, eq).trim().toUpperCase(), line.slice(eq + 1).trim().replace(/^["']|["']$/g, ''));
    }
  }
  const get = (key: string) => values.get(key) ?? '';
  const distro = get('DISTRIB_ID') || get('NAME') || 'unknown';
  let version = get('VERSION');
  let codename = get('DISTRIB_CODENAME') || get('VERSION_CODENAME');
  const pretty = get('PRETTY_NAME');
  if (pretty.startsWith(`${distro} `)) version = pretty.slice(distro.length + 1).trim();
  const paren = version.indexOf('(');
  if (paren >= 0) {
    codename = version.slice(paren + 1).replace(/[()]/g, '').trim();
    version = version.slice(0, paren).trim();
  }
  return { distro, release: version || get('DISTRIB_RELEASE') || get('VERSION_ID') || 'unknown', codename };
}

async function readOs(root: string): Promise<{ distro: string; release: string; codename: string }> {
  const etc = join(root, 'etc');
  const files = [
    ...(await listDir(etc)).filter((f) => f.endsWith('-release')).sort().map((f) => join(etc, f)),
    join(root, 'usr/lib/os-release'),
    join(etc, 'openwrt_release'),
  ];
  return parseOsRelease(await Promise.all(files.map(readText)));
}

/** Memory and swap totals in bytes from /proc/meminfo text (0 when a line is missing). */
export function parseMeminfo(text: string): { totalBytes: number; swapTotalBytes: number } {
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { totalBytes: kib('MemTotal'), swapTotalBytes: kib('SwapTotal') };
}

function cpuManufacturer(name: string): string {
  const s = name.toLowerCase();
  const known: [string, string][] = [
    ['intel', 'Intel'], ['amd', 'AMD'], ['qemu', 'QEMU'], ['hygon', 'Hygon'], ['centaur', 'WinChip/Via'], ['vmware', 'VMware'],
    ['xen', 'Xen Hypervisor'], ['tcg', 'QEMU'], ['apple', 'Apple'], ['sifive', 'SiFive'], ['thead', 'T-Head'], ['andestech', 'Andes Technology'],
  ];
  return known.findLast(([needle]) => s.includes(needle))?.[1] ?? name;
}

/**
 * Manufacturer, brand and rated speed from a CPU model name, as lscpu-based tools show them:
 * "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz" → Intel, "Xeon® E5-2680 v4", 2.4.
 */
export function parseCpuModel(model: string): { manufacturer: string; brand: string; speedGhz: number } {
  const [name = '', speed = ''] = model.replace(/To Be Filled By O\.E\.M\./g, '').split('@');
  let brand = name.trim();
  if (brand.includes('Unknown')) brand = brand.split('Unknown')[0]!.trim();
  brand = brand.replace(/\(R\)+/g, '®').replace(/\(TM\)+/g, '™').replace(/\(C\)+/g, '©').replace(/CPU+/g, '').replace(/\s+/g, ' ').trim();
  const manufacturer = cpuManufacturer(brand);
  return { manufacturer, brand: brand.split(' ').slice(1).join(' '), speedGhz: parseFloat(speed.trim()) || 0 };
}

/** CPU model, logical and physical cores (threads sharing a core count once), and speed. */
async function readCpu(root: string): Promise<CpuFacts> {
  const cpuinfo = await readText(join(root, 'proc/cpuinfo'));
  const online = cpus();
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? online[0]?.model ?? '';
  const { manufacturer, brand, speedGhz } = parseCpuModel(model);
  const cores = cpuinfo.match(/^processor\s*:/gm)?.length || online.length;
  const cpuDir = join(root, 'sys/devices/system/cpu');
  const siblings = await Promise.all(
    (await listDir(cpuDir)).filter((d) => /^cpu\d+$/.test(d)).map(async (d) => (await readText(join(cpuDir, d, 'topology/core_cpus_list'))) || readText(join(cpuDir, d, 'topology/thread_siblings_list'))),
  );
  const physicalCores = new Set(siblings.map((s) => s.trim()).filter(Boolean)).size || cores;
  // Without a rated speed in the model name: the current average, as the kernel reports it.
  const speeds = online.map((c) => (c.speed > 100 ? (c.speed + 1) / 1000 : c.speed / 10));
  const average = speeds.length ? Number((speeds.reduce((a, b) => a + b, 0) / speeds.length).toFixed(2)) : 0;
  return { manufacturer, brand, cores, physicalCores, speedGhz: speedGhz || average };
}

/**
 * Whole disks from /sys/block: devices backed by hardware (so not loop, ram, zram, device-mapper
 * or md), not CD/DVD drives, with a size. Type from the queue's rotational flag (NVMe by name).
 */
export async function readDisks(root = '/'): Promise<DiskFacts[]> {
  const block = join(root, 'sys/block');
  const disks: DiskFacts[] = [];
  for (const name of (await listDir(block)).sort()) {
    const dir = join(block, name);
    const [device, sectors, rotational, scsiType] = await Promise.all([
      listDir(join(dir, 'device')),
      readText(join(dir, 'size')),
      readText(join(dir, 'queue/rotational')),
      readText(join(dir, 'device/type')),
    ]);
    const sizeBytes = Number(sectors.trim()) * 512;
    if (device.length === 0 || !sizeBytes || name.startsWith('sr') || scsiType.trim() === '5') continue;
    const model = ((await readText(join(dir, 'device/model'))) || (await readText(join(dir, 'device/name')))).trim();
    const type = name.startsWith('nvme') ? 'NVMe' : rotational.trim() === '0' ? 'SSD' : rotational.trim() === '1' ? 'HD' : /SSD/.test(model) ? 'SSD' : 'HD';
    disks.push({ device: `/dev/${name}`, type, name: model, sizeBytes });
  }
  return disks;
}

function isVirtualNic(name: string, mac: string): boolean {
  return VIRTUAL_MAC_PREFIXES.some((p) => mac.toLowerCase().startsWith(p)) || /^(veth|vboxnet)/i.test(name);
}

/** Interfaces with an address, from the kernel (no process, no file). */
function readInterfaces(): InterfaceFacts[] {
  const out: InterfaceFacts[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (!addrs || addrs.length === 0) continue;
    const internal = addrs.every((a) => a.internal);
    out.push({
      name,
      mac: addrs[0]!.mac,
      ipv4: addrs.filter((a) => a.family === 'IPv4').map((a) => a.address),
      ipv6: addrs.filter((a) => a.family === 'IPv6').map((a) => a.address),
      internal,
      virtual: !internal && isVirtualNic(name, addrs[0]!.mac),
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The machine's fully qualified name from `hostname -f` (one process, no shell). It may wait on
 * DNS: killed after FQDN_TIMEOUT_MS or when `signal` aborts, and the promise settles only once the
 * process has exited, so none is left behind.
 */
export async function lookupFqdn(signal: AbortSignal): Promise<string> {
  if (signal.aborted) throw new Error('aborted');
  const result = await runProcess('hostname', ['-f'], { timeoutMs: FQDN_TIMEOUT_MS, signal });
  if (result.exitCode !== 0) throw new Error(`hostname -f failed (${result.spawnError ?? describeFailure(result, FQDN_TIMEOUT_MS)})`);
  const name = result.stdout.split('\n')[0]!.trim();
  if (!name) throw new Error('hostname -f gave no name');
  return name;
}

export interface InventoryOptions {
  /** Where /proc, /sys and /etc are read from; default '/' (tests point it at a fake tree). */
  root?: string;
  /** Slow facts are read again after this long; default SLOW_FACTS_MAX_AGE_MS. */
  slowFactsMaxAgeMs?: number;
  /** Finds the fqdn (default `hostname -f`); null never looks it up (fqdn stays empty). */
  lookupFqdn?: ((signal: AbortSignal) => Promise<string>) | null;
  /** The machine's hostname; default os.hostname(). */
  hostname?: () => string;
  now?: () => number;
  /** Called when a background lookup brought a new fqdn after collect() had returned without it. */
  onChange?: () => void;
}

/**
 * One machine's inventory, kept between collections so slow facts are read rarely.
 *
 * @example
 * const inventory = new Inventory({ onChange: () => send(await inventory.collect()) });
 * send(await inventory.collect());   // every interval
 * await inventory.stop();            // kills a `hostname -f` still running
 */
export class Inventory {
  readonly #root: string;
  readonly #maxAgeMs: number;
  readonly #lookupFqdn: ((signal: AbortSignal) => Promise<string>) | null;
  readonly #hostname: () => string;
  readonly #now: () => number;
  readonly #onChange: (() => void) | undefined;
  readonly #abort = new AbortController();
  #cpu: CpuFacts | undefined;
  #cpuReadAt = 0;
  /** The fqdn and the hostname it was looked up for, and when the last lookup started. */
  #fqdn = '';
  #fqdnOf = '';
  #fqdnAskedAt = 0;
  #lookup: Promise<void> | null = null;

  constructor(options: InventoryOptions = {}) {
    this.#root = options.root ?? '/';
    this.#maxAgeMs = options.slowFactsMaxAgeMs ?? SLOW_FACTS_MAX_AGE_MS;
    this.#lookupFqdn = options.lookupFqdn === undefined ? lookupFqdn : options.lookupFqdn;
    this.#hostname = options.hostname ?? hostname;
    this.#now = options.now ?? Date.now;
    this.#onChange = options.onChange;
  }

  /** Reads the cheap facts now and the slow ones when due; never throws (missing parts stay empty). */
  async collect(): Promise<Facts> {
    const now = this.#now();
    const host = this.#hostname();
    if (!this.#cpu || now - this.#cpuReadAt >= this.#maxAgeMs) {
      this.#cpu = await readCpu(this.#root);
      this.#cpuReadAt = now;
    }
    // A renamed machine has a new fqdn: look it up at once rather than within the hour.
    if (this.#lookupFqdn && !this.#lookup && !this.#abort.signal.aborted && (host !== this.#fqdnOf || now - this.#fqdnAskedAt >= this.#maxAgeMs)) {
      this.#startLookup(this.#lookupFqdn, host, now);
    }
    const [os, meminfo, disks] = await Promise.all([readOs(this.#root), readText(join(this.#root, 'proc/meminfo')), readDisks(this.#root)]);
    const memory = parseMeminfo(meminfo);
    const up = Math.floor(uptime());
    return Facts.fromPartial({
      os: { platform: platform(), ...os, kernel: release(), arch: arch(), hostname: host, fqdn: this.#fqdnOf === host ? this.#fqdn : '' },
      cpu: this.#cpu,
      memory: { totalBytes: memory.totalBytes || totalmem(), swapTotalBytes: memory.swapTotalBytes },
      disks,
      interfaces: readInterfaces(),
      uptimeSeconds: up,
      // Rounded to 10 s so the value is stable between collections.
      bootTimeUnixMs: Math.round((Date.now() - up * 1000) / 10_000) * 10_000,
      collectedUnixMs: Date.now(),
    });
  }

  #startLookup(lookup: (signal: AbortSignal) => Promise<string>, host: string, now: number): void {
    this.#fqdnAskedAt = now;
    this.#lookup = lookup(this.#abort.signal)
      // No answer (no DNS, no `hostname`): the hostname is the best name there is.
      .catch(() => host)
      .then((fqdn) => {
        if (this.#abort.signal.aborted) return;
        const changed = fqdn !== this.#fqdn || host !== this.#fqdnOf;
        this.#fqdn = fqdn;
        this.#fqdnOf = host;
        if (changed) this.#onChange?.();
      })
      .finally(() => (this.#lookup = null));
  }

  /** Stops a lookup in flight and resolves once its process has exited; no lookup starts after. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#lookup;
  }
}

/** Reads every fact once, waiting for the fqdn lookup (tests, one-off use). */
export async function collectFacts(): Promise<Facts> {
  let found: () => void = () => {};
  const ready = new Promise<void>((resolve) => (found = resolve));
  const inventory = new Inventory({ onChange: () => found() });
  try {
    await inventory.collect();
    await ready;
    return await inventory.collect();
  } finally {
    await inventory.stop();
  }
}

/** A hash of the facts that ignores what changes every time (uptime, collection time). */
export function factsFingerprint(facts: Facts): string {
  const stable = Facts.toJSON({ ...facts, uptimeSeconds: 0, collectedUnixMs: 0 });
  return createHash('sha256').update(JSON.stringify(stable)).digest('hex');
}

/** Hostname, MACs, DMI UUID and serial: what enrollment records to recognise the machine. */
export async function collectIdentity(root = '/'): Promise<MachineIdentity> {
  const dmi = join(root, 'sys/class/dmi/id');
  // Readable by root only; firmware fills unset fields with placeholders.
  const clean = (v: string) => {
    const s = v.trim();
    return /^(-|none|default|not specified)?$/i.test(s) || /default string|o\.e\.m\./i.test(s) ? '' : s;
  };
  const [uuid, serial] = await Promise.all([readText(join(dmi, 'product_uuid')), readText(join(dmi, 'product_serial'))]);
  const macs = new Set<string>();
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (!a.internal && a.mac && a.mac !== ZERO_MAC) macs.add(a.mac.toLowerCase());
  }
  return { hostname: hostname(), macs: [...macs].sort(), dmiUuid: clean(uuid).toLowerCase(), serial: clean(serial) };
}
