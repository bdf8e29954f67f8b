// Benchmark: round-trip time of `fleet exec --all -- true` over N real agents on this machine,
// next to pdsh over OpenSSH (the classic peer) to N loopback targets in the same run.
//
//   npm run build && node bench/exec-fanout.mjs [--agents 10] [--runs 20]
//
// Prints median and p90 wall time of the real CLI process (what a user waits for), the server's
// own job time (created → last result stored), and the ratio to pdsh. Needs root only to install
// pdsh and openssh-server when they are missing; without them the peer is skipped with a note.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { aptInstall, dist, have, median, percentile, startFleet, startSshd, until } from './lib.mjs';

const { values } = parseArgs({ options: { agents: { type: 'string', default: '10' }, runs: { type: 'string', default: '20' } } });
const N = Number(values.agents);
const RUNS = Number(values.runs);
const p90 = (xs) => percentile(xs, 0.9);
const ms = (x) => `${x.toFixed(1)} ms`;
const { dir, url, fleet, spawn: startProc } = await startFleet();
const token = fleet(['tokens', 'create', '--uses', String(N)]).trim();
for (let i = 1; i <= N; i++) {
  startProc(process.execPath, [join(dist, 'fleet-agent.js'), 'run', '--name', `bench-${i}`, '--server', url, '--token', token], {
    env: { ...process.env, FLEET_AGENT_DIR: join(dir, `agent-${i}`), FLEET_LOG: 'warn' },
    stdio: 'ignore',
  });
}
await until(`${N} agents online`, () => JSON.parse(fleet(['nodes', '-o', 'json'])).filter((n) => n.online).length === N);

const fleetWall = [];
const fleetServer = [];
for (let i = 0; i < RUNS + 2; i++) {
  const t0 = performance.now();
  const out = JSON.parse(fleet(['exec', '--all', '-o', 'json', '--', 'true']));
  const wall = performance.now() - t0;
  if (out.runs.length !== N || out.runs.some((r) => r.state !== 'succeeded')) throw new Error('a run failed');
  if (i < 2) continue; // warm-up
  fleetWall.push(wall);
  fleetServer.push(Date.parse(out.finishedAt) - Date.parse(out.createdAt));
}

// --- pdsh over ssh ----------------------------------------------------------------------------
let pdshWall = null;
let pdshNote = '';
if (!have('pdsh')) aptInstall(['pdsh']);
const sshConfig = have('pdsh') ? await startSshd(dir, startProc) : null;
if (sshConfig) {
  // N target names for one loopback sshd: every target is its own ssh connection, as with N hosts.
  const hosts = Array.from({ length: N }, (_, i) => `peer${i + 1}`);
  const env = { ...process.env, PDSH_RCMD_TYPE: 'ssh', PDSH_SSH_ARGS_APPEND: `-F ${sshConfig}` };
  pdshWall = [];
  for (let i = 0; i < RUNS + 2; i++) {
    const t0 = performance.now();
    const r = spawnSync('pdsh', ['-f', String(Math.max(N, 32)), '-w', hosts.join(','), 'true'], { env, encoding: 'utf8' });
    const wall = performance.now() - t0;
    if (r.status !== 0) throw new Error(`pdsh failed: ${r.stderr}`);
    if (i >= 2) pdshWall.push(wall);
  }
} else {
  pdshNote = 'pdsh/sshd not available (run as root to install them): peer skipped';
}

console.log(`exec fan-out over ${N} agents, ${RUNS} runs each (after 2 warm-up runs), ${new Date().toISOString()}`);
console.log(`  fleet exec --all -- true   CLI wall: median ${ms(median(fleetWall))}, p90 ${ms(p90(fleetWall))}`);
console.log(`                             server job time (created → all results stored): median ${ms(median(fleetServer))}, p90 ${ms(p90(fleetServer))}`);
if (pdshWall) {
  console.log(`  pdsh -R ssh -w <${N} hosts> true   wall: median ${ms(median(pdshWall))}, p90 ${ms(p90(pdshWall))}`);
  console.log(`  ratio pdsh / fleet (median wall): ${(median(pdshWall) / median(fleetWall)).toFixed(2)}x`);
} else {
  console.log(`  ${pdshNote}`);
}
process.exit(0);
