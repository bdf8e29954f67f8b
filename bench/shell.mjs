// Benchmark: remote shells. Keystroke echo round trip (p50, p95) through `fleet shell` (CLI →
// server → agent → PTY and back) and bulk throughput (`cat` of a 200 MB file), side by side with
// `ssh` to a loopback sshd in the same run; and the peak memory of every fleet process during the
// bulk transfer, to show flow control keeps it bounded.
//
//   npm run build && node bench/shell.mjs [--keys 200] [--mb 200]
import * as pty from 'node-pty';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { dist, median, percentile, startFleet, startSshd, until } from './lib.mjs';

const { values } = parseArgs({ options: { keys: { type: 'string', default: '200' }, mb: { type: 'string', default: '200' } } });
const KEYS = Number(values.keys);
const MB = Number(values.mb);

const f = await startFleet();
const token = f.fleet(['tokens', 'create']).trim();
const agent = f.spawn(process.execPath, [join(dist, 'fleet-agent.js'), 'run', '--name', 'bench-shell', '--server', f.url, '--token', token], {
  env: { ...process.env, FLEET_AGENT_DIR: join(f.dir, 'agent'), FLEET_LOG: 'warn' },
  stdio: 'ignore',
});
await until('agent online', () => JSON.parse(f.fleet(['nodes', '-o', 'json'])).some((n) => n.online));
const sshConfig = await startSshd(f.dir, f.spawn);
const file = join(f.dir, 'bulk.bin');
execFileSync('sh', ['-c', `head -c ${MB * 1048576} /dev/urandom > ${file}`]);
const env = { ...process.env, FLEET_CONFIG: join(f.dir, 'cli.json'), TERM: 'xterm' };

/** Echo round trips: type one character at a time into an interactive session and wait for it. */
async function echoTimes(cmd, args) {
  const term = pty.spawn(cmd, args, { cols: 120, rows: 40, env });
  let out = '';
  term.onData((d) => (out += d));
  term.write('stty -echoctl; echo re""ady\r');
  await until('the remote shell', () => out.includes('ready'), 20_000, 10);
  const times = [];
  for (let i = 0; i < KEYS + 10; i++) {
    const ch = 'abcdefghij'[i % 10];
    const before = out.length;
    const t0 = performance.now();
    term.write(ch);
    await until('echo', () => out.length > before && out.slice(before).includes(ch), 10_000, 0);
    if (i >= 10) times.push(performance.now() - t0);
    if (i % 50 === 49) term.write('\x15'); // ^U: keep the line short
  }
  term.write('\x15exit\r');
  await new Promise((r) => term.onExit(r));
  return times;
}

/** Bulk: the remote side cats the file, the local side counts the bytes; returns MB/s. */
function bulk(cmd, args, sample) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let bytes = 0;
    const timer = sample ? setInterval(sample, 100) : undefined;
    p.stdout.on('data', (d) => (bytes += d.length));
    p.on('close', (code) => {
      clearInterval(timer);
      if (code !== 0 || bytes !== MB * 1048576) reject(new Error(`${cmd}: exit ${code}, ${bytes} bytes`));
      else resolve(MB / ((performance.now() - t0) / 1000));
    });
  });
}

const rss = (pid) => {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0; // the process ended between listing and reading
  }
};
const serverPid = Number(execFileSync('sh', ['-c', `pgrep -f '${join(f.dir, 'data')}' | head -n 1`]).toString());
const peak = { server: 0, agent: 0, cli: 0 };

const fleetCli = [join(dist, 'fleet.js'), 'shell', 'bench-shell'];
const fleetEcho = await echoTimes(process.execPath, [...fleetCli, '--', 'sh']);
const fleetBulk = await bulk(process.execPath, [...fleetCli, '--', 'cat', file], () => {
  peak.server = Math.max(peak.server, rss(serverPid));
  peak.agent = Math.max(peak.agent, rss(agent.pid));
  for (const pid of execFileSync('sh', ['-c', `pgrep -f 'fleet.js shell' || true`]).toString().split('\n').filter(Boolean)) peak.cli = Math.max(peak.cli, rss(Number(pid)));
});
const base = { server: rss(serverPid), agent: rss(agent.pid) };

let sshEcho = null;
let sshBulk = null;
if (sshConfig) {
  sshEcho = await echoTimes('ssh', ['-tt', '-F', sshConfig, 'peer1', 'sh']);
  sshBulk = await bulk('ssh', ['-F', sshConfig, 'peer1', 'cat', file]);
}

const ms = (x) => `${x.toFixed(2)} ms`;
console.log(`remote shell, ${new Date().toISOString()}`);
console.log(`  keystroke echo (${KEYS} keys):  fleet shell p50 ${ms(median(fleetEcho))}, p95 ${ms(percentile(fleetEcho, 0.95))}`);
if (sshEcho) console.log(`                              ssh -tt    p50 ${ms(median(sshEcho))}, p95 ${ms(percentile(sshEcho, 0.95))}   (fleet/ssh p50: ${(median(fleetEcho) / median(sshEcho)).toFixed(2)}x)`);
console.log(`  bulk cat of ${MB} MB:          fleet shell ${fleetBulk.toFixed(0)} MB/s`);
if (sshBulk) console.log(`                              ssh        ${sshBulk.toFixed(0)} MB/s   (fleet/ssh: ${(fleetBulk / sshBulk).toFixed(2)}x)`);
console.log(`  peak RSS during the fleet transfer: server ${peak.server.toFixed(0)} MiB, agent ${peak.agent.toFixed(0)} MiB, CLI ${peak.cli.toFixed(0)} MiB (after: server ${base.server.toFixed(0)}, agent ${base.agent.toFixed(0)} MiB)`);
process.exit(0);
