// The backup file format: a gzip-compressed POSIX (ustar) tar, so `tar tzf` can list it. Regular
// files only, paths relative to the data directory. Writing and reading both stream, so a large
// database never has to fit in memory. Reading checks every header checksum and refuses anything
// but regular files under plain relative paths.
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, fsyncSync, mkdirSync, openSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { BackupCorruptError } from '../errors';

const BLOCK = 512;

/** One file to put in an archive: its path inside it and where to read it (or its bytes). */
export interface ArchiveInput {
  path: string;
  source: string | Buffer;
  mode?: number;
}

/** What was read for one entry. */
export interface ArchiveEntry {
  path: string;
  size: number;
  sha256: string;
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function header(path: string, size: number, mode: number): Buffer {
  if (Buffer.byteLength(path) > 99) throw new Error(`path too long for the archive: ${path}`);
  const h = Buffer.alloc(BLOCK);
  h.write(path, 0, 100, 'utf8');
  h.write(octal(mode & 0o7777, 8), 100);
  h.write(octal(0, 8), 108);
  h.write(octal(0, 8), 116);
  h.write(octal(size, 12), 124);
  h.write(octal(Math.floor(Date.now() / 1000), 12), 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148);
  return h;
}

async function* tarStream(inputs: ArchiveInput[], trailer: ((entries: ArchiveEntry[]) => ArchiveInput) | undefined, done: (entries: ArchiveEntry[]) => void): AsyncGenerator<Buffer> {
  const entries: ArchiveEntry[] = [];
  for (let i = 0; i <= inputs.length; i++) {
    const input = i < inputs.length ? inputs[i]! : trailer?.([...entries]);
    if (!input) break;
    const hash = createHash('sha256');
    let size = 0;
    if (Buffer.isBuffer(input.source)) {
      size = input.source.length;
      yield header(input.path, size, input.mode ?? 0o600);
      hash.update(input.source);
      yield input.source;
    } else {
      // The size is taken from what is read, so a file must not change meanwhile (the backup
      // only archives its own staged copies and files that are written once).
      size = statSync(input.source).size;
      yield header(input.path, size, input.mode ?? 0o600);
      let read = 0;
      for await (const chunk of createReadStream(input.source) as AsyncIterable<Buffer>) {
        const part = chunk.subarray(0, Math.max(0, size - read));
        read += part.length;
        hash.update(part);
        yield part;
      }
      if (read !== size) throw new Error(`${input.source} changed size while it was archived`);
    }
    if (size % BLOCK) yield Buffer.alloc(BLOCK - (size % BLOCK));
    entries.push({ path: input.path, size, sha256: hash.digest('hex') });
  }
  yield Buffer.alloc(BLOCK * 2);
  done(entries);
}

/**
 * Writes `inputs` as a .tar.gz to `file` (created with mode 0600, fsynced); `trailer`, when given,
 * makes a last entry from what was written before it (a manifest of sizes and hashes). Returns
 * every entry written.
 */
export async function writeArchive(file: string, inputs: ArchiveInput[], trailer?: (entries: ArchiveEntry[]) => ArchiveInput): Promise<ArchiveEntry[]> {
  let entries: ArchiveEntry[] = [];
  const out = createWriteStream(file, { mode: 0o600, flags: 'wx' });
  await pipeline(Readable.from(tarStream(inputs, trailer, (e) => (entries = e))), createGzip({ level: 6 }), out);
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return entries;
}

function parseOctal(b: Buffer): number {
  const text = b.toString('latin1').replace(/\0.*$/s, '').trim();
  if (!/^[0-7]+$/.test(text)) return NaN;
  return parseInt(text, 8);
}

/** A safe relative path: no absolute path, no "..", no empty parts. */
function safePath(path: string): boolean {
  return path.length > 0 && !path.startsWith('/') && path.split('/').every((p) => p !== '' && p !== '.' && p !== '..');
}

/**
 * Reads a .tar.gz written by writeArchive. Each file is written under `intoDir` when given (only
 * hashed otherwise). Throws BackupCorruptError for anything that is not such an archive, is
 * truncated or damaged.
 */
export async function readArchive(file: string, intoDir?: string): Promise<ArchiveEntry[]> {
  const entries: ArchiveEntry[] = [];
  let pending: Buffer = Buffer.alloc(0);
  let current: { path: string; size: number; left: number; pad: number; hash: ReturnType<typeof createHash>; fd: number | null } | null = null;
  let ended = false;
  const fail = (why: string) => {
    throw new BackupCorruptError(`${file} is not a fleet backup or is damaged: ${why}`);
  };
  const finishEntry = () => {
    const c = current!;
    if (c.fd !== null) {
      fsyncSync(c.fd);
      closeSync(c.fd);
    }
    entries.push({ path: c.path, size: c.size, sha256: c.hash.digest('hex') });
    current = null;
  };
  const consume = (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    for (;;) {
      if (ended) return;
      if (current) {
        if (current.left > 0) {
          if (!pending.length) return;
          const part = pending.subarray(0, current.left);
          pending = pending.subarray(part.length);
          current.left -= part.length;
          current.hash.update(part);
          if (current.fd !== null) writeSync(current.fd, part);
          continue;
        }
        if (pending.length < current.pad) return;
        pending = pending.subarray(current.pad);
        finishEntry();
        continue;
      }
      if (pending.length < BLOCK) return;
      const h = pending.subarray(0, BLOCK);
      pending = pending.subarray(BLOCK);
      if (h.every((b) => b === 0)) {
        ended = true;
        return;
      }
      const stored = parseOctal(h.subarray(148, 156));
      let sum = 0;
      for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
      if (stored !== sum) fail('a header checksum does not match');
      if (h.subarray(257, 262).toString('latin1') !== 'ustar') fail('not a ustar archive');
      const type = String.fromCharCode(h[156]!);
      if (type !== '0' && type !== '\0') fail(`entry of type ${JSON.stringify(type)} (only regular files belong in a backup)`);
      const path = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
      if (!safePath(path)) fail(`unsafe path ${JSON.stringify(path)}`);
      const size = parseOctal(h.subarray(124, 136));
      if (!Number.isSafeInteger(size)) fail(`bad size for ${path}`);
      let fd: number | null = null;
      if (intoDir) {
        const target = join(intoDir, path);
        mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
        fd = openSync(target, 'wx', parseOctal(h.subarray(100, 108)) & 0o700 || 0o600);
      }
      current = { path, size, left: size, pad: size % BLOCK ? BLOCK - (size % BLOCK) : 0, hash: createHash('sha256'), fd };
    }
  };
  try {
    await pipeline(
      createReadStream(file),
      createGunzip(),
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          try {
            consume(chunk);
            cb();
          } catch (err) {
            cb(err as Error);
          }
        },
      }),
    );
  } catch (err) {
    if (current !== null) {
      const fd = (current as { fd: number | null }).fd;
      if (fd !== null) closeSync(fd);
    }
    if (err instanceof BackupCorruptError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') throw new BackupCorruptError(`cannot read ${file}: ${(err as Error).message}`, err);
    throw new BackupCorruptError(`${file} is not a fleet backup or is damaged (${(err as Error).message})`, err);
  }
  if (!ended || current) fail('the archive is truncated');
  return entries;
}
