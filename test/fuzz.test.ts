// A short run of the fuzzer (bench/fuzz) against a real fleet-server, a gRPC agent and a NATS
// agent: every gRPC method of both services, the HTTPS and PXE ports, the terminal WebSocket,
// specs, PXE configs, tokens and selectors, and garbage on the NATS agent's subject. Once with a
// fixed seed and once with a random one (printed; `npm run bench:fuzz -- --seed S` repeats it).
// Nothing may crash or hang, no bad input may get INTERNAL/UNKNOWN or HTTP 500, and the server
// must still run a real `fleet exec` on both agents afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuzz, randomSeed, startFuzzFleet, summaryTable, type FuzzFleet } from '../bench/fuzz/fuzz.mjs';

const FIXED_SEED = 20261124;
/** Small: the whole file stays well under a minute here. */
const CASES = { 'yaml-specs': 150, 'tokens-selectors': 400, 'grpc-control': 160, 'grpc-agent': 40, websocket: 30, https: 60, pxe: 40, 'fleet-plan': 2, 'agent-nats': 40 };

describe('fuzzing a real fleet', () => {
  let fleet: FuzzFleet;
  const outDir = mkdtempSync(join(tmpdir(), 'fleet-fuzz-test-'));

  beforeAll(async () => {
    fleet = await startFuzzFleet();
  });
  afterAll(() => {
    fleet?.stop();
    rmSync(outDir, { recursive: true, force: true });
  });

  for (const [label, seed] of [['the fixed seed', FIXED_SEED], ['a random seed', randomSeed()]] as const) {
    it(`survives bad input on every target with ${label} (${seed})`, async () => {
      const lines: string[] = [];
      const result = await fuzz({ seed, cases: CASES, fleet, batches: 1, outDir, log: (l) => lines.push(l) });
      process.stderr.write(`fuzz seed ${seed}\n${summaryTable(result.tallies)}\n`);
      // Every target ran, NATS included.
      expect(result.tallies.map((t) => t.name).sort()).toEqual(Object.keys(CASES).sort());
      for (const t of result.tallies) expect(t.cases, t.name).toBe(CASES[t.name as keyof typeof CASES]);
      // Bad input was refused with a clear error, not accepted wholesale (the fuzzer reaches the checks).
      for (const t of result.tallies.filter((x) => x.name !== 'agent-nats' && x.name !== 'fleet-plan')) expect(t.refused, t.name).toBeGreaterThan(0);
      expect(result.findings, `findings (seed ${seed}):\n${lines.join('\n')}`).toEqual([]);
      expect(await fleet.health()).toEqual([]);
    });
  }
});
