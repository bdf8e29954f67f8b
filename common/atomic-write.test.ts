import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { transformSync } from 'esbuild';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyFileAtomic, createFileAtomic, symlinkAtomic, writeFileAtomic } from './atomic-write';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fleet-atomic-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Compiles atomic-write.ts to a module a plain `node` child can import. */
function compiledModule(): string {
  const module = join(dir, 'atomic-write.mjs');
  writeFileSync(module, transformSync(readFileSync(new URL('./atomic-write.ts', import.meta.url), 'utf8'), { loader: 'ts', format: 'esm' }).code);
  return module;
}

/**
 * Runs writeFileAtomic(file, 4 MiB) in a child process. `crash`: the child is killed (SIGKILL) at
 * its first fsync, when the new data is written but not yet in place. Otherwise its file-size limit
 * (ulimit -f 64 KiB) makes the write fail half-way with EFBIG (Node ignores SIGXFSZ).
 */
function writeInChild(file: string, how: 'crash' | 'file-too-large'): { signal: NodeJS.Signals | null; status: number | null; stderr: string } {
  const module = compiledModule();
  const crash = "import fs from 'node:fs'; import { syncBuiltinESMExports } from 'node:module'; fs.fsyncSync = () => process.kill(process.pid, 'SIGKILL'); syncBuiltinESMExports();";
  const script = `${how === 'crash' ? crash : ''} const { writeFileAtomic } = await import(${JSON.stringify(module)}); writeFileAtomic(${JSON.stringify(file)}, Buffer.alloc(4 << 20, 120));`;
  const limit = how === 'crash' ? '' : 'ulimit -f 64; ';
  const child = spawnSync('/bin/sh', ['-c', `${limit}exec "$0" --input-type=module -e "$1"`, process.execPath, script], { encoding: 'utf8' });
  return { signal: child.signal, status: child.status, stderr: child.stderr };
}

const leftovers = () => readdirSync(dir).filter((f) => f.includes('fleet-tmp'));

describe('writeFileAtomic', () => {
  it('writes the content with the mode asked for, whatever the umask', () => {
    const file = join(dir, 'node.json');
    writeFileAtomic(file, '{"a":1}\n', { mode: 0o600 });
    expect(readFileSync(file, 'utf8')).toBe('{"a":1}\n');
    expect(statSync(file).mode & 0o7777).toBe(0o600);
    writeFileAtomic(file, Buffer.from('second'), { mode: 0o664 });
    expect(readFileSync(file, 'utf8')).toBe('second');
    expect(statSync(file).mode & 0o7777).toBe(0o664);
    writeFileAtomic(file, 'third');
    expect(statSync(file).mode & 0o7777).toBe(0o644);
    expect(leftovers()).toEqual([]);
  });

  it('keeps the old content when the writer crashes half-way', () => {
    const file = join(dir, 'state.json');
    writeFileSync(file, 'old');
    const child = writeInChild(file, 'crash');
    expect(child.signal).toBe('SIGKILL');
    expect(readFileSync(file, 'utf8')).toBe('old');
    // What the crash left is a hidden temporary file, which the next write does not trip over.
    expect(leftovers()).toHaveLength(1);
    writeFileAtomic(file, 'new');
    expect(readFileSync(file, 'utf8')).toBe('new');
  });

  it('keeps the old content and removes its temporary file when a write fails', () => {
    const file = join(dir, 'state.json');
    writeFileSync(file, 'old');
    const child = writeInChild(file, 'file-too-large');
    expect(child.status).not.toBe(0);
    expect(child.stderr).toContain('EFBIG');
    expect(readFileSync(file, 'utf8')).toBe('old');
    expect(leftovers()).toEqual([]);
  });

  it('leaves no temporary file when the rename fails', () => {
    const target = join(dir, 'busy');
    mkdirSync(join(target, 'inside'), { recursive: true });
    expect(() => writeFileAtomic(target, 'x')).toThrow();
    expect(readdirSync(target)).toEqual(['inside']);
    expect(leftovers()).toEqual([]);
  });
});

describe('copyFileAtomic and symlinkAtomic', () => {
  it('replace the target in one step and leave nothing behind', () => {
    const src = join(dir, 'src');
    writeFileSync(src, 'payload');
    const to = join(dir, 'copy');
    writeFileSync(to, 'old');
    copyFileAtomic(src, to);
    expect(readFileSync(to, 'utf8')).toBe('payload');
    const link = join(dir, 'link');
    symlinkAtomic('/first', link);
    symlinkAtomic('/second', link);
    expect(readlinkSync(link)).toBe('/second');
    expect(leftovers()).toEqual([]);
  });

  it('copyFileAtomic leaves no temporary file when the source is missing', () => {
    expect(() => copyFileAtomic(join(dir, 'missing'), join(dir, 'to'))).toThrow();
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('createFileAtomic', () => {
  it('creates the file with its mode once, and never overwrites one that exists', () => {
    const file = join(dir, 'ca.key');
    expect(createFileAtomic(file, 'first\n', { mode: 0o600 })).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('first\n');
    expect(statSync(file).mode & 0o7777).toBe(0o600);
    expect(createFileAtomic(file, 'second\n', { mode: 0o644 })).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe('first\n');
    expect(statSync(file).mode & 0o7777).toBe(0o600);
    expect(leftovers()).toEqual([]);
  });

  it('leaves no temporary file when the directory is missing', () => {
    expect(() => createFileAtomic(join(dir, 'missing', 'f'), 'x')).toThrow(/ENOENT/);
    expect(readdirSync(dir)).toEqual([]);
  });
});
