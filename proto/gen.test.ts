// The generated code in proto/gen must match what `npm run proto` makes from proto/ now:
// regenerate into a temporary directory and compare file by file.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

describe('generated protobuf code', () => {
  it('is fresh (run `npm run proto` and commit if this fails)', () => {
    const out = mkdtempSync(join(tmpdir(), 'fleet-proto-'));
    try {
      execFileSync(join(root, 'node_modules/.bin/buf'), ['generate', '-o', out], { cwd: root, stdio: 'pipe' });
      execFileSync(process.execPath, ['scripts/gen-descriptor.mjs', out], { cwd: root, stdio: 'pipe' });
      const committed = join(root, 'proto/gen');
      const fresh = join(out, 'proto/gen');
      const names = (dir: string) => files(dir).map((f) => relative(dir, f)).sort();
      expect(names(committed)).toEqual(names(fresh));
      for (const name of names(fresh)) {
        expect(readFileSync(join(committed, name), 'utf8'), `proto/gen/${name} is stale`).toBe(readFileSync(join(fresh, name), 'utf8'));
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);
});
