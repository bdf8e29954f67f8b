// Shows that the Control contract is enforced by the type checker: compiles
// control-contract.type-test.ts with its @ts-expect-error markers removed and expects tsc to
// reject exactly the lines they marked, each for the reason given.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');

describe('the Control contract', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-contract-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fails to compile a misspelled or missing field, a misspelled request and a missing method', async () => {
    const source = readFileSync(join(here, 'control-contract.type-test.ts'), 'utf8').split('\n');
    // Each marker's line is dropped; the next line is the one that must fail.
    const expected: { line: number; reason: string }[] = [];
    const out: string[] = [];
    for (const line of source) {
      const marker = /\/\/ @ts-expect-error: (.*)$/.exec(line);
      if (marker) {
        expected.push({ line: out.length + 1, reason: marker[1]! });
        continue;
      }
      // The copy lives elsewhere: its relative imports become absolute.
      out.push(line.replace(/from '(\.\.?\/[^']*)'/g, (_m, spec: string) => `from '${resolve(here, spec)}'`));
    }
    expect(expected.length).toBe(5);
    writeFileSync(join(dir, 'contract.ts'), out.join('\n'));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ extends: join(root, 'tsconfig.json'), compilerOptions: { typeRoots: [join(root, 'node_modules/@types')], noEmit: true }, include: [], files: [join(dir, 'contract.ts')] }),
    );
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const result = await promisify(execFile)(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: root }).then(
      () => ({ code: 0, stdout: '' }),
      (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
    );
    expect(result.code).not.toBe(0);
    const errors = [...result.stdout.matchAll(/contract\.ts\((\d+),\d+\): error (TS\d+): (.*)/g)].map((m) => ({ line: Number(m[1]), code: m[2]!, message: m[3]! }));
    // Exactly one error per marked line, and none elsewhere.
    expect(errors.map((e) => e.line).sort((a, b) => a - b)).toEqual(expected.map((e) => e.line));
    const at = (n: number) => errors.find((e) => e.line === expected[n]!.line)!.message;
    expect(at(0)).toMatch(/'tokenID' does not exist/);
    expect(at(1)).toMatch(/'scope' is missing/);
    expect(at(2)).toMatch(/'nodeName' does not exist/);
    expect(at(3)).toMatch(/'selecter' does not exist/);
    expect(at(4)).toMatch(/'getNode' is missing/);
  }, 120_000);
});
