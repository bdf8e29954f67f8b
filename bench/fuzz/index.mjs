// Fuzzes a real fleet: `node bench/fuzz/index.mjs [--seed S] [--cases N] [--targets a,b] [--out DIR]
// [--no-nats]` (npm run bench:fuzz builds first). Prints the seed, every finding (its input saved
// under --out), the server's and agents' memory before and after, and a summary table; exits 1
// when anything crashed, hung or answered with an internal error.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fuzz, summaryTable } from './fuzz.mjs';
import { randomSeed } from './prng.mjs';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    cases: { type: 'string', default: '100000' },
    targets: { type: 'string' },
    out: { type: 'string' },
    'no-nats': { type: 'boolean', default: false },
    batches: { type: 'string', default: '10' },
  },
});
const seed = values.seed !== undefined ? Number(values.seed) >>> 0 : randomSeed();
const cases = Number(values.cases);
const outDir = values.out ?? join(tmpdir(), `fleet-fuzz-findings-${seed}`);
const log = (line) => process.stderr.write(`${line}\n`);
// Interrupted: exit normally so the fleet, the broker and their temporary directory go too.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));
log(`fleet fuzz: seed ${seed} (repeat with --seed ${seed}), ${cases} cases, findings to ${outDir}`);
const started = Date.now();
const result = await fuzz({ seed, cases, only: values.targets?.split(','), outDir, nats: !values['no-nats'], batches: Number(values.batches), log });
const kib = (r) => (r ? Object.entries(r).map(([k, v]) => `${k} ${(v / 1024).toFixed(1)} MiB`).join(', ') : 'n/a');
console.log(`\nseed ${seed}, ${new Date(started).toISOString()}, ${((Date.now() - started) / 1000).toFixed(0)} s`);
console.log(`RSS before: ${kib(result.rssBefore)}`);
console.log(`RSS after:  ${kib(result.rssAfter)}`);
console.log(summaryTable(result.tallies));
for (const f of result.findings) console.log(`- ${f.target} ${f.kind}: ${f.detail}${f.file ? ` [${f.file}]` : ''}`);
process.exitCode = result.findings.length ? 1 : 0;
// The fleet and gRPC channels are gone; do not wait for stray timers.
process.exit();
