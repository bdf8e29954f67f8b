// The quick start (`npm start`): a server on the embedded defaults, one local agent enrolled
// with a fresh join token, a `fleet exec` across it, and what to try next. Runs until Ctrl-C.
// Everything lives in ./fleet-data (or $FLEET_DATA); a second run reuses it.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const dist = join(root, 'dist');
const data = resolve(process.env.FLEET_DATA ?? 'fleet-data');
const demo = join(data, 'demo');
const config = join(demo, 'fleet-config.json');
const listen = process.env.FLEET_LISTEN ?? '127.0.0.1:7443';
const children = [];

function fail(message) {
  process.stderr.write(`demo: ${message}\n`);
  for (const c of children) c.kill('SIGTERM');
  process.exit(1);
}

function start(bin, args, env, label) {
  const child = spawn(process.execPath, [join(dist, bin), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.output = '';
  child.stdout.on('data', (d) => (child.output += d));
  child.stderr.on('data', (d) => (child.output += d));
  child.on('exit', (code, signal) => {
    if (!stopping) fail(`${label} stopped unexpectedly (${signal ?? `exit ${code}`}):\n${child.output.slice(-2000)}`);
  });
  children.push(child);
  return child;
}

function fleet(args, options = {}) {
  const r = spawnSync(process.execPath, [join(dist, 'fleet.js'), ...args], { env: { ...process.env, FLEET_CONFIG: config }, encoding: 'utf8', ...options });
  if (r.status !== 0 && !options.allowFail) fail(`fleet ${args.join(' ')} failed:\n${r.stderr ?? ''}`);
  return r;
}

async function waitFor(what, check, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  process.stdout.write('\nStopping the demo server and agent...\n');
  let left = children.length;
  for (const c of children) {
    c.once('exit', () => --left === 0 && process.exit(0));
    c.kill('SIGTERM');
  }
  setTimeout(() => process.exit(0), 5000).unref();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

if (existsSync(join(data, 'fleet.db')) && !existsSync(config)) {
  fail(`${data} holds a fleet server that the demo did not create; set FLEET_DATA to another directory`);
}
mkdirSync(demo, { recursive: true, mode: 0o700 });

process.stdout.write(`Starting fleet-server (data in ${data})...\n`);
const server = start('fleet-server.js', ['--data', data, '--listen', listen], { FLEET_LOG: 'warn' }, 'fleet-server');
const [, port, caHash] = await waitFor('the server to listen', () => /listening on \S*:(\d+)\nCA fingerprint: sha256:([0-9a-f]{64})/.exec(server.output));
const url = `https://127.0.0.1:${port}`;
const admin = /\n {2}(fa1_[0-9a-f_]+)\n/.exec(server.output)?.[1];
if (admin) {
  fleet(['login', '--server', url, '--token', admin, '--ca-hash', `sha256:${caHash}`]);
  process.stdout.write(`First start: logged the CLI in as admin (config ${config}).\n`);
}

const agentDir = join(demo, 'agent');
const enrolled = existsSync(join(agentDir, 'node.json'));
const agentArgs = ['run', '--name', 'local'];
if (!enrolled) {
  const token = fleet(['tokens', 'create', '--ttl', '10m', '--label', 'role=demo', '--description', 'npm start demo']).stdout.trim();
  agentArgs.push('--server', url, '--token', token, '--label', 'env=dev');
  process.stdout.write('Created a one-use join token and enrolling a local agent...\n');
}
start('fleet-agent.js', agentArgs, { FLEET_AGENT_DIR: agentDir, FLEET_LOG: 'warn' }, 'fleet-agent');
await waitFor('the local node to come online', () => {
  const r = fleet(['nodes', '-o', 'json'], { allowFail: true });
  return r.status === 0 && JSON.parse(r.stdout).some((n) => n.name === 'local' && n.online);
});

process.stdout.write('\n$ fleet nodes\n');
fleet(['nodes'], { stdio: ['ignore', 'inherit', 'inherit'] });
process.stdout.write(`\n$ fleet exec -l role=demo -- sh -c 'echo "hello from $(hostname)"; uname -sr'\n`);
fleet(['exec', '-l', 'role=demo', '--', 'sh', '-c', 'echo "hello from $(hostname)"; uname -sr'], { stdio: ['ignore', 'inherit', 'inherit'] });

const cli = `node ${join(dist, 'fleet.js')}`;
process.stdout.write(`
The demo fleet is running: a server on ${url} and one agent (node "local").
Try next, in another terminal:

  export FLEET_CONFIG=${config}
  ${cli} nodes -o wide
  ${cli} nodes show local
  ${cli} exec -l role=demo -- 'df -h / | tail -n 1'
  ${cli} jobs list
  ${cli} tokens create --uses 5 --label role=web    # then enroll more machines with fleet-agent

Docs: docs/install.md, docs/exec.md, docs/security.md. Press Ctrl-C to stop.
`);
