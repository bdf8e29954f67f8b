// Benchmark: `hostname` on 50 hosts with fleet, pdsh and ansible, in the same run on this machine.
//
//   npm run build && node bench/vs-peers.mjs [--hosts 50] [--runs 10] [--warmup 2]
//
// Needs root: every host is a network namespace (veth on one bridge, 10.232.50.N/24) with its own
// UTS namespace (hostname hostNN), running a real fleet-agent and a real OpenSSH sshd on port 22.
// Why namespaces rather than 50 loopback ports: each tool then talks to 50 distinct addresses
// through a real (virtual) NIC, every sshd listens on the ordinary port 22 with no per-host port
// juggling, and each host answers with its own name, so a run only counts when all 50 hosts
// answered and each answered for itself (one sshd or agent answering twice would be caught).
// The namespaces cost every tool the same: one veth hop per packet. Each host's sshd also gets a
// fresh /root (see below), as on a newly installed host. All three controllers, the
// fleet server, 50 agents and 50 sshds share this machine's CPUs, as they would on a laptop
// driving a lab; nothing is pinned.
//
// Per run, measured as the wall time of the real command (what a user waits for):
//   fleet:   `fleet exec -l bench=peers -- hostname` — one CLI process, one TLS connection to the
//            server, which sends the job over the agents' standing connections.
//   pdsh:    `pdsh -R ssh -f 50 -w host[01-50] hostname` — 50 fresh ssh connections (key exchange,
//            ed25519 user auth, one exec channel each). Also shown with ssh ControlPersist, i.e.
//            reusing connections from the previous run, as a practised pdsh user might set up.
//   ansible: `ansible all -i inventory -m command -a hostname -f 50` — tuned as a practised user
//            would (pipelining, ControlPersist 30m, python interpreter fixed so no discovery, no
//            ssh compression on a LAN) and with ansible's defaults (no pipelining, interpreter
//            discovery, ControlPersist 60s). Both with -f 50 so that 50 hosts run at once.
// Tools are interleaved run by run (the order rotates each round) so drift hits all equally.
// The first `--warmup` rounds are not counted (they open the ControlPersist connections); the very
// first run of each tool is printed as "cold".
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { aptInstall, dist, have, median, percentile, startFleet, until } from './lib.mjs';

const { values } = parseArgs({
  options: { hosts: { type: 'string', default: '50' }, runs: { type: 'string', default: '10' }, warmup: { type: 'string', default: '2' } },
});
const N = Number(values.hosts);
const RUNS = Number(values.runs);
const WARMUP = Number(values.warmup);
if (!(N >= 1 && N <= 99) || !(RUNS >= 1) || !(WARMUP >= 0)) throw new Error('--hosts must be 1..99, --runs ≥ 1, --warmup ≥ 0');
if (process.getuid?.() !== 0) {
  console.error('vs-peers needs root (network namespaces, sshd on port 22, apt-get for missing peers)');
  process.exit(1);
}

// --- peers ---------------------------------------------------------------------------------------
const missing = [['pdsh', 'pdsh'], ['ansible', 'ansible'], ['ssh', 'openssh-client']].filter(([cmd]) => !have(cmd)).map(([, pkg]) => pkg);
if (!existsSync('/usr/sbin/sshd')) missing.push('openssh-server');
if (missing.length) aptInstall(missing);
for (const cmd of ['pdsh', 'ansible', 'ssh', '/usr/sbin/sshd', 'unshare', 'nsenter']) {
  if (!have(cmd)) throw new Error(`${cmd} is missing (apt-get install pdsh ansible openssh-server util-linux)`);
}
const version = (cmd, args) => spawnSync(cmd, args, { encoding: 'utf8' }).stdout.split('\n')[0].trim();
const versions = {
  pdsh: version('sh', ['-c', 'pdsh -V 2>&1']),
  ansible: version('ansible', ['--version']),
  ssh: version('sh', ['-c', 'ssh -V 2>&1']),
};

// --- network: a bridge in this namespace, one namespace per host -----------------------------------
const NET = '10.232.50';
const BRIDGE = 'vspbr0';
const names = Array.from({ length: N }, (_, i) => `host${String(i + 1).padStart(2, '0')}`);
const nsOf = (name) => `vsp-${name}`;
const sh = (script) => {
  const r = spawnSync('sh', ['-ec', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${script.slice(0, 200)}…: ${r.stderr}`);
  return r.stdout;
};
if (spawnSync('ip', ['link', 'show', BRIDGE], { stdio: 'ignore' }).status === 0) {
  throw new Error(`${BRIDGE} exists: another vs-peers run is going on, or one was killed. Clean up with: ` +
    `for n in $(ip netns list | grep -o '^vsp-host[0-9]*'); do ip netns pids $n | xargs -r kill -9; ip netns del $n; done; ip link del ${BRIDGE}`);
}
const cleanups = [];
process.on('exit', () => {
  for (const f of cleanups.reverse()) {
    try {
      f();
    } catch {
      // best effort: the rest still runs
    }
  }
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));
cleanups.push(() => spawnSync('ip', ['link', 'del', BRIDGE], { stdio: 'ignore' }));
sh(`ip link add ${BRIDGE} type bridge; ip addr add ${NET}.254/24 dev ${BRIDGE}; ip link set ${BRIDGE} up`);
for (const [i, name] of names.entries()) {
  const ns = nsOf(name);
  const veth = `vsp${String(i + 1).padStart(2, '0')}`;
  cleanups.push(() => spawnSync('sh', ['-c', `for p in $(ip netns pids ${ns}); do kill -9 $p; done; ip netns del ${ns}`], { stdio: 'ignore' }));
  sh(`ip netns add ${ns}
ip link add ${veth} type veth peer name ${veth}p
ip link set ${veth}p netns ${ns}
ip link set ${veth} master ${BRIDGE} up
ip -n ${ns} link set ${veth}p name eth0
ip -n ${ns} addr add ${NET}.${i + 1}/24 dev eth0
ip -n ${ns} link set eth0 up
ip -n ${ns} link set lo up`);
}

// --- fleet: server on the bridge, one agent per host ------------------------------------------------
const f = await startFleet({ host: `${NET}.254` });
const { dir } = f;
const cliConfig = join(dir, 'cli.json');
const token = f.fleet(['tokens', 'create', '--uses', String(N), '-l', 'bench=peers']).trim();
const agentPids = new Map();
for (const name of names) {
  // ip netns exec and unshare exec (no fork), so the pid is the agent's, inside both namespaces.
  // The agent asks for its hostname as node name, so the node is called hostNN too.
  const p = f.spawn('ip', ['netns', 'exec', nsOf(name), 'unshare', '--uts', 'sh', '-c', `hostname ${name} && exec "$0" "$@"`,
    process.execPath, join(dist, 'fleet-agent.js'), 'run', '--server', f.url, '--token', token], {
    env: { ...process.env, FLEET_AGENT_DIR: join(dir, `agent-${name}`), FLEET_LOG: 'warn' },
    stdio: 'ignore',
  });
  agentPids.set(name, p.pid);
}
await until(`${N} agents online`, () => {
  const nodes = JSON.parse(f.fleet(['nodes', '-o', 'json']));
  return nodes.filter((n) => n.online && names.includes(n.name)).length === N;
}, 300_000, 500);

// --- sshd: one per host, in the agent's network and UTS namespaces ------------------------------------
const sshDir = join(dir, 'ssh');
mkdirSync(sshDir, { mode: 0o700 });
sh(`ssh-keygen -q -t ed25519 -N '' -f ${sshDir}/host; ssh-keygen -q -t ed25519 -N '' -f ${sshDir}/client; cp ${sshDir}/client.pub ${sshDir}/authorized_keys`);
writeFileSync(join(sshDir, 'sshd_config'), [
  'Port 22', `HostKey ${sshDir}/host`, `AuthorizedKeysFile ${sshDir}/authorized_keys`, 'PermitRootLogin prohibit-password',
  'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no', 'StrictModes no', 'PidFile none',
  'MaxStartups 200', 'MaxSessions 100', 'Subsystem sftp /usr/lib/openssh/sftp-server', '',
].join('\n'));
mkdirSync('/run/sshd', { recursive: true });
for (const name of names) {
  // A fresh root home per host (Debian's default dot files), bind-mounted over /root in a private
  // mount namespace: bash sources ~/.bashrc for every command that arrives over ssh, and this
  // machine's own /root/.bashrc runs `pyenv init`, which would charge the ssh-based tools for this
  // machine's setup rather than for what they do. nsenter, unshare and sh all exec: one pid.
  const home = join(dir, `root-${name}`);
  mkdirSync(home, { mode: 0o700 });
  copyFileSync('/usr/share/base-files/dot.bashrc', join(home, '.bashrc'));
  copyFileSync('/usr/share/base-files/dot.profile', join(home, '.profile'));
  f.spawn('nsenter', ['-t', String(agentPids.get(name)), '--net', '--uts', 'unshare', '--mount', 'sh', '-c',
    `mount --bind ${home} /root && exec /usr/sbin/sshd -D -e -f ${join(sshDir, 'sshd_config')}`], { stdio: 'ignore' });
}
const sshCommon = [`  User root`, `  IdentityFile ${sshDir}/client`, '  IdentitiesOnly yes', '  StrictHostKeyChecking no', '  UserKnownHostsFile /dev/null', '  LogLevel ERROR'];
const hostBlocks = names.flatMap((name, i) => [`Host ${name}`, `  HostName ${NET}.${i + 1}`]);
const sshConfig = join(sshDir, 'ssh_config');
writeFileSync(sshConfig, [...hostBlocks, 'Host host*', ...sshCommon, ''].join('\n'));
const sshConfigCm = join(sshDir, 'ssh_config_cm');
mkdirSync(join(dir, 'cm'));
writeFileSync(sshConfigCm, [...hostBlocks, 'Host host*', ...sshCommon, '  ControlMaster auto', `  ControlPath ${dir}/cm/%C`, '  ControlPersist 30m', ''].join('\n'));

// --- ansible: inventory, a tuned config and a defaults-only config ----------------------------------
const inventory = join(dir, 'inventory.ini');
writeFileSync(inventory, [
  '[peers]',
  ...names.map((name, i) => `${name} ansible_host=${NET}.${i + 1} ansible_port=22`),
  '',
  '[all:vars]',
  'ansible_user=root',
  `ansible_ssh_private_key_file=${sshDir}/client`,
  // Keeps root's ~/.ssh/known_hosts untouched; appended to ssh_args, so the defaults stay intact.
  "ansible_ssh_common_args='-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR'",
  '',
].join('\n'));
const ansibleTuned = join(dir, 'ansible-tuned.cfg');
writeFileSync(ansibleTuned, [
  '[defaults]',
  'host_key_checking = False',
  'interpreter_python = /usr/bin/python3',
  '',
  '[ssh_connection]',
  'pipelining = True',
  'ssh_args = -o ControlMaster=auto -o ControlPersist=30m -o PreferredAuthentications=publickey',
  '',
].join('\n'));
const ansibleDefault = join(dir, 'ansible-default.cfg');
writeFileSync(ansibleDefault, '[defaults]\nhost_key_checking = False\n');
// Separate homes: each variant has its own ~/.ansible (control sockets, tmp), so they never share
// connections.
for (const v of ['tuned', 'default']) mkdirSync(join(dir, `home-${v}`));
cleanups.push(() => {
  // Close ControlPersist masters before the hosts go away.
  for (const d of [join(dir, 'cm'), join(dir, 'home-tuned/.ansible/cp'), join(dir, 'home-default/.ansible/cp')]) {
    if (!existsSync(d)) continue;
    for (const s of readdirSync(d)) spawnSync('ssh', ['-o', `ControlPath=${join(d, s)}`, '-O', 'exit', 'x'], { stdio: 'ignore' });
  }
});

// --- the tools --------------------------------------------------------------------------------------
/** name → answer, from lines of the form `name: answer` (fleet and pdsh print the same shape). */
const prefixed = (stdout) => [...stdout.matchAll(/^(\S+): (.*)$/gm)].map((m) => [m[1], m[2]]);
/** From ansible's ad-hoc output: `host01 | CHANGED | rc=0 >>` then the output line. */
const ansibleLines = (stdout) => [...stdout.matchAll(/^(\S+) \| CHANGED \| rc=0 >>\n(.*)$/gm)].map((m) => [m[1], m[2]]);
const ansibleEnv = (v) => ({ ...process.env, HOME: join(dir, `home-${v}`), ANSIBLE_CONFIG: v === 'tuned' ? ansibleTuned : ansibleDefault, ANSIBLE_NOCOLOR: '1' });
const range = `host[01-${String(N).padStart(2, '0')}]`;
const tools = [
  {
    key: 'fleet', label: 'fleet exec -l bench=peers -- hostname',
    cmd: process.execPath, args: [join(dist, 'fleet.js'), 'exec', '-l', 'bench=peers', '--', 'hostname'],
    env: { ...process.env, FLEET_CONFIG: cliConfig }, parse: prefixed,
  },
  {
    key: 'pdsh', label: `pdsh -R ssh -f ${N} -w ${range} hostname`,
    cmd: 'pdsh', args: ['-R', 'ssh', '-f', String(N), '-w', range, 'hostname'],
    env: { ...process.env, PDSH_SSH_ARGS_APPEND: `-F ${sshConfig}` }, parse: prefixed,
  },
  {
    key: 'pdsh-cm', label: 'pdsh, same, ssh ControlPersist',
    cmd: 'pdsh', args: ['-R', 'ssh', '-f', String(N), '-w', range, 'hostname'],
    env: { ...process.env, PDSH_SSH_ARGS_APPEND: `-F ${sshConfigCm}` }, parse: prefixed,
  },
  {
    key: 'ansible', label: `ansible all -i inventory -m command -a hostname -f ${N} (tuned)`,
    cmd: 'ansible', args: ['all', '-i', inventory, '-m', 'command', '-a', 'hostname', '-f', String(N)],
    env: ansibleEnv('tuned'), parse: ansibleLines,
  },
  {
    key: 'ansible-default', label: 'ansible, same, default settings',
    cmd: 'ansible', args: ['all', '-i', inventory, '-m', 'command', '-a', 'hostname', '-f', String(N)],
    env: ansibleEnv('default'), parse: ansibleLines,
  },
];

/**
 * CPU ticks (1/100 s) spent by the whole machine and by this benchmark (itself, the commands it ran
 * and reaped, and its long-lived children: server, agents, sshds with their reaped sessions). The
 * difference is what other processes took: shown per round, as this machine is shared. The
 * backgrounded ssh ControlPersist masters count as "others", a little.
 */
function cpuTicks() {
  const stat = (pid) => {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' '); // [state, ppid, …]: field 3 onwards
  };
  const used = (f) => Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  let ours = used(stat('self'));
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const f = stat(pid);
      if (Number(f[1]) === process.pid) ours += used(f);
    } catch {
      // gone meanwhile
    }
  }
  const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
  const busy = v.slice(0, 8).reduce((a, b) => a + b, 0) - v[3] - v[4];
  return { busy, ours };
}
/** Share of the machine's CPU capacity that other processes used between two cpuTicks(). */
const othersShare = (a, b, wallMs) => Math.max(0, (b.busy - a.busy) - (b.ours - a.ours)) / ((wallMs / 10) * cpus().length);

/** Runs a tool once; returns the wall time, and a problem when not every host answered its own name. */
function runOnce(tool) {
  const t0 = performance.now();
  const r = spawnSync(tool.cmd, tool.args, { env: tool.env, encoding: 'utf8', maxBuffer: 16 << 20, timeout: 120_000 });
  const wall = performance.now() - t0;
  const answers = new Map();
  for (const [host, answer] of tool.parse(r.stdout ?? '')) answers.set(host, answers.has(host) ? null : answer);
  const right = names.filter((n) => answers.get(n) === n).length;
  const problem = r.status !== 0 || right !== N || answers.size !== N
    ? `exit ${r.status ?? r.signal}, ${right}/${N} hosts answered their own name, ${answers.size} answers: ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`
    : null;
  return { wall, problem };
}

// Every host must answer on both paths before timing starts.
await until(`${N} sshds answering`, () => !runOnce(tools[1]).problem, 60_000, 500);
const fleetCheck = runOnce(tools[0]);
if (fleetCheck.problem) throw new Error(`fleet: ${fleetCheck.problem}`);

const load0 = loadavg();
const started = new Date();
for (const t of tools) Object.assign(t, { times: [], failures: [], cold: null });
const cpu0 = cpuTicks();
const t00 = performance.now();
for (let round = 0; round < WARMUP + RUNS; round++) {
  const r0 = cpuTicks();
  const tr0 = performance.now();
  const order = tools.map((_, i) => tools[(i + round) % tools.length]);
  for (const t of order) {
    const { wall, problem } = runOnce(t);
    if (round === 0) t.cold = wall;
    if (problem) t.failures.push(`round ${round}: ${problem}`);
    else if (round >= WARMUP) t.times.push(wall);
    await new Promise((r) => setImmediate(r)); // lets Ctrl-C / SIGTERM in, so the cleanup runs
  }
  const others = othersShare(r0, cpuTicks(), performance.now() - tr0);
  process.stderr.write(`round ${round + 1}/${WARMUP + RUNS}: ${tools.map((t) => `${t.key} ${(t.times.at(-1) ?? t.cold).toFixed(0)}`).join(', ')} ms; other processes used ${(100 * others).toFixed(0)}% of the CPUs\n`);
}
const load1 = loadavg();
const othersAll = othersShare(cpu0, cpuTicks(), performance.now() - t00);

// The server's own job time for the counted fleet runs (created → every result stored).
const jobs = JSON.parse(f.fleet(['jobs', 'list', '--limit', String(RUNS), '-o', 'json']));
const serverTimes = jobs.map((j) => Date.parse(j.finishedAt) - Date.parse(j.createdAt));

// --- report -------------------------------------------------------------------------------------------
const ms = (x) => (x == null ? '—' : `${x.toFixed(0)} ms`);
const fleetMedian = median(tools[0].times);
console.log(`hostname on ${N} hosts (netns + own hostname, fleet agent and sshd on each), ${RUNS} counted runs per tool after ${WARMUP} warm-up rounds, interleaved`);
console.log(`${started.toISOString()}; ${cpus().length} × ${cpus()[0]?.model.trim()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; node ${process.version}; ${versions.pdsh}; ${versions.ansible}; ${versions.ssh}`);
console.log(`load average before/after: ${load0.map((x) => x.toFixed(2)).join(' ')} / ${load1.map((x) => x.toFixed(2)).join(' ')}; ` +
  `processes outside this benchmark used ${(100 * othersAll).toFixed(1)}% of the CPUs during the runs (rerun if that is more than a few %)`);
console.log('');
console.log('| tool | median | p95 | min | cold (first run) | ok runs | / fleet (median) |');
console.log('|---|---|---|---|---|---|---|');
for (const t of tools) {
  const m = t.times.length ? median(t.times) : null;
  console.log(`| \`${t.label}\` | ${ms(m)} | ${ms(t.times.length ? percentile(t.times, 0.95) : null)} | ${ms(t.times.length ? Math.min(...t.times) : null)} | ${ms(t.cold)} | ${t.times.length}/${RUNS} | ${m == null ? '—' : `${(m / fleetMedian).toFixed(2)}×`} |`);
}
console.log('');
console.log(`fleet server job time (created → all ${N} results stored): median ${ms(median(serverTimes))}, p95 ${ms(percentile(serverTimes, 0.95))}`);
const ratio = (k) => (median(tools.find((t) => t.key === k).times) / fleetMedian).toFixed(2);
console.log(`ratios of medians: ansible/fleet ${ratio('ansible')}× (defaults ${ratio('ansible-default')}×), pdsh/fleet ${ratio('pdsh')}× (ControlPersist ${ratio('pdsh-cm')}×)`);
const failures = tools.flatMap((t) => t.failures.map((x) => `${t.key} ${x}`));
for (const x of failures) console.log(`FAILED ${x}`);
process.exit(failures.length ? 1 : 0);
