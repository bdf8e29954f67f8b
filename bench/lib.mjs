// Shared by the benchmarks: start a real fleet-server from dist/, log the CLI in, and clean up.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const root = resolve(import.meta.dirname, '..');
/** The built executables; FLEET_BENCH_DIST points elsewhere (a private copy while others rebuild dist/). */
export const dist = process.env.FLEET_BENCH_DIST ? resolve(process.env.FLEET_BENCH_DIST) : join(root, 'dist');

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * p) - 1)];
};

/** Polls `check` until it returns something truthy. */
export async function until(what, check, timeoutMs = 60_000, everyMs = 100) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Starts fleet-server on `host` (ports chosen by the system) in a temporary directory and logs a
 * CLI config in. Everything it started is killed and removed at process exit. `nodeArgs` go to
 * the server's node (e.g. --cpu-prof), `env` to its environment; `listenPort` and
 * `listenHttpsPort` fix the ports (default: chosen by the system); `dir` is the temporary
 * directory to use (its `data` the server's data directory), made when not given; `build` the
 * dist/ directory to run (default `dist`).
 */
export async function startFleet({ host = '127.0.0.1', nodeArgs = [], env = {}, listenPort = 0, listenHttpsPort = 0, dir = mkdtempSync(join(tmpdir(), 'fleet-bench-')), build = dist } = {}) {
  const config = join(dir, 'cli.json');
  const procs = [];
  const spawnedAt = performance.now();
  const server = spawn(process.execPath, [...nodeArgs, join(build, 'fleet-server.js'), '--data', join(dir, 'data'), '--listen', `${host}:${listenPort}`, '--https-listen', `${host}:${listenHttpsPort}`], {
    env: { ...process.env, FLEET_LOG: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  procs.push(server);
  process.on('exit', () => {
    for (const p of procs) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  // Ctrl-C or kill: exit through the 'exit' handlers, so no server or agent is left behind.
  for (const sig of ['SIGINT', 'SIGTERM']) if (process.listenerCount(sig) === 0) process.once(sig, () => process.exit(130));
  let out = '';
  server.stdout.on('data', (d) => (out += d));
  await until('fleet-server', () => /\n {2}fa1_/.test(out), 30_000, 50);
  const port = Number(/listening on \S*:(\d+)/.exec(out)[1]);
  const caHash = /CA fingerprint: sha256:([0-9a-f]{64})/.exec(out)[1];
  const [, httpsPort, pin] = /installs on https:\/\/\S*:(\d+) \(pin (sha256\/\/[^)]+)\)/.exec(out);
  const admin = /\n {2}(fa1_[0-9a-f_]+)\n/.exec(out)[1];
  const fleet = (args) => {
    const r = spawnSync(process.execPath, [join(build, 'fleet.js'), ...args], { env: { ...process.env, FLEET_CONFIG: config }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`fleet ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  fleet(['login', '--server', `https://${host}:${port}`, '--token', admin, '--ca-hash', `sha256:${caHash}`]);
  return {
    dir,
    /** The server process (its pid for /proc figures). */
    server,
    /** When the server was spawned (performance.now()), to place events in its --cpu-prof profile. */
    spawnedAt,
    dataDir: join(dir, 'data'),
    config,
    port,
    httpsPort: Number(httpsPort),
    pin,
    caHash,
    url: `https://${host}:${port}`,
    installUrl: `https://${host}:${httpsPort}`,
    fleet,
    /** Starts a process that is killed when the benchmark exits. */
    spawn(cmd, args, options) {
      const p = spawn(cmd, args, options);
      procs.push(p);
      return p;
    },
  };
}

/** True when `cmd` is on PATH. */
export function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Installs Debian packages when running as root; quietly does nothing otherwise. */
export function aptInstall(packages) {
  if (process.getuid?.() !== 0) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-q'], { env, stdio: 'ignore' });
  spawnSync('apt-get', ['install', '-y', '-q', ...packages], { env, stdio: 'ignore' });
}

/**
 * Starts a loopback OpenSSH server (the peer in benchmarks) with its own keys, under `dir`.
 * Returns an ssh config file whose `peer*` hosts all reach it as root, or null when sshd is not
 * available (needs root).
 */
export async function startSshd(dir, startProc) {
  if (!existsSync('/usr/sbin/sshd')) aptInstall(['openssh-server', 'openssh-client']);
  if (!existsSync('/usr/sbin/sshd') || process.getuid?.() !== 0) return null;
  const sshDir = join(dir, 'ssh');
  mkdirSync(sshDir, { mode: 0o700 });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(sshDir, 'host')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(sshDir, 'client')]);
  execFileSync('cp', [join(sshDir, 'client.pub'), join(sshDir, 'authorized_keys')]);
  const port = 20000 + Math.floor(Math.random() * 20000);
  writeFileSync(
    join(sshDir, 'sshd_config'),
    `Port ${port}\nListenAddress 127.0.0.1\nHostKey ${join(sshDir, 'host')}\nAuthorizedKeysFile ${join(sshDir, 'authorized_keys')}\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile none\nMaxStartups 100\nMaxSessions 100\n`,
  );
  const config = join(sshDir, 'ssh_config');
  writeFileSync(config, `Host peer*\n  HostName 127.0.0.1\n  Port ${port}\n  User root\n  IdentityFile ${join(sshDir, 'client')}\n  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n`);
  mkdirSync('/run/sshd', { recursive: true });
  startProc('/usr/sbin/sshd', ['-D', '-e', '-f', join(sshDir, 'sshd_config')], { stdio: 'ignore' });
  await until('sshd', () => spawnSync('ssh', ['-F', config, 'peer1', 'true']).status === 0, 15_000);
  return config;
}
