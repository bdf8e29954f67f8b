// The `file` resource: content, mode and (when given) owner and group of one file under the root,
// or its absence. Content is replaced atomically; mode and owner alone are fixed in place.
import type { Stats } from 'node:fs';
import { chmod, chown, mkdir, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { FileResource } from '../../common/spec/schema';
import { ResourceConflictError, ResourceUnsupportedError, UnknownAccountError } from '../errors';
import { writeFileAtomic } from '../../common/atomic-write';
import { formatMode, lstatOrNull, sha256 } from './disk';
import type { ReconcileOptions } from './options';
import { resolveInRoot } from './paths';
import { runProcess } from '../../common/process-runner';

async function userId(name: string): Promise<number> {
  const result = await runProcess('id', ['-u', name]);
  if (result.exitCode !== 0) throw new UnknownAccountError('user', name);
  return Number(result.stdout.trim());
}

async function groupId(name: string): Promise<number> {
  const result = await runProcess('getent', ['group', name]);
  if (result.exitCode !== 0) throw new UnknownAccountError('group', name);
  return Number(result.stdout.split(':')[2]);
}

function describeKind(st: Stats): string {
  return st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'directory' : 'special file';
}

/**
 * Why a file fleet wrote for `r` may not be removed, or null when it may: it still holds the content
 * fleet wrote (the comparison the drift re-check makes; a changed mode or owner alone does not
 * count). A file edited by hand, or replaced by something that is not a file, is somebody's work
 * and is left in place. Nothing there at all: null (there is nothing to remove).
 */
export async function editedSinceWritten(r: FileResource, options: ReconcileOptions): Promise<string | null> {
  const target = await resolveInRoot(options.root, r.path);
  const current = await lstatOrNull(target);
  if (!current) return null;
  if (!current.isFile()) return `replaced by a ${describeKind(current)} since fleet wrote it`;
  return sha256(await readFile(target)) === sha256(Buffer.from(r.content ?? '')) ? null : 'edited since fleet wrote it';
}

/** Converges one file resource; returns the changes made (or, in a dry run, planned). */
export async function convergeFile(r: FileResource, options: ReconcileOptions): Promise<string[]> {
  const target = await resolveInRoot(options.root, r.path);
  const current = await lstatOrNull(target);
  if (current?.isDirectory()) throw new ResourceConflictError(`${r.path} is a directory; a file resource never replaces or deletes directories`);

  if (r.state === 'absent') {
    if (!current) return [];
    if (!options.dryRun) await unlink(target);
    return ['delete'];
  }

  const content = Buffer.from(r.content ?? '');
  const mode = parseInt(r.mode, 8);
  const uid = r.owner === undefined ? undefined : await userId(r.owner);
  const gid = r.group === undefined ? undefined : await groupId(r.group);
  const changes: string[] = [];
  let rewrite = true;
  if (!current) {
    changes.push(`create (${content.length} bytes, mode ${formatMode(mode)})`);
  } else if (!current.isFile()) {
    changes.push(`replace ${describeKind(current)} with a file (${content.length} bytes, mode ${formatMode(mode)})`);
  } else {
    const have = sha256(await readFile(target));
    const want = sha256(content);
    rewrite = have !== want;
    if (rewrite) changes.push(`content differs (sha256 ${have.slice(0, 8)} → ${want.slice(0, 8)})`);
    if ((current.mode & 0o7777) !== mode) changes.push(`mode ${formatMode(current.mode)} → ${formatMode(mode)}`);
  }
  // A new file would belong to the agent; an existing one keeps its owner unless told otherwise.
  const currentUid = current?.isFile() ? current.uid : process.getuid!();
  const currentGid = current?.isFile() ? current.gid : process.getgid!();
  const ownerChanges: string[] = [];
  if (uid !== undefined && uid !== currentUid) ownerChanges.push(`owner ${currentUid} → ${r.owner} (${uid})`);
  if (gid !== undefined && gid !== currentGid) ownerChanges.push(`group ${currentGid} → ${r.group} (${gid})`);
  if (ownerChanges.length > 0 && process.getuid!() !== 0) {
    throw new ResourceUnsupportedError(`${r.path}: ${ownerChanges.join(', ')} needs the agent to run as root`);
  }
  changes.push(...ownerChanges);

  if (changes.length === 0 || options.dryRun) return changes;
  if (rewrite) {
    await mkdir(dirname(target), { recursive: true, mode: 0o755 });
    writeFileAtomic(target, content, { mode, uid, gid });
  } else {
    if (ownerChanges.length > 0) await chown(target, uid ?? currentUid, gid ?? currentGid);
    await chmod(target, mode);
  }
  return changes;
}
