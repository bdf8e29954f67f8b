// Builds the PXE discovery image: dist/discovery/{vmlinuz,initrd.img,sha256sums.txt}. Unknown
// machines network-boot it; its /init (installer/discovery/init) brings up the network and runs the
// standalone fleet agent from RAM, which enrolls with the join token from the kernel command line.
//
//   npm run build:agent && npm run build:discovery
//   FLEET_DISCOVERY_COMPRESS=gzip npm run build:discovery    # gzip instead of zstd
//
// Parts: Debian's kernel (linux-image-amd64's current dependency, downloaded with `apt-get download`
// into .cache/discovery/ and unpacked with dpkg-deb) with its NIC drivers; the static busybox of
// Debian's busybox-static; dist/fleet-agent-linux-x64 with the shared libraries it loads. The
// initramfs is a cpio (newc) written here, compressed with zstd when the kernel can unpack it
// (CONFIG_RD_ZSTD) and the zstd tool exists, gzip otherwise. A rebuild whose archive would be
// byte-identical to the last one skips the (slow) compression.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const root = resolve(import.meta.dirname, '..');
const cache = join(root, '.cache/discovery');
const out = join(root, 'dist/discovery');
const agentBinary = join(root, 'dist/fleet-agent-linux-x64');
const sources = join(root, 'installer/discovery');

/**
 * NIC drivers loaded at boot, their dependencies come along. qemu (e1000, e1000e, virtio), VMware,
 * Hyper-V and the usual server and desktop chips. Drivers that need firmware files to work at all
 * (bnx2, most wireless) are left out: the image carries no firmware.
 */
const NIC_MODULES = ['virtio_pci', 'virtio_net', 'e1000', 'e1000e', 'igb', 'igc', 'ixgbe', 'i40e', 'ice', 'r8169', 'tg3', 'bnxt_en', 'vmxnet3', 'hv_netvsc'];

class BuildError extends Error {
  name = 'BuildError';
}

const say = (line) => process.stdout.write(`${line}\n`);
const mib = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;
const sha256 = (data) => createHash('sha256').update(data).digest('hex');
const has = (cmd) => spawnSync('sh', ['-c', `PATH="$PATH:/usr/sbin:/sbin" command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/** Runs a command, capturing its output; returns { ok, stdout, stderr }. */
function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (r.error) return { ok: false, stdout: '', stderr: r.error.message };
  return { ok: r.status === 0, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

let listsUpdated = false;
/** `apt-get update`, at most once per build, when a look-up or download failed for want of lists. */
function aptUpdate(why) {
  if (listsUpdated) return false;
  listsUpdated = true;
  say(`${why}: running apt-get update`);
  const r = run('apt-get', ['update', '-q']);
  if (!r.ok) say(`apt-get update failed:\n${r.stderr.trim()}`);
  return r.ok;
}

// ---------------------------------------------------------------------------------------------
// Inputs

function checkHost() {
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new BuildError(`the discovery image is built on linux x64, not ${process.platform}-${process.arch}`);
  const missing = ['apt-get', 'apt-cache', 'dpkg-deb', 'dpkg-query', 'ldd'].filter((c) => !has(c));
  if (missing.length) throw new BuildError(`missing tools: ${missing.join(', ')} (the discovery image is built on Debian or Ubuntu)`);
  if (!existsSync(agentBinary)) throw new BuildError(`${relative(root, agentBinary)} is missing: run \`npm run build:agent\` first`);
}

/** True when the ELF file has no program interpreter (a static executable). */
function isStaticElf(file) {
  const b = readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false;
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === 3 /* PT_INTERP */) return false;
  return true;
}

/** The static busybox from Debian's busybox-static, installed with apt-get when missing. */
function busybox() {
  const installed = () => run('dpkg-query', ['-W', '-f=${Status}', 'busybox-static']).stdout === 'install ok installed';
  if (!installed()) {
    const why = 'busybox-static (Debian package) is not installed: it provides the static /bin/busybox the image runs';
    if (process.getuid?.() !== 0) throw new BuildError(`${why}; install it with: sudo apt-get install -y busybox-static`);
    say(`${why}; installing it with apt-get (it replaces the dynamically linked busybox package)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let r = run('apt-get', ['install', '-y', '-q', 'busybox-static'], { env });
    if (!r.ok && aptUpdate('apt-get install busybox-static failed')) r = run('apt-get', ['install', '-y', '-q', 'busybox-static'], { env });
    if (!r.ok || !installed()) throw new BuildError(`could not install busybox-static:\n${r.stderr.trim()}`);
  }
  const file = run('dpkg-query', ['-L', 'busybox-static']).stdout.split('\n').find((f) => /\/bin\/busybox$/.test(f));
  if (!file || !existsSync(file)) throw new BuildError('busybox-static is installed but its bin/busybox is missing: reinstall it with apt-get install --reinstall busybox-static');
  if (!isStaticElf(file)) throw new BuildError(`${file} is not statically linked`);
  return file;
}

/** The kernel package linux-image-amd64 depends on now: { pkg, version }, or null when apt cannot tell. */
function kernelPackage() {
  for (let attempt = 0; attempt < 2; attempt++) {
    const r = run('apt-cache', ['show', '--no-all-versions', 'linux-image-amd64']);
    const depends = /^Depends:.*?\b(linux-image-[^\s,]+-amd64) \(= ([^)]+)\)/m.exec(r.stdout);
    if (depends) return { pkg: depends[1], version: depends[2] };
    if (!aptUpdate('apt-cache knows no linux-image-amd64')) break;
  }
  return null;
}

/** Unpacks (once) the kernel package into the cache; returns { dir, kver, pkg, version }. */
function kernel() {
  mkdirSync(cache, { recursive: true });
  let wanted = kernelPackage();
  const debName = (p) => `${p.pkg}_${p.version.replace(/:/g, '%3a')}_amd64.deb`;
  if (!wanted) {
    // Offline and without lists: fall back on the newest kernel already in the cache.
    const cached = readdirSync(cache).filter((f) => /^linux-image-.*_amd64\.deb$/.test(f)).sort();
    if (cached.length === 0) throw new BuildError('cannot resolve linux-image-amd64 with apt-cache (even after apt-get update) and no kernel is cached in .cache/discovery');
    const [pkg, version] = cached.at(-1).split('_');
    wanted = { pkg, version: version.replace(/%3a/g, ':') };
    say(`apt cannot resolve linux-image-amd64; using the cached ${wanted.pkg} ${wanted.version}`);
  }
  const deb = join(cache, debName(wanted));
  if (!existsSync(deb)) {
    say(`downloading ${wanted.pkg} ${wanted.version}`);
    const download = () => {
      const tmp = join(cache, 'download');
      rmSync(tmp, { recursive: true, force: true });
      mkdirSync(tmp);
      // Root's downloads would otherwise run as _apt, who may not write into the cache.
      const r = run('apt-get', ['download', ...(process.getuid?.() === 0 ? ['-o', 'APT::Sandbox::User=root'] : []), `${wanted.pkg}=${wanted.version}`], { cwd: tmp });
      const got = r.ok && readdirSync(tmp).find((f) => f.endsWith('.deb'));
      if (got) renameSync(join(tmp, got), deb);
      rmSync(tmp, { recursive: true, force: true });
      return r;
    };
    let r = download();
    if (!existsSync(deb) && aptUpdate(`apt-get download ${wanted.pkg} failed`)) r = download();
    if (!existsSync(deb)) throw new BuildError(`could not download ${wanted.pkg}=${wanted.version}:\n${r.stderr.trim()}`);
  }
  const dir = join(cache, `${wanted.pkg}_${wanted.version}`);
  if (!existsSync(join(dir, '.unpacked'))) {
    say(`unpacking ${debName(wanted)}`);
    rmSync(dir, { recursive: true, force: true });
    const r = run('dpkg-deb', ['-x', deb, dir]);
    if (!r.ok) throw new BuildError(`dpkg-deb -x ${deb} failed:\n${r.stderr.trim()}`);
    writeFileSync(join(dir, '.unpacked'), '');
  }
  // Kernels linux-image-amd64 no longer points at are not needed again.
  for (const f of readdirSync(cache)) {
    if (/^linux-image-/.test(f) && f !== debName(wanted) && f !== `${wanted.pkg}_${wanted.version}`) rmSync(join(cache, f), { recursive: true, force: true });
  }
  const modulesRoot = ['lib/modules', 'usr/lib/modules'].map((d) => join(dir, d)).find((d) => existsSync(d));
  const kver = modulesRoot && readdirSync(modulesRoot)[0];
  if (!kver || !existsSync(join(dir, 'boot', `vmlinuz-${kver}`))) throw new BuildError(`${deb} has no boot/vmlinuz-* with its lib/modules/*`);
  return { ...wanted, dir, kver, modules: join(modulesRoot, kver), vmlinuz: join(dir, 'boot', `vmlinuz-${kver}`), config: readFileSync(join(dir, 'boot', `config-${kver}`), 'utf8') };
}

// ---------------------------------------------------------------------------------------------
// Kernel modules

/** A module's bytes, decompressed when the kernel ships .ko.xz / .ko.zst / .ko.gz. */
function readModule(file) {
  if (file.endsWith('.ko')) return readFileSync(file);
  const tool = { '.xz': 'xz', '.zst': 'zstd', '.gz': 'gzip' }[file.slice(file.lastIndexOf('.'))];
  if (!has(tool)) throw new BuildError(`${file} is compressed and ${tool} is not installed to decompress it`);
  return execFileSync(tool, ['-dc', file], { maxBuffer: 256 << 20 });
}

/** The `depends=` list from a module's .modinfo ELF section (what modules.dep is made from). */
function moduleDepends(elf) {
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const section = (i) => {
    const at = shoff + i * shentsize;
    return { name: elf.readUInt32LE(at), offset: Number(elf.readBigUInt64LE(at + 0x18)), size: Number(elf.readBigUInt64LE(at + 0x20)) };
  };
  const names = section(elf.readUInt16LE(0x3e));
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const nameAt = names.offset + s.name;
    if (elf.toString('latin1', nameAt, elf.indexOf(0, nameAt)) !== '.modinfo') continue;
    const entry = elf.toString('latin1', s.offset, s.offset + s.size).split('\0').find((e) => e.startsWith('depends='));
    return entry ? entry.slice('depends='.length).split(',').filter(Boolean) : [];
  }
  return [];
}

/** NIC modules and their dependencies in load order: [{ path (relative to lib/modules/KVER), data }]. */
function nicModules(k) {
  const norm = (name) => name.replace(/-/g, '_');
  const index = new Map();
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (/\.ko(\.xz|\.zst|\.gz)?$/.test(e.name)) index.set(norm(e.name.replace(/\.ko(\.xz|\.zst|\.gz)?$/, '')), join(dir, e.name));
    }
  };
  walk(join(k.modules, 'kernel'));
  const builtin = new Set(
    (existsSync(join(k.modules, 'modules.builtin')) ? readFileSync(join(k.modules, 'modules.builtin'), 'utf8') : '')
      .split('\n')
      .map((l) => norm(l.replace(/^.*\//, '').replace(/\.ko.*$/, ''))),
  );
  const ordered = [];
  const seen = new Set();
  const add = (name, wantedBy) => {
    name = norm(name);
    if (seen.has(name)) return;
    seen.add(name);
    const file = index.get(name);
    if (!file) {
      if (!builtin.has(name)) say(`  note: module ${name}${wantedBy ? ` (needed by ${wantedBy})` : ''} is not in kernel ${k.kver}`);
      return;
    }
    const data = readModule(file);
    for (const dep of moduleDepends(data)) add(dep, name);
    ordered.push({ path: relative(k.modules, file).replace(/\.(xz|zst|gz)$/, ''), data });
  };
  for (const m of NIC_MODULES) add(m);
  return ordered;
}

// ---------------------------------------------------------------------------------------------
// The agent and its libraries

/** Shared libraries (and the dynamic loader) an ELF file needs, per ldd: [{ path, real }]. */
function sharedLibraries(file) {
  const r = run('ldd', [file]);
  if (!r.ok) throw new BuildError(`ldd ${file} failed: ${r.stderr.trim() || r.stdout.trim()}`);
  const libs = [];
  for (const line of r.stdout.split('\n')) {
    if (/not found/.test(line)) throw new BuildError(`${file} needs a library this machine lacks: ${line.trim()}`);
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)/.exec(line);
    if (m) libs.push(m[1]);
  }
  return libs;
}

// ---------------------------------------------------------------------------------------------
// The initramfs: a cpio archive in the "newc" format the kernel unpacks.

class Cpio {
  #chunks = [];
  #ino = 1;
  #paths = new Set();

  #entry(path, mode, data = Buffer.alloc(0), rdev = [0, 0]) {
    path = path.replace(/^\/+/, '');
    if (this.#paths.has(path)) return;
    const parent = dirname(path);
    if (parent !== '.' && !this.#paths.has(parent)) this.dir(parent);
    this.#paths.add(path);
    const name = Buffer.from(`${path}\0`);
    const fields = [this.#ino++, mode, 0, 0, (mode & 0o170000) === 0o040000 ? 2 : 1, 0, data.length, 0, 0, rdev[0], rdev[1], name.length, 0];
    const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`);
    this.#chunks.push(header, name, Buffer.alloc((4 - ((header.length + name.length) % 4)) % 4), data, Buffer.alloc((4 - (data.length % 4)) % 4));
  }

  dir(path, perm = 0o755) {
    this.#entry(path, 0o040000 | perm);
  }

  file(path, data, perm = 0o644) {
    this.#entry(path, 0o100000 | perm, data);
  }

  symlink(path, target) {
    this.#entry(path, 0o120000 | 0o777, Buffer.from(target));
  }

  charDevice(path, major, minor, perm = 0o600) {
    this.#entry(path, 0o020000 | perm, undefined, [major, minor]);
  }

  has(path) {
    return this.#paths.has(path.replace(/^\/+/, ''));
  }

  finish() {
    this.#entry('TRAILER!!!', 0);
    return Buffer.concat(this.#chunks);
  }
}

function initramfs({ k, busyboxFile, modules, version }) {
  const cpio = new Cpio();
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'lib', 'lib64', 'etc', 'proc', 'sys', 'dev', 'run', 'root', 'var', 'mnt']) cpio.dir(d, d === 'root' ? 0o700 : 0o755);
  cpio.dir('tmp', 0o1777);
  cpio.symlink('var/run', '../run');
  cpio.symlink('var/tmp', '../tmp');
  // The kernel opens /dev/console for init before /init can mount devtmpfs.
  cpio.charDevice('dev/console', 5, 1);
  cpio.charDevice('dev/null', 1, 3, 0o666);

  cpio.file('bin/busybox', readFileSync(busyboxFile), 0o755);
  const applets = execFileSync(busyboxFile, ['--list-full']).toString().split('\n').filter(Boolean);
  for (const applet of applets) {
    if (applet === 'bin/busybox' || applet === 'init' || applet === 'linuxrc') continue;
    cpio.symlink(applet, '/bin/busybox');
  }
  for (const needed of ['bin/sh', 'sbin/udhcpc', 'sbin/insmod', 'usr/bin/setsid', 'bin/mount', 'sbin/ip', 'bin/hostname', 'usr/bin/awk']) {
    const alias = [needed, `usr/${needed}`, needed.replace(/^usr\//, '')];
    if (!alias.some((p) => cpio.has(p))) throw new BuildError(`${busyboxFile} has no ${needed.split('/').pop()} applet, which /init needs`);
  }

  cpio.file('init', readFileSync(join(sources, 'init')), 0o755);
  cpio.file('etc/udhcpc/default.script', readFileSync(join(sources, 'udhcpc-script')), 0o755);
  cpio.file('etc/passwd', Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n'));
  cpio.file('etc/group', Buffer.from('root:x:0:\ntty:x:5:\nnogroup:x:65534:\n'));
  cpio.file('etc/shadow', Buffer.from('root:*:0:0:99999:7:::\n'), 0o600);
  cpio.file('etc/nsswitch.conf', Buffer.from('passwd: files\ngroup: files\nhosts: files dns\n'));
  cpio.file('etc/hosts', Buffer.from('127.0.0.1\tlocalhost\n'));
  cpio.file('etc/os-release', Buffer.from(`NAME="fleet discovery"\nID=fleet-discovery\nID_LIKE=debian\nVERSION_ID="${version}"\nPRETTY_NAME="fleet discovery ${version} (Linux ${k.kver})"\n`));
  cpio.file('etc/profile', Buffer.from('export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root\nPS1="$(hostname) # "\n'));

  for (const m of modules) cpio.file(join('lib/modules', k.kver, m.path), m.data);
  cpio.file('lib/modules/fleet-discovery.modules', Buffer.from(modules.map((m) => `${m.path}\n`).join('')));

  cpio.file('usr/bin/fleet-agent', readFileSync(agentBinary), 0o755);
  // node-pty's add-on is embedded in the agent and loaded from a temp file: it needs its libraries too.
  const ptyNode = join(root, 'node_modules/node-pty/build/Release/pty.node');
  const libs = new Set([...sharedLibraries(agentBinary), ...(existsSync(ptyNode) ? sharedLibraries(ptyNode) : [])]);
  for (const lib of [...libs].sort()) cpio.file(lib, readFileSync(lib), 0o755);
  return { archive: cpio.finish(), libs: [...libs], applets: applets.length };
}

// ---------------------------------------------------------------------------------------------

/** "6.1.0-56-amd64 (debian-kernel@…) #1 SMP …" from a bzImage's setup header. */
function bzImageVersion(file) {
  const b = readFileSync(file);
  if (b.toString('latin1', 0x202, 0x206) !== 'HdrS') return '';
  const at = b.readUInt16LE(0x20e) + 0x200;
  return b.toString('latin1', at, b.indexOf(0, at));
}

function compression(k) {
  const asked = process.env.FLEET_DISCOVERY_COMPRESS;
  if (asked && asked !== 'gzip' && asked !== 'zstd') throw new BuildError(`FLEET_DISCOVERY_COMPRESS must be gzip or zstd, not ${asked}`);
  const kernelZstd = /^CONFIG_RD_ZSTD=y$/m.test(k.config);
  const kernelGzip = /^CONFIG_RD_GZIP=y$/m.test(k.config);
  if (asked === 'zstd' && !kernelZstd) throw new BuildError(`kernel ${k.kver} cannot unpack a zstd initramfs (CONFIG_RD_ZSTD is not set)`);
  if (asked === 'zstd' && !has('zstd')) throw new BuildError('FLEET_DISCOVERY_COMPRESS=zstd but the zstd tool is not installed (apt-get install zstd)');
  if (asked !== 'gzip' && kernelZstd && has('zstd')) return 'zstd';
  if (!kernelGzip) throw new BuildError(`kernel ${k.kver} has CONFIG_RD_GZIP unset and zstd is ${kernelZstd ? 'not installed' : 'not supported either'}`);
  return 'gzip';
}

function compress(kind, archive, dest) {
  const tmp = `${dest}.tmp`;
  if (kind === 'gzip') writeFileSync(tmp, gzipSync(archive, { level: 9 }));
  else {
    // The kernel's unzstd wants a plain single frame: no --long windows.
    execFileSync('zstd', ['-q', '-f', '-19', '-T0', '--check', '-o', tmp], { input: archive, maxBuffer: 16 << 20 });
  }
  renameSync(tmp, dest);
}

function main() {
  const started = Date.now();
  checkHost();
  const busyboxFile = busybox();
  const k = kernel();
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
  say(`kernel ${k.pkg} ${k.version} (${k.kver}), busybox ${busyboxFile}, agent ${relative(root, agentBinary)}`);

  const modules = nicModules(k);
  say(`NIC modules: ${modules.map((m) => m.path.replace(/^.*\//, '').replace(/\.ko$/, '')).join(' ')}`);
  const { archive, libs, applets } = initramfs({ k, busyboxFile, modules, version });
  say(`libraries: ${libs.join(' ')}; ${applets} busybox applets`);

  const kind = compression(k);
  mkdirSync(out, { recursive: true });
  const vmlinuz = join(out, 'vmlinuz');
  const initrd = join(out, 'initrd.img');
  const stampFile = join(cache, 'initrd.stamp');
  const stamp = `${kind} ${sha256(archive)}\n`;
  if (existsSync(initrd) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
    say(`initrd.img is up to date (same ${mib(archive.length)} archive)`);
  } else {
    say(`compressing the ${mib(archive.length)} initramfs with ${kind}`);
    rmSync(stampFile, { force: true });
    compress(kind, archive, initrd);
    writeFileSync(stampFile, stamp);
  }
  copyFileSync(k.vmlinuz, `${vmlinuz}.tmp`);
  renameSync(`${vmlinuz}.tmp`, vmlinuz);
  chmodSync(vmlinuz, 0o644);

  const files = [vmlinuz, initrd];
  writeFileSync(join(out, 'sha256sums.txt'), files.map((f) => `${sha256(readFileSync(f))}  ${f.slice(out.length + 1)}\n`).join(''));
  say(`kernel: ${bzImageVersion(vmlinuz)}`);
  for (const f of files) say(`${relative(root, f)}  ${mib(statSync(f).size)}`);
  say(`discovery image → ${relative(root, out)}/ in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

try {
  main();
} catch (err) {
  if (!(err instanceof BuildError)) throw err;
  process.stderr.write(`build-discovery: ${err.message}\n`);
  process.exit(1);
}
