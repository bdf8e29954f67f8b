// Benchmark: two builds side by side under the same load. Each build gets its own server, broker
// (NATS) and N emulated agents, all running at once; then `fleet exec --all -o json -- true` runs
// against one build and then the other, alternating (A B B A A B …), so that whatever else the
// machine is doing falls on both alike. Prints each build's medians and B / A.
//
//   npm run build && node bench/fanout-compare.mjs --base ../base/dist [--agents 1000] [--runs 20]
//                                                  [--transport nats] [--server-prof DIR] [--emulator-prof DIR]
//
// `--base` is the dist/ of the build to compare against (e.g. a worktree of the previous main,
// built there); the other build is this checkout's dist/ (or FLEET_BENCH_DIST). Server and
// emulator CPU per job are read from /proc around each job, so they count only that build's.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { dist, percentile, startFleet, until } from './lib.mjs';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    agents: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '20' },
    transport: { type: 'string', default: 'grpc' },
    'server-prof': { type: 'string' },
    'emulator-prof': { type: 'string' },
  },
});
if (!values.base) throw new Error('--base DIST is required (the dist/ of the build to compare against)');
const N = Number(values.agents);
const RUNS = Number(values.runs);
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const p50 = (xs) => percentile(xs, 0.5);
const p95 = (xs) => percentile(xs, 0.95);

function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}
const rssKb = (pid) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

/** A Debian nats-server trusting the server's operator (as in bench/fanout.mjs). */
async function startBroker(build, dir) {
  const trust = spawnSync(process.execPath, [join(build, 'fleet-server.js'), 'nats-config', '--data', join(dir, 'data')], { encoding: 'utf8' });
  if (trust.status !== 0) throw new Error(`fleet-server nats-config: ${trust.stderr}`);
  const port = 14000 + Math.floor(Math.random() * 5000);
  const conf = join(dir, 'nats.conf');
  writeFileSync(conf, [`listen: 127.0.0.1:${port}`, 'max_payload: 8MB', 'max_connections: 100000', trust.stdout].join('\n'));
  const binary = spawnSync('sh', ['-c', 'PATH="$PATH:/usr/sbin:/sbin" command -v nats-server'], { encoding: 'utf8' }).stdout.trim();
  if (!binary) throw new Error('nats-server is not installed (apt-get install nats-server)');
  const broker = spawn(binary, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  process.on('exit', () => broker.kill('SIGKILL'));
  let log = '';
  broker.stderr.on('data', (d) => (log += d));
  await until('nats-server ready', () => /Server is ready/.test(log), 15_000, 50);
  return { url: `nats://127.0.0.1:${port}`, broker };
}

/** One build's server, broker and emulated agents, all online. */
async function startBuild(name, build) {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-bench-'));
  const nats = values.transport === 'nats' ? await startBroker(build, dir) : undefined;
  const prof = values['server-prof'] ? ['--cpu-prof', '--cpu-prof-dir', join(values['server-prof'], name)] : [];
  const fleet = await startFleet({ build, dir, nodeArgs: prof, env: nats ? { FLEET_NATS: nats.url } : {} });
  const token = fleet.fleet(['tokens', 'create', '--uses', String(N), '--ttl', '24h']).trim();
  const stateDir = mkdtempSync(join('/dev/shm', 'fleet-emulator-'));
  process.on('exit', () => rmSync(stateDir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const emulatorProf = values['emulator-prof'] ? ['--cpu-prof', '--cpu-prof-dir', join(values['emulator-prof'], name)] : [];
  const args = [...emulatorProf, join(build, 'fleet-agent.js'), 'emulate', '--server', fleet.url, '--token', token, '--count', String(N), '--state-dir', stateDir, '--synthetic'];
  if (nats) args.push('--nats', nats.url);
  const emulator = fleet.spawn(process.execPath, args, { env: { ...process.env, FLEET_LOG: 'warn' }, stdio: ['ignore', 'ignore', openSync(join(dir, 'logs', 'emulator.log'), 'a')] });
  const online = () => {
    const r = spawnSync(process.execPath, [join(build, 'fleet.js'), 'nodes', '-o', 'json'], { env: { ...process.env, FLEET_CONFIG: fleet.config }, encoding: 'utf8', maxBuffer: 1 << 30 });
    return r.status === 0 ? JSON.parse(r.stdout).filter((n) => n.online).length : 0;
  };
  await until(`${name}: ${N} agents online`, () => online() === N, 15 * 60_000, 2000);
  process.stderr.write(`${name}: ${N} agents online\n`);
  return { name, build, fleet, emulator, nats, wall: [], job: [], cpu: [], agentCpu: [] };
}

/** One exec over every agent of `b`; records the CLI wall time, the job time and the server's CPU. */
function execOnce(b, record) {
  const cpu0 = cpuMs(b.fleet.server.pid);
  const agentCpu0 = cpuMs(b.emulator.pid);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(b.build, 'fleet.js'), 'exec', '--all', '-o', 'json', '--', 'true'], { env: { ...process.env, FLEET_CONFIG: b.fleet.config }, encoding: 'utf8', maxBuffer: 1 << 30 });
  const wall = performance.now() - t0;
  const out = JSON.parse(r.stdout);
  const ok = out.runs.filter((x) => x.state === 'succeeded').length;
  if (ok !== N) throw new Error(`${b.name}: ${ok} of ${out.runs.length} runs succeeded (want ${N})`);
  if (!record) return;
  b.wall.push(wall);
  b.job.push(Date.parse(out.finishedAt) - Date.parse(out.createdAt));
  b.cpu.push(cpuMs(b.fleet.server.pid) - cpu0);
  b.agentCpu.push(cpuMs(b.emulator.pid) - agentCpu0);
}

const a = await startBuild('A', resolve(values.base));
const b = await startBuild('B', dist);
// Let the connect bursts settle, then one warm-up each.
await new Promise((r) => setTimeout(r, 5000));
execOnce(a, false);
execOnce(b, false);
for (let i = 0; i < RUNS; i++) for (const x of i % 2 ? [b, a] : [a, b]) execOnce(x, true);

const row = (x) => ({
  build: x.name === 'A' ? `A (${values.base})` : `B (${dist})`,
  cliP50: Math.round(p50(x.wall)),
  cliP95: Math.round(p95(x.wall)),
  jobP50: p50(x.job),
  jobP95: p95(x.job),
  serverCpuPerJobP50: p50(x.cpu),
  serverCpuTotal: x.cpu.reduce((s, v) => s + v, 0),
  emulatorCpuPerJobP50: p50(x.agentCpu),
  serverRssKb: rssKb(x.fleet.server.pid),
});
const ra = row(a);
const rb = row(b);
const ratio = (k) => (rb[k] / ra[k]).toFixed(3);
console.log(JSON.stringify({ transport: values.transport, agents: N, runs: RUNS, a: ra, b: rb, ratio: { cliP50: ratio('cliP50'), jobP50: ratio('jobP50'), serverCpuPerJobP50: ratio('serverCpuPerJobP50'), serverCpuTotal: ratio('serverCpuTotal'), emulatorCpuPerJobP50: ratio('emulatorCpuPerJobP50') } }));
console.log(`\n${values.transport}, ${N} agents, ${RUNS} runs each, alternating, ${new Date().toISOString()}`);
console.log('| build | exec CLI p50 / p95 | server job p50 / p95 | server CPU per job (p50) | server CPU, all runs | emulator CPU per job (p50) | server RSS after |');
console.log('|---|---|---|---|---|---|---|');
for (const r of [ra, rb]) console.log(`| ${r.build} | ${r.cliP50} / ${r.cliP95} ms | ${r.jobP50} / ${r.jobP95} ms | ${Math.round(r.serverCpuPerJobP50)} ms | ${(r.serverCpuTotal / 1000).toFixed(1)} s | ${Math.round(r.emulatorCpuPerJobP50)} ms | ${Math.round(r.serverRssKb / 1024)} MiB |`);
console.log(`| B / A | ${ratio('cliP50')} | ${ratio('jobP50')} | ${ratio('serverCpuPerJobP50')} | ${ratio('serverCpuTotal')} | ${ratio('emulatorCpuPerJobP50')} | |`);

// Profiles are written when a server exits on its own: stop each the way an operator would.
for (const x of [a, b]) {
  if (values['emulator-prof']) {
    x.emulator.kill('SIGTERM');
    await Promise.race([new Promise((r) => x.emulator.once('exit', r)), new Promise((r) => setTimeout(r, 30_000))]);
  }
  x.emulator.kill('SIGKILL');
  if (values['server-prof']) {
    x.fleet.server.kill('SIGTERM');
    await Promise.race([new Promise((r) => x.fleet.server.once('exit', r)), new Promise((r) => setTimeout(r, 30_000))]);
  }
}
process.exit(0);
