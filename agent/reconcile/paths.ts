// Maps a resource's absolute path into the agent's root and refuses anything that would land
// outside it, whether through ".." or through a symlink in a directory that already exists.
import { lstat, realpath } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { PathOutsideRootError } from '../errors';

function within(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * Returns where `path` lives under `root`, after checking that its deepest existing parent
 * directory really is inside root. The last component itself is not followed: callers lstat it.
 * @example await resolveInRoot('/tmp/r', '/etc/app.conf') === '/tmp/r/etc/app.conf'
 * @throws PathOutsideRootError when the path is relative, has "." or ".." segments, or escapes.
 */
export async function resolveInRoot(root: string, path: string): Promise<string> {
  if (!path.startsWith('/') || path.includes('\0') || path.split('/').some((s) => s === '..' || s === '.')) {
    throw new PathOutsideRootError(path, root, 'is not a plain absolute path inside');
  }
  const realRoot = await realpath(root);
  const target = join(realRoot, path);
  let parent = dirname(target);
  while (!(await exists(parent))) parent = dirname(parent);
  let realParent: string;
  try {
    realParent = await realpath(parent);
  } catch {
    throw new PathOutsideRootError(path, root, 'goes through a dangling symlink in');
  }
  if (!within(realRoot, realParent)) throw new PathOutsideRootError(path, root);
  return target;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}
