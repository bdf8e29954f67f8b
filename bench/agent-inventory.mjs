// Benchmark: what reading inventory costs an agent, and whether it ever holds the agent up.
//
//   npm run build && node bench/agent-inventory.mjs            (as root: uses a network namespace)
//   FLEET_BENCH_DIST=.cache/dist-old node bench/agent-inventory.mjs   (another build: a copy of its dist/
//                                                                   inside the checkout, for node_modules)
//
// 1. Processes the agent starts over 125 s (collections at 0, 60 and 120 s), traced with strace,
//    on this machine as it is; and how many of them are shells.
// 2. On a host whose DNS does not answer (a network namespace whose only name server takes queries
//    and answers none, so `hostname -f` waits 20 s): how long `fleet exec` takes right after the
//    agent connects; over the first 40 s after it connected (or until that exec ended), the longest
//    event-loop stall (a heartbeat is sent late by as much) and how often the link was closed
//    (the server closes it after 12 s without a heartbeat); and how long the agent
//    takes to exit on SIGTERM given 0.3 s after it connected.
import { execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aptInstall, dist, have, startFleet, until } from './lib.mjs';

if (!have('strace')) aptInstall(['strace']);
const AGENT = join(dist, 'fleet-agent.js');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts an agent (already enrolled when `token` is empty); resolves with it once it has connected. */
async function agent(fleetEnv, name, { token = '', wrap = [], netns = '', nodeArgs = [], env = {} } = {}) {
  const args = [...wrap, process.execPath, ...nodeArgs, AGENT, 'run', '--name', name, ...(token ? ['--server', fleetEnv.url, '--token', token] : [])];
  const argv = netns ? ['ip', 'netns', 'exec', netns, ...args] : args;
  const p = fleetEnv.spawn(argv[0], argv.slice(1), { env: { ...process.env, FLEET_AGENT_DIR: join(fleetEnv.dir, name), FLEET_LOG: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  p.output = '';
  p.stdout.on('data', (d) => (p.output += d));
  p.stderr.on('data', (d) => (p.output += d));
  p.exitedAt = new Promise((ok) => p.once('exit', () => ok(Date.now())));
  await until(`${name} connected`, () => p.output.includes('"msg":"connected"'), 60_000, 20);
  return p;
}

// --- 1. processes per collection, normal DNS ----------------------------------------------------
const local = await startFleet();
const token = local.fleet(['tokens', 'create', '--uses', '10']).trim();
(await agent(local, 'enrolled', { token })).kill('SIGKILL');
const traceLog = join(local.dir, 'strace.log');
const traced = await agent(local, 'enrolled', { wrap: ['strace', '-f', '-qq', '-e', 'trace=execve', '-e', 'signal=none', '-o', traceLog] });
await sleep(125_000);
const lines = readFileSync(traceLog, 'utf8').split('\n').filter((l) => /^\d+ +execve\("/.test(l));
const agentPid = lines[0]?.split(' ')[0];
const programs = new Map();
for (const l of lines) {
  const [, pid, path] = /^(\d+) +execve\("([^"]+)"/.exec(l);
  if (pid !== agentPid) programs.set(pid, path.split('/').pop());
}
const started = [...programs.values()];
process.kill(Number(agentPid), 'SIGTERM');
await traced.exitedAt;

// --- 2. a host whose DNS does not answer -------------------------------------------------------
const ns = `fleet-binv-${process.pid % 10000}`;
const veth = `vbi${process.pid % 10000}`;
const [peer, hostIp] = ['10.231.250.1', '10.231.250.2'];
const ip = (...a) => execFileSync('ip', a, { stdio: 'pipe' });
mkdirSync(`/etc/netns/${ns}`, { recursive: true });
writeFileSync(`/etc/netns/${ns}/resolv.conf`, `nameserver ${peer}\noptions timeout:10 attempts:2\n`);
writeFileSync(`/etc/netns/${ns}/hosts`, '127.0.0.1 localhost\n');
process.on('exit', () => {
  try {
    for (const pid of execFileSync('ip', ['netns', 'pids', ns]).toString().split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
    ip('netns', 'del', ns);
  } catch {}
  rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
});
ip('netns', 'add', ns);
ip('link', 'add', `${veth}a`, 'type', 'veth', 'peer', 'name', `${veth}b`);
ip('link', 'set', `${veth}b`, 'netns', ns);
ip('addr', 'add', `${peer}/30`, 'dev', `${veth}a`);
ip('link', 'set', `${veth}a`, 'up');
ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${hostIp}/30`, 'dev', `${veth}b`);
ip('netns', 'exec', ns, 'ip', 'link', 'set', `${veth}b`, 'up');
ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
const dns = createSocket('udp4');
await new Promise((ok) => dns.bind(53, peer, ok));

const deaf = await startFleet({ host: peer });
const deafToken = deaf.fleet(['tokens', 'create', '--uses', '10']).trim();
(await agent(deaf, 'deaf', { token: deafToken, netns: ns })).kill('SIGKILL');
await sleep(500);
// Event-loop stalls, measured inside the agent and written out when it exits.
const lagFile = join(deaf.dir, 'lag');
const preload = join(deaf.dir, 'lag.mjs');
// SIGUSR2 starts the count afresh: from the moment the agent is connected (not its start-up).
writeFileSync(
  preload,
  `import { monitorEventLoopDelay } from 'node:perf_hooks';\nimport { writeFileSync } from 'node:fs';\nconst h = monitorEventLoopDelay({ resolution: 10 });\nh.enable();\nprocess.on('SIGUSR2', () => h.reset());\nprocess.on('exit', () => writeFileSync(${JSON.stringify(lagFile)}, String(h.max / 1e6)));\n`,
);
const watched = await agent(deaf, 'deaf', { netns: ns, nodeArgs: ['--import', preload] });
process.kill(watched.pid, 'SIGUSR2');
const t0 = Date.now();
const exec = spawn(process.execPath, [join(dist, 'fleet.js'), 'exec', 'deaf', '--timeout', '60s', '-o', 'json', '--', 'true'], { env: { ...process.env, FLEET_CONFIG: deaf.config }, stdio: ['ignore', 'pipe', 'ignore'] });
let execOut = '';
exec.stdout.on('data', (d) => (execOut += d));
await new Promise((ok) => exec.once('close', ok));
const execSeconds = (Date.now() - t0) / 1000;
const execState = (() => {
  try {
    return JSON.parse(execOut).runs[0].state;
  } catch {
    return 'no result';
  }
})();
await sleep(Math.max(0, 40_000 - (Date.now() - t0)));
const watchedSeconds = Math.round((Date.now() - t0) / 1000);
process.kill(watched.pid, 'SIGTERM');
await watched.exitedAt;
const maxStallMs = Number(readFileSync(lagFile, 'utf8'));
const linksClosed = (watched.output.match(/disconnected from server/g) ?? []).length;

const stopping = await agent(deaf, 'deaf', { netns: ns });
await sleep(300);
const signalled = Date.now();
process.kill(stopping.pid, 'SIGTERM');
const sigtermSeconds = ((await stopping.exitedAt) - signalled) / 1000;
dns.close();

const count = (name) => started.filter((p) => p === name).length;
console.log(
  JSON.stringify(
    {
      dist,
      normalDns: { processesIn125s: started.length, shells: count('sh') + count('dash') + count('bash'), hostnameLookups: count('hostname'), collections: 3 },
      deafDns: { execRightAfterConnect: { seconds: execSeconds, state: execState }, watchedSeconds, maxEventLoopStallMs: Math.round(maxStallMs), linksClosed, sigtermToExitSeconds: sigtermSeconds },
    },
    null,
    2,
  ),
);
process.exit(0);
