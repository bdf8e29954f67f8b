// A real systemd as PID 1 for tests: a minimal Debian root (built once with mmdebstrap and cached
// under .cache/nspawn/), booted with systemd-nspawn inside a TestHost's network namespace, on an
// overlay so that every boot starts from the same clean tree. Needs root, systemd-container and
// mmdebstrap (scripts/test-deps.mjs installs them).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Proc, waitFor } from './harness';
import type { TestHost } from './netns';

const CACHE = fileURLToPath(new URL('../.cache/nspawn', import.meta.url));
const SUITE = 'bookworm';
/** What the root holds besides Debian's minbase: an init and what install.sh needs. */
const PACKAGES = ['systemd', 'curl'];
/** Left out of the root: nothing here reads them, and dpkg has less to write. */
const EXCLUDED = ['/usr/share/man/*', '/usr/share/doc/*', '/usr/share/locale/*', '/usr/share/info/*'];

/** The host's apt sources (the only Debian mirror the machine may reach), for the root to use. */
function aptSources(): string[] {
  const files = ['/etc/apt/sources.list'].filter((f) => existsSync(f) && readFileSync(f, 'utf8').trim());
  const dir = '/etc/apt/sources.list.d';
  if (existsSync(dir)) files.push(...readdirSync(dir).filter((f) => /\.(list|sources)$/.test(f)).map((f) => join(dir, f)));
  if (files.length === 0) throw new Error('no apt sources on this machine (/etc/apt/sources.list*): cannot build the test root');
  return files;
}

/**
 * The cached root for `systemd-nspawn`, built on first use (a few minutes) with mmdebstrap. It is
 * keyed by the suite, the package list and the host's apt sources, so changing any of them builds
 * a new one; `rm -rf .cache/nspawn` forces a rebuild.
 */
export function systemdRoot(): string {
  const sources = aptSources();
  const key = createHash('sha256')
    .update(JSON.stringify({ SUITE, PACKAGES, EXCLUDED, unsafeIo: true, sources: sources.map((f) => readFileSync(f, 'utf8')) }))
    .digest('hex')
    .slice(0, 16);
  const root = join(CACHE, `${SUITE}-${key}`);
  if (existsSync(join(root, 'usr/lib/systemd/systemd'))) return root;
  mkdirSync(CACHE, { recursive: true });
  // Half-built roots of runs that were killed.
  for (const dir of readdirSync(CACHE)) {
    const pid = /\.building-(\d+)$/.exec(dir)?.[1];
    if (pid && !existsSync(`/proc/${pid}`)) rmSync(join(CACHE, dir), { recursive: true, force: true });
  }
  const building = `${root}.building-${process.pid}`;
  // No fsync per file (a root that is cut short is thrown away anyway): dpkg is most of the time.
  const args = ['--variant=minbase', `--include=${PACKAGES.join(',')}`, '--dpkgopt=force-unsafe-io', ...EXCLUDED.map((p) => `--dpkgopt=path-exclude=${p}`), SUITE, building, ...sources];
  const r = spawnSync('mmdebstrap', args, { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    rmSync(building, { recursive: true, force: true });
    throw new Error(`mmdebstrap ${args.join(' ')} failed (${r.error?.message ?? r.status}):\n${r.stderr.slice(-3000)}`);
  }
  rmSync(root, { recursive: true, force: true });
  renameSync(building, root);
  // Roots built for an older key are not used again.
  for (const old of readdirSync(CACHE)) if (old.startsWith(`${SUITE}-`) && !old.includes('.building-') && join(CACHE, old) !== root) rmSync(join(CACHE, old), { recursive: true, force: true });
  return root;
}

let counter = 0;

/** One booted container: systemd as PID 1 in `host`'s network namespace. */
export class Container {
  readonly name: string;
  readonly #dir: string;
  readonly #merged: string;
  #nspawn: Proc | undefined;
  #pid1 = 0;

  private constructor(readonly host: TestHost) {
    this.name = `fleet-${process.pid}-${++counter}`;
    this.#dir = mkdtempSync(join(tmpdir(), 'fleet-nspawn-'));
    this.#merged = join(this.#dir, 'merged');
  }

  /** Boots the cached root (see systemdRoot) and waits until systemd says it is up. */
  static async boot(host: TestHost, options: { hostname?: string } = {}): Promise<Container> {
    const c = new Container(host);
    try {
      await c.#boot(systemdRoot(), options.hostname ?? c.name);
    } catch (err) {
      await c.destroy();
      throw err;
    }
    return c;
  }

  async #boot(lower: string, hostname: string): Promise<void> {
    for (const d of ['upper', 'work', 'merged']) mkdirSync(join(this.#dir, d));
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${join(this.#dir, 'upper')},workdir=${join(this.#dir, 'work')}`, this.#merged]);
    // systemd sets the hostname from /etc/hostname (mmdebstrap copied the build machine's there).
    writeFileSync(join(this.#merged, 'etc/hostname'), `${hostname}\n`);
    const args = ['-D', this.#merged, '-b', '-M', this.name, '--register=no', '--keep-unit', `--network-namespace-path=/run/netns/${this.host.ns}`, '--console=pipe'];
    this.#nspawn = new Proc(spawn('systemd-nspawn', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' } }));
    const nspawn = this.#nspawn;
    this.#pid1 = await waitFor('the container\'s systemd', () => {
      if (!nspawn.running) throw new Error(`systemd-nspawn exited: ${nspawn.output.slice(-2000)}`);
      const pid = childPids(nspawn.child.pid!).find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'systemd');
      return pid ?? 0;
    }, 30_000, 100);
    await waitFor('systemd to finish booting', async () => {
      const r = await this.run('systemctl is-system-running');
      return /^(running|degraded)$/m.test(r.output);
    }, 60_000, 200);
  }

  /** Runs `sh -c command` inside the container (all its namespaces) and waits for it. */
  run(command: string, timeoutMs = 120_000): Promise<{ code: number; output: string }> {
    const p = new Proc(spawn('nsenter', ['-t', String(this.#pid1), '-a', '/bin/sh', '-c', command], { stdio: ['ignore', 'pipe', 'pipe'] }));
    const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
    return p.exited.then((code) => {
      clearTimeout(timer);
      return { code: code ?? -1, output: p.output };
    });
  }

  /** Powers the container off (SIGKILL after 20 s), then removes its overlay. */
  async destroy(): Promise<void> {
    const nspawn = this.#nspawn;
    if (nspawn?.running) {
      // systemd-nspawn turns SIGTERM into an orderly shutdown of the container.
      nspawn.child.kill('SIGTERM');
      const timer = setTimeout(() => nspawn.child.kill('SIGKILL'), 20_000);
      await nspawn.exited;
      clearTimeout(timer);
    }
    spawnSync('umount', [this.#merged]);
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      out.push(...readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
    } catch {
      // The task ended meanwhile.
    }
  }
  return out;
}

