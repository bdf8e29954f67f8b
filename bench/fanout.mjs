// Benchmark: fleet at scale with emulated agents (`fleet-agent emulate`) on this machine.
//
//   npm run build && node bench/fanout.mjs [--agents 1000,10000] [--runs 20,10] [--per-emulator 2500]
//                                          [--restart] [--real-exec] [--transport grpc] [--server-prof DIR]
//                                          [--emulator-dir /dev/shm]
//
// For each N: a fresh server, ceil(N / per-emulator) emulator processes (each agent is a real
// agent core with its own identity and TLS link), time until all N are online (and the
// enrollment rate), then K × `fleet exec --all -o json -- true`: p50/p95 of the CLI round trip
// (spawn → exit) and of the server's job time (created → last result stored), the server's RSS
// and CPU time (/proc) before and after, and the emulators' RSS. `--restart` (on the largest N):
// kill -9 the server, start it again on the same data directory and ports, and time until every
// agent is back online; no agent may enroll again. Exec is synthetic (answered in the agent
// without a process) unless --real-exec. Needs `ulimit -n` above N + a few hundred.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { dist, percentile, root, startFleet, until } from './lib.mjs';

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '1000,10000' },
    runs: { type: 'string', default: '20,10' },
    'per-emulator': { type: 'string', default: '2500' },
    restart: { type: 'boolean', default: false },
    'real-exec': { type: 'boolean', default: false },
    transport: { type: 'string', default: 'grpc' },
    'server-prof': { type: 'string' },
    'emulator-dir': { type: 'string', default: existsSync('/dev/shm') ? '/dev/shm' : tmpdir() },
  },
});

/**
 * What each transport needs on the server and the emulators: nothing for gRPC; for NATS a
 * Debian nats-server trusting the server's operator (`fleet-server nats-config`), and the flags
 * that point both sides at it. `dir` is the bench's temporary directory (the server's data in
 * `dir/data`); `broker` the broker process, whose RSS and CPU are reported too.
 */
const TRANSPORTS = {
  grpc: { setup: async () => ({ serverEnv: {}, emulatorArgs: [], dir: undefined, broker: undefined }) },
  nats: {
    setup: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fleet-bench-'));
      const trust = spawnSync(process.execPath, [join(dist, 'fleet-server.js'), 'nats-config', '--data', join(dir, 'data')], { encoding: 'utf8' });
      if (trust.status !== 0) throw new Error(`fleet-server nats-config: ${trust.stderr}`);
      const [port] = freePorts(1, 14000);
      const conf = join(dir, 'nats.conf');
      writeFileSync(conf, [`listen: 127.0.0.1:${port}`, 'max_payload: 8MB', 'max_connections: 100000', trust.stdout].join('\n'));
      const binary = spawnSync('sh', ['-c', 'PATH="$PATH:/usr/sbin:/sbin" command -v nats-server'], { encoding: 'utf8' }).stdout.trim();
      if (!binary) throw new Error('nats-server is not installed (apt-get install nats-server)');
      const broker = spawn(binary, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
      process.on('exit', () => broker.kill('SIGKILL'));
      let log = '';
      broker.stderr.on('data', (d) => (log += d));
      await until('nats-server ready', () => /Server is ready/.test(log), 15_000, 50);
      const url = `nats://127.0.0.1:${port}`;
      return { serverEnv: { FLEET_NATS: url }, emulatorArgs: ['--nats', url], dir, broker };
    },
  },
};
const transport = TRANSPORTS[values.transport];
if (!transport) throw new Error(`--transport ${values.transport}: not available (have: ${Object.keys(TRANSPORTS).join(', ')})`);

const sizes = values.agents.split(',').map(Number);
const runCounts = values.runs.split(',').map(Number);
const perEmulator = Number(values['per-emulator']);
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

const ms = (x) => `${Math.round(x)} ms`;
const s1 = (x) => `${(x / 1000).toFixed(1)} s`;
const mib = (kb) => `${Math.round(kb / 1024)} MiB`;
const p50 = (xs) => percentile(xs, 0.5);
const p95 = (xs) => percentile(xs, 0.95);

/**
 * Two free ports below the range the kernel hands out to outgoing connections: with 10,000
 * agents reconnecting, a port the system picked (from that range) may be some agent's source
 * port by the time the server restarts on it, and the restart would fail with EADDRINUSE.
 */
function freePorts(count, from = 20000) {
  const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  const inUse = new Set(spawnSync('ss', ['-Htan'], { encoding: 'utf8' }).stdout.split('\n').map((l) => Number(/:(\d+)\s/.exec(l)?.[1])));
  const free = [];
  for (let p = from + Math.floor(Math.random() * (low - from - 100)); free.length < count; p++) if (!inUse.has(p)) free.push(p);
  return free;
}
const serverPorts = () => {
  const [listenPort, listenHttpsPort] = freePorts(2);
  return { listenPort, listenHttpsPort };
};

/** RSS (kB), peak RSS (kB) and CPU time (ms, user + system) of a process, from /proc. */
function procStats(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return { rssKb: kb('VmRSS'), peakKb: kb('VmHWM'), cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK };
  } catch {
    return { rssKb: 0, peakKb: 0, cpuMs: 0 };
  }
}

/** Runs the CLI; resolves with its wall time (spawn → exit) and stdout. */
function cli(env, args) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(dist, 'fleet.js'), ...args], { env: { ...process.env, FLEET_CONFIG: env.config }, encoding: 'utf8', maxBuffer: 1 << 30 });
  const wallMs = performance.now() - t0;
  if (r.status !== 0 && !(args[0] === 'exec' && r.status === 1)) throw new Error(`fleet ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { wallMs, stdout: r.stdout, status: r.status };
}

/**
 * A Control client inside this process, for polling: a `fleet` process per poll would itself
 * take a good part of a core while thousands of agents connect.
 */
function controlClient(configFile) {
  const config = JSON.parse(readFileSync(configFile, 'utf8'));
  const ctx = config.contexts[config.current];
  const def = protoLoader.loadSync('fleet/v1/control.proto', { includeDirs: [join(root, 'proto')], longs: Number, defaults: true });
  const Control = grpc.loadPackageDefinition(def).fleet.v1.ControlService;
  const client = new Control(new URL(ctx.server).host, grpc.credentials.createSsl(Buffer.from(ctx.caPem)), {
    'grpc.ssl_target_name_override': 'fleet-server',
    'grpc.default_authority': 'fleet-server',
    'grpc.max_receive_message_length': 1 << 30,
  });
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${ctx.token}`);
  return {
    /** Online nodes among those matching `selector`; null while the server does not answer. */
    online: (selector) =>
      new Promise((resolve) => client.listNodes({ selector }, metadata, { deadline: Date.now() + 30_000 }, (err, res) => resolve(err ? null : res.nodes.filter((n) => n.online).length))),
    close: () => client.close(),
  };
}

const onlineCount = async (env) => {
  env.control ??= controlClient(env.config);
  return (await env.control.online('emulated=true')) ?? 0;
};
const enrollCount = (env) => JSON.parse(cli(env, ['audit', '--action', 'node.enroll', '--limit', '1000000', '-o', 'json']).stdout).filter((e) => e.ok).length;
const nodeCount = (env) => JSON.parse(cli(env, ['nodes', '-o', 'json']).stdout).length;

/** Starts the emulators for N agents; resolves when each has started all its agents. */
async function startEmulators(fleet, token, n, extraArgs) {
  const logDir = join(fleet.dir, 'emulator-logs');
  mkdirSync(logDir, { recursive: true });
  // The emulated agents' state (identities, result spools) on tmpfs by default: thousands of
  // agents' spool files on one disk, written from one thread, would measure the disk instead of
  // fleet (each real agent has a disk of its own).
  const stateDir = mkdtempSync(join(values['emulator-dir'], 'fleet-emulator-'));
  process.on('exit', () => rmSync(stateDir, { recursive: true, force: true }));
  const procs = [];
  const started = [];
  for (let first = 1, k = 0; first <= n; first += perEmulator, k++) {
    const count = Math.min(perEmulator, n - first + 1);
    const args = [join(dist, 'fleet-agent.js'), 'emulate', '--server', fleet.url, '--token', token, '--count', String(count), '--first', String(first), '--state-dir', stateDir];
    if (!values['real-exec']) args.push('--synthetic');
    const p = fleet.spawn(process.execPath, [...args, ...extraArgs], { env: { ...process.env, FLEET_LOG: 'warn' }, stdio: ['ignore', 'pipe', openSync(join(logDir, `emulator-${k}.log`), 'a')] });
    procs.push(p);
    started.push(
      new Promise((resolve, reject) => {
        let out = '';
        p.stdout.on('data', (d) => {
          out += d;
          const m = /emulator: (\d+) agents running \((\d+) enrolled, (\d+) reused(, \d+ refused: .*)?\) after ([\d.]+) s\n/.exec(out);
          if (m?.[4]) reject(new Error(`emulator ${k}: identities refused${m[4]}`));
          else if (m) resolve({ count: Number(m[1]), enrolled: Number(m[2]), seconds: Number(m[5]) });
        });
        p.once('exit', (code) => reject(new Error(`emulator ${k} exited (${code}) before starting its agents; see ${logDir}`)));
      }),
    );
  }
  return { procs, started: Promise.all(started) };
}

async function benchSize(n, runs, restart) {
  const { serverEnv, emulatorArgs, dir, broker } = await transport.setup();
  const nodeArgs = values['server-prof'] ? ['--cpu-prof', '--cpu-prof-dir', values['server-prof']] : [];
  const fleet = await startFleet({ env: serverEnv, nodeArgs, dir, ...serverPorts() });
  const token = cli(fleet, ['tokens', 'create', '--uses', String(n), '--ttl', '24h']).stdout.trim();
  const result = { n, emulators: Math.ceil(n / perEmulator), runs };

  // --- enroll and come online --------------------------------------------------------------------
  const t0 = performance.now();
  const emulators = await startEmulators(fleet, token, n, emulatorArgs);
  // Each poll lists every node on the server (tens of ms of its CPU at 10,000): not too often.
  const pollMs = Math.max(500, n / 5);
  let online = 0;
  const startedInfo = emulators.started.then((infos) => {
    result.allStartedMs = performance.now() - t0;
    result.enrolled = infos.reduce((a, i) => a + i.enrolled, 0);
    return infos;
  });
  await until(`${n} agents online`, async () => (online = await onlineCount(fleet)) === n, 15 * 60_000, pollMs).catch((err) => {
    throw new Error(`${err.message} (${online} online)`);
  });
  result.allOnlineMs = performance.now() - t0;
  await startedInfo;
  result.enrollPerSec = result.enrolled / (result.allStartedMs / 1000);
  // Let the connect burst settle (inventory, health reports), then measure 10 s of idle: heartbeats only.
  await new Promise((r) => setTimeout(r, 5000));
  const idle0 = [fleet.server.pid, ...emulators.procs.map((p) => p.pid)].map(procStats);
  await new Promise((r) => setTimeout(r, 10_000));
  const idle1 = [fleet.server.pid, ...emulators.procs.map((p) => p.pid)].map(procStats);
  result.serverIdleCpuPct = ((idle1[0].cpuMs - idle0[0].cpuMs) / 10_000) * 100;
  result.emulatorsIdleCpuPct = (idle1.slice(1).reduce((a, x, i) => a + x.cpuMs - idle0[i + 1].cpuMs, 0) / 10_000) * 100;

  // --- exec fan-out ---------------------------------------------------------------------------------
  const before = procStats(fleet.server.pid);
  const execStart = performance.now();
  const wall = [];
  const job = [];
  for (let i = 0; i <= runs; i++) {
    const r = cli(fleet, ['exec', '--all', '-o', 'json', '--', 'true']);
    const out = JSON.parse(r.stdout);
    const ok = out.runs.filter((x) => x.state === 'succeeded').length;
    if (out.runs.length !== n || ok !== n) throw new Error(`exec run ${i}: ${ok} of ${out.runs.length} succeeded (want ${n})`);
    if (i === 0) continue; // warm-up
    wall.push(r.wallMs);
    job.push(Date.parse(out.finishedAt) - Date.parse(out.createdAt));
  }
  const after = procStats(fleet.server.pid);
  // With --server-prof: where the exec runs sit in the server's profile (ms since it was spawned).
  if (values['server-prof']) result.execWindowMs = [execStart - fleet.spawnedAt, performance.now() - fleet.spawnedAt];
  Object.assign(result, {
    cliP50: p50(wall),
    cliP95: p95(wall),
    jobP50: p50(job),
    jobP95: p95(job),
    serverRssBefore: before.rssKb,
    serverRssAfter: after.rssKb,
    serverPeak: after.peakKb,
    serverCpuBeforeMs: before.cpuMs,
    serverCpuExecMs: after.cpuMs - before.cpuMs,
    emulatorRss: emulators.procs.map((p) => procStats(p.pid).rssKb),
    broker: broker ? procStats(broker.pid) : undefined,
  });

  // --- kill -9 the server, start it again, wait for everyone ----------------------------------------
  if (restart) {
    const enrollsBefore = enrollCount(fleet);
    const nodesBefore = nodeCount(fleet);
    fleet.server.kill('SIGKILL');
    await new Promise((r) => fleet.server.once('exit', r));
    const tKill = performance.now();
    const server = fleet.spawn(
      process.execPath,
      [...nodeArgs, join(dist, 'fleet-server.js'), '--data', fleet.dataDir, '--listen', `127.0.0.1:${fleet.port}`, '--https-listen', `127.0.0.1:${fleet.httpsPort}`],
      { env: { ...process.env, FLEET_LOG: 'warn', ...serverEnv }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    server.stdout.on('data', (d) => (out += d));
    await until('restarted server listening', () => /listening on/.test(out), 60_000, 20);
    const listeningMs = performance.now() - tKill;
    await until(`${n} agents online after the restart`, async () => (online = await onlineCount(fleet)) === n, 15 * 60_000, pollMs).catch((err) => {
      throw new Error(`${err.message} (${online} online)`);
    });
    const backMs = performance.now() - tKill;
    const stats = procStats(server.pid);
    Object.assign(result, {
      restart: {
        listeningMs,
        allOnlineMs: backMs,
        reenrolled: enrollCount(fleet) - enrollsBefore,
        nodesBefore,
        nodesAfter: nodeCount(fleet),
        serverCpuMs: stats.cpuMs,
        serverRss: stats.rssKb,
      },
    });
  }
  fleet.control?.close();
  for (const p of emulators.procs) p.kill('SIGKILL');
  if (values['server-prof'] && fleet.server.exitCode === null) {
    // A killed server writes no profile: stop it the way an operator would, then wait for it.
    fleet.server.kill('SIGTERM');
    await Promise.race([new Promise((r) => fleet.server.once('exit', r)), new Promise((r) => setTimeout(r, 30_000))]);
  }
  fleet.server.kill('SIGKILL');
  broker?.kill('SIGKILL');
  return result;
}

const results = [];
for (const [i, n] of sizes.entries()) {
  const runs = runCounts[i] ?? runCounts.at(-1);
  const restart = values.restart && i === sizes.length - 1;
  process.stderr.write(`--- ${n} agents (${Math.ceil(n / perEmulator)} emulator process(es)), ${runs} exec runs${restart ? ', then a server restart' : ''}\n`);
  const r = await benchSize(n, runs, restart);
  results.push(r);
  process.stderr.write(`${JSON.stringify(r)}\n`);
}

console.log(`\nfan-out with emulated agents over ${values.transport}, ${new Date().toISOString()}, ${values['real-exec'] ? 'real' : 'synthetic'} exec, ${perEmulator} agents per emulator process`);
console.log('| agents | emulators | enrollments/s | all online after | idle CPU: server / emulators | exec CLI p50 / p95 | server job p50 / p95 | server RSS before → after exec | server CPU during exec | emulator RSS (each) |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  console.log(
    `| ${r.n} | ${r.emulators} | ${Math.round(r.enrollPerSec)} | ${s1(r.allOnlineMs)} | ${r.serverIdleCpuPct.toFixed(0)} % / ${r.emulatorsIdleCpuPct.toFixed(0)} % | ${ms(r.cliP50)} / ${ms(r.cliP95)} | ${ms(r.jobP50)} / ${ms(r.jobP95)} | ${mib(r.serverRssBefore)} → ${mib(r.serverRssAfter)} | ${s1(r.serverCpuExecMs)} for ${r.runs + 1} jobs | ${r.emulatorRss.map(mib).join(', ')} |`,
  );
}
for (const r of results.filter((x) => x.broker)) console.log(`nats-server with ${r.n} agents after the exec runs: RSS ${mib(r.broker.rssKb)} (peak ${mib(r.broker.peakKb)}), CPU ${s1(r.broker.cpuMs)} in all`);
for (const r of results.filter((x) => x.restart)) {
  const x = r.restart;
  console.log(`\nrestart with ${r.n} agents: kill -9 → listening ${s1(x.listeningMs)}, → all ${r.n} online ${s1(x.allOnlineMs)}; re-enrolled ${x.reenrolled}; nodes ${x.nodesBefore} → ${x.nodesAfter}; new server: CPU ${s1(x.serverCpuMs)}, RSS ${mib(x.serverRss)}`);
}
process.exit(0);
