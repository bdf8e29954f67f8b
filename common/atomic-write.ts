// The one way fleet replaces a file: write a hidden temporary sibling with the wanted mode, fsync
// it, rename it over the target and fsync the directory. A reader sees the old file or the new
// one, never half of either, and after a crash or power cut the target holds one or the other.
import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, fchmodSync, fchownSync, fsyncSync, linkSync, openSync, renameSync, rmSync, symlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** How the new file is made. */
export interface AtomicWriteOptions {
  /** Permission bits, applied regardless of the umask. Default 0644. */
  mode?: number;
  /** Owner to give the file (default: whoever runs fleet). */
  uid?: number;
  gid?: number;
}

/** `dir/.NAME.fleet-tmp-<random>`: a hidden sibling of `file`, never mistaken for the real one. */
export function tempPathFor(file: string): string {
  return join(dirname(file), `.${basename(file)}.fleet-tmp-${randomBytes(6).toString('hex')}`);
}

/** Flushes a directory's entries (a rename in it) to disk. */
export function fsyncDir(dir: string): void {
  fsyncFile(dir);
}

/** Flushes a file's content to disk (before it is renamed into place). */
export function fsyncFile(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Renames `from` over `to` and makes the rename durable (fsyncs the target's directory). */
export function renameDurably(from: string, to: string): void {
  renameSync(from, to);
  fsyncDir(dirname(to));
}

/**
 * Makes the new content at a temporary sibling of `target` with `make`, then renames it over
 * `target`; on any failure the temporary file is removed and `target` is left as it was.
 */
function replaceVia(target: string, make: (tmp: string) => void): void {
  const tmp = tempPathFor(target);
  try {
    make(tmp);
    renameDurably(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Writes `data` to the new file `tmp` with `options`' mode and owner, and flushes it to disk. */
function writeNewFile(tmp: string, data: string | Uint8Array, options: AtomicWriteOptions): void {
  const mode = options.mode ?? 0o644;
  const fd = openSync(tmp, 'wx', mode);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    for (let written = 0; written < bytes.length; ) written += writeSync(fd, bytes, written);
    if (options.uid !== undefined || options.gid !== undefined) fchownSync(fd, options.uid ?? process.getuid!(), options.gid ?? process.getgid!());
    // After chown (which clears set-id bits) and regardless of the umask.
    fchmodSync(fd, mode);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces `file` with `data` atomically and durably. On failure the temporary file is removed
 * and the old file is left as it was.
 * @example writeFileAtomic('/var/lib/fleet-agent/node.json', json, { mode: 0o600 })
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): void {
  replaceVia(file, (tmp) => writeNewFile(tmp, data, options));
}

/**
 * Creates `file` with `data` unless it exists, atomically and durably: the complete file is
 * hard-linked into place, which fails when the name is taken, so a reader never sees half of it
 * and two creators never overwrite each other (the first one wins).
 * @returns false, leaving the existing file as it was, when `file` already exists
 * @example if (!createFileAtomic(keyFile, pem, { mode: 0o600 })) pem = readFileSync(keyFile, 'utf8')
 */
export function createFileAtomic(file: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): boolean {
  const tmp = tempPathFor(file);
  try {
    writeNewFile(tmp, data, options);
    try {
      linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    fsyncDir(dirname(file));
    return true;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Copies `from` over `to` atomically (a temporary copy, fsynced, then renamed). */
export function copyFileAtomic(from: string, to: string): void {
  replaceVia(to, (tmp) => {
    copyFileSync(from, tmp);
    fsyncFile(tmp);
  });
}

/** Points the symlink `link` at `target`, replacing whatever was there in one rename. */
export function symlinkAtomic(target: string, link: string): void {
  replaceVia(link, (tmp) => symlinkSync(target, tmp));
}
