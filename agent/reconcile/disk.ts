// Small file-system helpers shared by the resource handlers: hashing, atomic replacement of files
// and symlinks, and temp names that can never be mistaken for the real file.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, fchmodSync, fchownSync, fsyncSync, openSync, renameSync, rmSync, symlinkSync, writeFileSync, type Stats } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** `dir/.NAME.fleet-tmp-<random>`: a hidden sibling of `file`, to be renamed over it. */
export function tempPathFor(file: string): string {
  return join(dirname(file), `.${basename(file)}.fleet-tmp-${randomBytes(6).toString('hex')}`);
}

/** Hex sha256 of a buffer or string. */
export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Hex sha256 of a file, streamed (binaries may be large). */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** lstat, or null when nothing is there. */
export async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Formats permission bits as four octal digits: 0644. */
export function formatMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/**
 * Replaces `file` atomically: writes a temp sibling with the mode (and owner), fsyncs it and
 * renames it over the target. The temp file never outlives a failure.
 */
export function writeFileAtomic(file: string, data: string | Buffer, options: { mode: number; uid?: number; gid?: number }): void {
  const tmp = tempPathFor(file);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', options.mode);
    writeFileSync(fd, data);
    if (options.uid !== undefined || options.gid !== undefined) fchownSync(fd, options.uid ?? process.getuid!(), options.gid ?? process.getgid!());
    // After chown (which clears set-id bits) and regardless of the umask.
    fchmodSync(fd, options.mode);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Points the symlink `link` at `target`, replacing whatever link was there in one rename. */
export function symlinkAtomic(target: string, link: string): void {
  const tmp = tempPathFor(link);
  try {
    symlinkSync(target, tmp);
    renameSync(tmp, link);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
