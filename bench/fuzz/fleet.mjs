// The real fleet the fuzzer attacks: fleet-server from dist/ (via bench/lib.mjs's startFleet) with
// its PXE port on, Debian's nats-server beside it when installed, a gRPC agent and a NATS agent
// that must keep answering `fleet exec`, and the client certificate of a third enrolled node that
// the fuzzer presents on the Agent service. Also the health check run after every batch.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dist, have, startFleet, until } from '../lib.mjs';

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Resident memory of a process in KiB (from /proc), or 0 when it is gone. */
export function rssKiB(pid) {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

const alive = (p) => p.exitCode === null && p.signalCode === null;

/**
 * Starts the fleet under attack. `nats: false` (or no nats-server on PATH) leaves the NATS agent out.
 * Everything started is killed when the process exits (bench/lib.mjs), or by `stop()`.
 */
export async function startFuzzFleet({ nats = true } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-fuzz-'));
  const dataDir = join(dir, 'data');
  const env = {};
  const started = [];
  const track = (p) => (started.push(p), p);
  // nats-server starts before startFleet, which cleans up only what it started.
  process.on('exit', () => started.forEach((p) => alive(p) && p.kill('SIGKILL')));
  const useNats = nats && have('nats-server');
  let natsUrl = '';
  if (useNats) {
    const trust = spawnSync(process.execPath, [join(dist, 'fleet-server.js'), 'nats-config', '--data', dataDir], { encoding: 'utf8' });
    if (trust.status !== 0) throw new Error(`fleet-server nats-config: ${trust.stderr}`);
    const port = await freePort();
    const conf = join(dir, 'nats.conf');
    writeFileSync(conf, `listen: 127.0.0.1:${port}\nmax_payload: 8MB\n${trust.stdout}\n`);
    const broker = track(spawn('nats-server', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] }));
    let log = '';
    broker.stderr.on('data', (d) => (log += d));
    await until('nats-server', () => /Server is ready/.test(log), 15_000, 50);
    natsUrl = `nats://127.0.0.1:${port}`;
    env.FLEET_NATS = natsUrl;
  }
  const pxePort = await freePort();
  env.FLEET_PXE_LISTEN = `127.0.0.1:${pxePort}`;
  // Refusals are logged as warnings, one per bad input: only errors (an unexpected failure is
  // logged in full at error level) reach the terminal.
  env.FLEET_LOG = 'error';
  // The fuzzer hammers from one address on purpose: lift the per-address limit on failed tokens
  // (test/access.test.ts covers the limit itself).
  env.FLEET_SIGNIN_FAILURES = '100000000';
  const fleet = await startFleet({ dir, env });
  const token = fleet.fleet(['tokens', 'create', '--uses', '3', '--label', 'fuzz=agent']).trim();
  const agentDir = (name) => join(dir, 'agents', name);
  const startAgent = (name, extra = []) => {
    mkdirSync(join(dir, 'agents', name, 'cwd'), { recursive: true });
    return track(
      fleet.spawn(process.execPath, [join(dist, 'fleet-agent.js'), 'run', '--name', name, '--server', fleet.url, '--token', token, ...extra], {
        env: { ...process.env, FLEET_AGENT_DIR: agentDir(name), FLEET_LOG: 'warn' },
        cwd: join(dir, 'agents', name, 'cwd'),
        // Each agent's log (it warns about every undecodable message) goes to DIR/NAME.log.
        stdio: ['ignore', 'ignore', openSync(join(dir, `${name}.log`), 'a')],
      }),
    );
  };
  const nodesJson = () => JSON.parse(fleet.fleet(['nodes', '-o', 'json']));
  const online = async (names) => until(`nodes ${names.join(', ')} online`, () => names.every((n) => nodesJson().some((x) => x.name === n && x.online)), 60_000, 200);

  // A node enrolled only to lend the fuzzer its client certificate; its agent is stopped again.
  const lender = startAgent('fuzz-cert');
  await online(['fuzz-cert']);
  lender.kill('SIGKILL');
  const agents = { 'fuzz-grpc': startAgent('fuzz-grpc') };
  if (useNats) agents['fuzz-nats'] = startAgent('fuzz-nats', ['--nats', natsUrl]);
  await online(Object.keys(agents));
  const nodeId = (name) => JSON.parse(readFileSync(join(agentDir(name), 'node.json'), 'utf8')).nodeId;
  const read = (name, file) => readFileSync(join(agentDir(name), file));
  let checks = 0;

  return {
    dir,
    dataDir,
    fleet,
    natsUrl,
    pxePort,
    adminToken: adminFromConfig(fleet.config),
    joinToken: token,
    agents,
    nodeIds: Object.fromEntries(Object.keys(agents).map((n) => [n, nodeId(n)])),
    /** The lender node's TLS identity and the fleet CA. */
    tls: { ca: read('fuzz-cert', 'ca.crt'), key: read('fuzz-cert', 'agent.key'), cert: read('fuzz-cert', 'agent.crt') },
    /** Resident memory of the server and agents, KiB. */
    rss: () => Object.fromEntries([['server', rssKiB(fleet.server.pid)], ...Object.entries(agents).map(([n, p]) => [n, rssKiB(p.pid)])]),
    /**
     * After a batch: every process still the one started (no crash, no restart), `fleet nodes`
     * lists the agents online, and `fleet exec` on each agent prints what it should. Returns the
     * problems found (empty: healthy).
     */
    async health() {
      const problems = [];
      if (!alive(fleet.server)) problems.push(`fleet-server exited (${fleet.server.signalCode ?? fleet.server.exitCode})`);
      for (const [name, p] of Object.entries(agents)) if (!alive(p)) problems.push(`agent ${name} exited (${p.signalCode ?? p.exitCode})`);
      if (problems.length) return problems;
      const marker = `fuzz-ok-${++checks}`;
      try {
        await online(Object.keys(agents));
        const out = JSON.parse(fleet.fleet(['exec', ...Object.keys(agents), '-o', 'json', '--timeout', '30s', '--', 'echo', marker]));
        for (const name of Object.keys(agents)) {
          const run = out.runs.find((r) => r.node === name);
          if (run?.state !== 'succeeded' || run.stdout !== `${marker}\n`) problems.push(`fleet exec on ${name} gave ${JSON.stringify(run)}`);
        }
      } catch (err) {
        problems.push(`the server no longer serves: ${err.message.slice(0, 500)}`);
      }
      return problems;
    },
    /** Kills everything started and removes the temporary directory (also for test runners, whose workers may never emit 'exit'). */
    stop() {
      for (const p of started) if (alive(p)) p.kill('SIGKILL');
      if (alive(fleet.server)) fleet.server.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function adminFromConfig(file) {
  const text = readFileSync(file, 'utf8');
  return /fa1_[0-9a-f]{12}_[0-9a-f]{40}/.exec(text)?.[0];
}
