// Benchmark: `curl … /install.sh | sh -s -- --token T` on a fresh host → node online in
// `fleet nodes`, median of 5; plus the standalone agent's size and its idle memory (RSS).
// The "host" is a network namespace with an install root of its own. Needs root, and the
// standalone agent build:
//
//   npm run build && npm run build:agent && node bench/install-online.mjs [--runs 5]
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { dist, median, startFleet, until } from './lib.mjs';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const RUNS = Number(values.runs);
const ns = `fleet-bench-${process.pid}`;
const sh = (cmd) => execFileSync('sh', ['-c', cmd], { stdio: 'pipe' }).toString();
sh(`ip netns add ${ns}; ip link add vfb${process.pid}a type veth peer name vfb${process.pid}b; ip link set vfb${process.pid}b netns ${ns};
  ip addr add 10.232.7.1/30 dev vfb${process.pid}a; ip link set vfb${process.pid}a up;
  ip netns exec ${ns} ip addr add 10.232.7.2/30 dev vfb${process.pid}b; ip netns exec ${ns} ip link set vfb${process.pid}b up; ip netns exec ${ns} ip link set lo up`);
process.on('exit', () => spawnSync('sh', ['-c', `for p in $(ip netns pids ${ns}); do kill -9 $p; done; ip netns del ${ns}`]));

const f = await startFleet({ host: '10.232.7.1' });
const online = (name) => JSON.parse(f.fleet(['nodes', '-o', 'json'])).find((n) => n.name === name)?.online;
const times = [];
let rssKiB = 0;
for (let i = 1; i <= RUNS; i++) {
  const root = mkdtempSync(join(tmpdir(), 'fleet-bench-root-'));
  const token = f.fleet(['tokens', 'create']).trim();
  const name = `bench-install-${i}`;
  const t0 = performance.now();
  const r = spawnSync('ip', ['netns', 'exec', ns, 'sh', '-c', `curl -fsSL -k --pinnedpubkey '${f.pin}' ${f.installUrl}/install.sh | sh -s -- --token ${token} --root ${root} --init none --name ${name}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`install failed:\n${r.stdout}${r.stderr}`);
  await until(`${name} online`, () => online(name), 60_000, 20);
  times.push(performance.now() - t0);
  if (i === RUNS) {
    // Idle memory of the agent itself, after it has settled.
    await new Promise((ok) => setTimeout(ok, 10_000));
    const pid = sh(`pgrep -f '${root}/opt/fleet/bin/fleet-agent run' | head -n 1`).trim();
    rssKiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  }
  spawnSync('ip', ['netns', 'exec', ns, join(root, 'opt/fleet/bin/fleet-agent-uninstall.sh')], { stdio: 'ignore' });
  rmSync(root, { recursive: true, force: true });
}

const mib = (file) => (statSync(join(dist, file)).size / 1048576).toFixed(1);
console.log(`curl | sh → online, ${RUNS} fresh installs, ${new Date().toISOString()}`);
console.log(`  median ${(median(times) / 1000).toFixed(2)} s (each: ${times.map((t) => (t / 1000).toFixed(2)).join(', ')} s)`);
console.log(`standalone agent: fleet-agent-linux-x64 ${mib('fleet-agent-linux-x64')} MiB, .gz ${mib('fleet-agent-linux-x64.gz')} MiB${(() => {
  try {
    return `, .zst ${mib('fleet-agent-linux-x64.zst')} MiB`;
  } catch {
    return '';
  }
})()}`);
console.log(`  idle RSS after 10 s connected: ${(rssKiB / 1024).toFixed(1)} MiB`);
process.exit(0);
