// Benchmark: desired state across N real agents (each converging in its own root directory) with
// `fleet apply`, next to ansible-playbook doing the same work over OpenSSH in the same run.
//
//   npm run build && node bench/apply.mjs [--nodes 10] [--files 20] [--runs 5]
//
// Each round, both tools converge every node to F templated files (mode 0640) plus a guarded
// command, twice: once with new content (every file changes) and once with the same content
// (nothing changes — the "is everything still as it should be" run). Printed: the median wall time
// of the real CLI / ansible-playbook process for each, and the ratios. ansible runs with the
// settings a practised user sets (pipelining, ControlMaster/ControlPersist, forks = N, no fact
// gathering). Every target of both tools is on this machine: one sshd on loopback serves the N
// ansible hosts, so both pay for N separate connections/processes. Needs root to install
// ansible and openssh-server when missing.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { aptInstall, dist, have, median, startFleet, startSshd, until } from './lib.mjs';

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '10' }, files: { type: 'string', default: '20' }, runs: { type: 'string', default: '5' } } });
const N = Number(values.nodes);
const F = Number(values.files);
const RUNS = Number(values.runs);
const ms = (x) => `${x.toFixed(0)} ms`;

const { dir, url, fleet, spawn: startProc } = await startFleet();
const token = fleet(['tokens', 'create', '--uses', String(N), '--label', 'bench=apply']).trim();
for (let i = 1; i <= N; i++) {
  const root = join(dir, 'roots', `node-${i}`);
  mkdirSync(root, { recursive: true });
  startProc(process.execPath, [join(dist, 'fleet-agent.js'), 'run', '--name', `node-${i}`, '--server', url, '--token', token], {
    env: { ...process.env, FLEET_AGENT_DIR: join(dir, `agent-${i}`), FLEET_AGENT_ROOT: root, FLEET_LOG: 'warn' },
    stdio: 'ignore',
  });
}
await until(`${N} agents online`, () => JSON.parse(fleet(['nodes', '-o', 'json'])).filter((n) => n.online).length === N);

const specFile = join(dir, 'bench.yaml');
const writeSpec = (round) => {
  const files = Array.from(
    { length: F },
    (_, f) => `  - type: file\n    path: /etc/bench/file-${f}.conf\n    mode: "0640"\n    template: true\n    content: "node={{ node.name }} file=${f} round=${round}\\n"\n`,
  ).join('');
  writeFileSync(specFile, `name: bench\nselector: bench=apply\nrollout:\n  batch: ${N}\nresources:\n${files}  - type: exec\n    name: init\n    command: mkdir -p var/lib/bench && touch var/lib/bench/init\n    creates: /var/lib/bench/init\n`);
};
const fleetApply = () => {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(dist, 'fleet.js'), 'apply', '-f', specFile], { env: { ...process.env, FLEET_CONFIG: join(dir, 'cli.json') }, encoding: 'utf8' });
  const wall = performance.now() - t0;
  if (r.status !== 0) throw new Error(`fleet apply failed: ${r.stdout}${r.stderr}`);
  return wall;
};

// --- ansible ----------------------------------------------------------------------------------
if (!have('ansible-playbook')) aptInstall(['ansible']);
const sshConfig = have('ansible-playbook') ? await startSshd(dir, startProc) : null;
let ansibleRun = null;
if (sshConfig) {
  const ssh = readFileSync(sshConfig, 'utf8');
  const port = /Port (\d+)/.exec(ssh)[1];
  const key = /IdentityFile (\S+)/.exec(ssh)[1];
  const adir = join(dir, 'ansible');
  mkdirSync(join(adir, 'cp'), { recursive: true });
  const hosts = Array.from({ length: N }, (_, i) => `peer${i + 1} ansible_host=127.0.0.1 ansible_port=${port} root=${join(dir, 'ansible-roots', `peer${i + 1}`)}`);
  writeFileSync(join(adir, 'inventory'), `[bench]\n${hosts.join('\n')}\n[bench:vars]\nansible_user=root\nansible_ssh_private_key_file=${key}\nansible_python_interpreter=/usr/bin/python3\n`);
  writeFileSync(
    join(adir, 'ansible.cfg'),
    `[defaults]\ninventory = ${join(adir, 'inventory')}\nhost_key_checking = False\nforks = ${N}\ngathering = explicit\nstdout_callback = dense\nretry_files_enabled = False\n[ssh_connection]\npipelining = True\nssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR\ncontrol_path_dir = ${join(adir, 'cp')}\n`,
  );
  writeFileSync(
    join(adir, 'bench.yml'),
    `- hosts: bench
  gather_facts: false
  tasks:
    - name: directories
      file: { path: "{{ root }}/etc/bench", state: directory, mode: "0755" }
    - name: files
      copy:
        dest: "{{ root }}/etc/bench/file-{{ item }}.conf"
        content: "node={{ inventory_hostname }} file={{ item }} round={{ round }}\\n"
        mode: "0640"
      loop: "{{ range(0, ${F}) | list }}"
    - name: init
      shell: mkdir -p var/lib/bench && touch var/lib/bench/init
      args: { chdir: "{{ root }}", creates: "{{ root }}/var/lib/bench/init" }
`,
  );
  ansibleRun = (round) => {
    const t0 = performance.now();
    const r = spawnSync('ansible-playbook', [join(adir, 'bench.yml'), '-e', `round=${round}`], { env: { ...process.env, ANSIBLE_CONFIG: join(adir, 'ansible.cfg') }, encoding: 'utf8' });
    const wall = performance.now() - t0;
    if (r.status !== 0) throw new Error(`ansible-playbook failed: ${r.stdout}${r.stderr}`);
    return wall;
  };
  process.stderr.write('ansible warm-up...\n');
  ansibleRun(0); // warm-up: creates the roots and the control connections
}

// --- rounds, interleaved ----------------------------------------------------------------------
writeSpec(0);
process.stderr.write('fleet warm-up...\n');
fleetApply(); // warm-up
const results = { fleetChange: [], fleetSame: [], ansibleChange: [], ansibleSame: [] };
for (let round = 1; round <= RUNS; round++) {
  writeSpec(round);
  results.fleetChange.push(fleetApply());
  results.fleetSame.push(fleetApply());
  if (ansibleRun) {
    results.ansibleChange.push(ansibleRun(round));
    results.ansibleSame.push(ansibleRun(round));
  }
  const last = (xs) => (xs.length ? ms(xs.at(-1)) : '-');
  process.stderr.write(`round ${round}/${RUNS}: fleet ${last(results.fleetChange)} / ${last(results.fleetSame)}, ansible ${last(results.ansibleChange)} / ${last(results.ansibleSame)}\n`);
}
// Both really converged every node.
for (let i = 1; i <= N; i++) {
  const text = readFileSync(join(dir, 'roots', `node-${i}`, 'etc/bench', `file-${F - 1}.conf`), 'utf8');
  if (text !== `node=node-${i} file=${F - 1} round=${RUNS}\n`) throw new Error(`node-${i} did not converge: ${text}`);
}

console.log(`\ndesired state on ${N} nodes, ${F} files + 1 guarded command each, ${RUNS} rounds (medians of the CLI wall time)`);
console.log(`  fleet apply, every file changes:    ${ms(median(results.fleetChange))}`);
console.log(`  fleet apply, nothing to change:     ${ms(median(results.fleetSame))}`);
if (ansibleRun) {
  console.log(`  ansible-playbook, every file changes: ${ms(median(results.ansibleChange))}  (${(median(results.ansibleChange) / median(results.fleetChange)).toFixed(1)}× fleet)`);
  console.log(`  ansible-playbook, nothing to change:  ${ms(median(results.ansibleSame))}  (${(median(results.ansibleSame) / median(results.fleetSame)).toFixed(1)}× fleet)`);
} else {
  console.log('  ansible/sshd not available (run as root to install them): peer skipped');
}
process.exit(0);
