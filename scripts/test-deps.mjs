// Installs what the test suite needs from Debian when it is missing (as root, non-interactively),
// so `npm test` works on a fresh machine. Prints what it does; fails clearly when it cannot.
import { execFileSync, spawnSync } from 'node:child_process';

/** Command the tests run → Debian package that provides it. */
const NEEDED = {
  ps: 'procps',
  sh: 'dash',
  ip: 'iproute2',
  unshare: 'util-linux',
  curl: 'curl',
  gzip: 'gzip',
  sshd: 'openssh-server',
  ssh: 'openssh-client',
  shellcheck: 'shellcheck',
  chromium: 'chromium',
  // The operator's terminal in the `fleet shell` tests (test/shell.test.ts).
  tmux: 'tmux',
  'qemu-system-x86_64': 'qemu-system-x86',
  // Counts the processes an agent starts (test/inventory.test.ts).
  strace: 'strace',
  // Brokers for the NATS transport tests (test/nats.ts); Debian's 2.9 has clustering and JWT auth.
  'nats-server': 'nats-server',
  // A real systemd as PID 1 for the installer (test/nspawn.ts): the container runner, and the tool
  // that builds its Debian root (faster than debootstrap).
  'systemd-nspawn': 'systemd-container',
  mmdebstrap: 'mmdebstrap',
  // The load balancer in front of replicas sharing PostgreSQL (test/ha.test.ts).
  haproxy: 'haproxy',
};

/** Packages needed for files rather than a command of their own, checked with dpkg. */
const NEEDED_PACKAGES = [
  // The discovery image's static /bin/busybox (the `busybox` package's is dynamically linked), also
  // the only tools of the busybox-only root in test/install-busybox.test.ts.
  'busybox-static',
  // A real PostgreSQL for the PostgreSQL drivers (server/postgres/test-postgres.ts): its server
  // binaries live under /usr/lib/postgresql/VERSION/bin, off the PATH. Nothing is started by it.
  'postgresql',
];

const missing = Object.entries(NEEDED).filter(([cmd]) => spawnSync('sh', ['-c', `PATH="$PATH:/usr/sbin:/sbin" command -v ${cmd}`]).status !== 0);
const missingPackages = NEEDED_PACKAGES.filter((pkg) => spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }).stdout !== 'install ok installed');
if (missing.length === 0 && missingPackages.length === 0) process.exit(0);

const packages = [...new Set([...missing.map(([, pkg]) => pkg), ...missingPackages])];
if (process.getuid?.() !== 0) {
  process.stderr.write(`test dependencies missing: ${packages.join(' ')}; install them with: sudo apt-get install -y ${packages.join(' ')}\n`);
  process.exit(1);
}
process.stderr.write(`installing test dependencies: ${packages.join(' ')}\n`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
execFileSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
execFileSync('apt-get', ['install', '-y', '-q', ...packages], { stdio: 'inherit', env });
