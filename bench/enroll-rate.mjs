// Benchmark: enrollments per second. 1,000 agents' worth of Enroll calls (each a fresh P-256 key
// and CSR, made before timing) against a real fleet-server, 32 in flight, over gRPC with TLS.
//
//   npm run build && node bench/enroll-rate.mjs [--count 1000] [--concurrency 32]
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { credentials, loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { percentile, root, startFleet } from './lib.mjs';

const { values } = parseArgs({ options: { count: { type: 'string', default: '1000' }, concurrency: { type: 'string', default: '32' } } });
const COUNT = Number(values.count);
const CONCURRENCY = Number(values.concurrency);
x509.cryptoProvider.set(webcrypto);
const { dir, port, fleet } = await startFleet();
const token = fleet(['tokens', 'create', '--uses', String(COUNT), '--ttl', '1h']).trim();

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
const pct = (p) => percentile(latencies, p).toFixed(1);
console.log(`enrollments: ${COUNT} in ${seconds.toFixed(2)} s = ${(COUNT / seconds).toFixed(0)} per second (${CONCURRENCY} in flight)`);
console.log(`  latency per enrollment: median ${pct(0.5)} ms, p90 ${pct(0.9)} ms, p99 ${pct(0.99)} ms`);
const nodes = JSON.parse(fleet(['nodes', '-o', 'json'])).length;
console.log(`  nodes stored: ${nodes}`);
client.close();
process.exit(nodes === COUNT ? 0 : 1);
