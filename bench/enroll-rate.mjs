// Benchmark: enrollments per second. 1,000 agents' worth of Enroll calls (each a fresh P-256 key
// and CSR, made before timing) against a real fleet-server, 32 in flight, over gRPC with TLS.
//
//   npm run build && node bench/enroll-rate.mjs [--count 1000] [--concurrency 32]
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { credentials, loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { spawn, spawnSync } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { count: { type: 'string', default: '1000' }, concurrency: { type: 'string', default: '32' } } });
const COUNT = Number(values.count);
const CONCURRENCY = Number(values.concurrency);
const root = resolve(import.meta.dirname, '..');
const dist = join(root, 'dist');
const dir = mkdtempSync(join(tmpdir(), 'fleet-bench-enroll-'));
const config = join(dir, 'cli.json');
x509.cryptoProvider.set(webcrypto);

const server = spawn(process.execPath, [join(dist, 'fleet-server.js'), '--data', join(dir, 'data'), '--listen', '127.0.0.1:0', '--https-listen', '127.0.0.1:0'], {
  env: { ...process.env, FLEET_LOG: 'warn' },
  stdio: ['ignore', 'pipe', 'inherit'],
});
process.on('exit', () => {
  server.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});
let out = '';
server.stdout.on('data', (d) => (out += d));
const deadline = Date.now() + 30_000;
while (!/\n {2}fa1_/.test(out)) {
  if (Date.now() > deadline) throw new Error(`server did not start:\n${out}`);
  await new Promise((r) => setTimeout(r, 50));
}
const port = /listening on \S*:(\d+)/.exec(out)[1];
const caHash = /CA fingerprint: sha256:([0-9a-f]{64})/.exec(out)[1];
const admin = /\n {2}(fa1_[0-9a-f_]+)\n/.exec(out)[1];
const fleet = (args) => {
  const r = spawnSync(process.execPath, [join(dist, 'fleet.js'), ...args], { env: { ...process.env, FLEET_CONFIG: config }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
};
fleet(['login', '--server', `https://127.0.0.1:${port}`, '--token', admin, '--ca-hash', `sha256:${caHash}`]);
const token = fleet(['tokens', 'create', '--uses', String(COUNT), '--ttl', '1h']);

const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const csrs = [];
for (let i = 0; i < COUNT; i++) {
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  csrs.push((await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=bench-${i}`, keys, signingAlgorithm: alg })).toString('pem'));
}

const pkg = loadPackageDefinition(loadSync(join(root, 'proto/fleet/v1/agent.proto'), { includeDirs: [join(root, 'proto')], keepCase: false }));
const ca = readFileSync(join(dir, 'data/pki/ca.crt'));
const client = new pkg.fleet.v1.AgentService(`127.0.0.1:${port}`, credentials.createSsl(ca), { 'grpc.ssl_target_name_override': 'fleet-server', 'grpc.default_authority': 'fleet-server' });
const enroll = (i) =>
  new Promise((ok, fail) => {
    const t0 = performance.now();
    client.enroll({ token, csrPem: csrs[i], identity: { hostname: `bench-${i}`, macs: [], dmiUuid: '', serial: '' }, agentVersion: 'bench', requestedName: `bench-${i}` }, (err) =>
      err ? fail(err) : ok(performance.now() - t0),
    );
  });

const latencies = [];
let next = 0;
const t0 = performance.now();
await Promise.all(
  Array.from({ length: CONCURRENCY }, async () => {
    while (next < COUNT) latencies.push(await enroll(next++));
  }),
);
const seconds = (performance.now() - t0) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.ceil(latencies.length * p) - 1)].toFixed(1);
console.log(`enrollments: ${COUNT} in ${seconds.toFixed(2)} s = ${(COUNT / seconds).toFixed(0)} per second (${CONCURRENCY} in flight)`);
console.log(`  latency per enrollment: median ${pct(0.5)} ms, p90 ${pct(0.9)} ms, p99 ${pct(0.99)} ms`);
const nodes = JSON.parse(fleet(['nodes', '-o', 'json'])).length;
console.log(`  nodes stored: ${nodes}`);
client.close();
process.exit(nodes === COUNT ? 0 : 1);
