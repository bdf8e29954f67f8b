// The `binary` resource: a pinned executable kept at /opt/fleet/pkgs/NAME/VERSION/NAME and put on
// the PATH through the symlink /opt/fleet/bin/NAME. Old versions stay, so a rollback only relinks.
import { chmod, mkdir, readlink, rm, rmdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { BinaryResource } from '../../common/spec/schema';
import { ChecksumMismatchError, DownloadFailedError, ResourceUnsupportedError } from '../errors';
import { fsyncFile, renameDurably, symlinkAtomic, tempPathFor } from '../../common/atomic-write';
import { formatMode, lstatOrNull, sha256File } from './disk';
import type { ReconcileOptions } from './options';
import { resolveInRoot } from './paths';

const BINARY_MODE = 0o755;

/** Where a binary's link lives under the root. */
export function binaryLinkPath(name: string): string {
  return `/opt/fleet/bin/${name}`;
}

/** The link's target, relative so it works under any root. */
function linkTarget(r: BinaryResource): string {
  return `../pkgs/${r.name}/${r.version}/${r.name}`;
}

function describeLink(name: string, current: string | null): string {
  if (current === null) return '';
  const prefix = `../pkgs/${name}/`;
  const suffix = `/${name}`;
  const ours = current.startsWith(prefix) && current.endsWith(suffix);
  return ` (was ${ours ? current.slice(prefix.length, -suffix.length) : current})`;
}

async function readlinkOrNull(path: string): Promise<string | null> {
  try {
    return await readlink(path);
  } catch {
    return null;
  }
}

/**
 * Downloads the artifact into a temp file beside `file`, checks its sha256 and only then renames
 * it into place. On any failure the temp file (and a version directory left empty) is removed.
 */
async function install(r: BinaryResource, file: string, options: ReconcileOptions): Promise<void> {
  if (r.url === undefined && r.hosted === undefined) {
    throw new ResourceUnsupportedError(`binary ${r.name}: no url or hosted artifact (a spec's file: is uploaded by the CLI first)`);
  }
  const versionDir = dirname(file);
  await mkdir(versionDir, { recursive: true, mode: 0o755 });
  const tmp = tempPathFor(file);
  try {
    try {
      await options.download({ url: r.url, hosted: r.hosted }, tmp);
    } catch (err) {
      throw new DownloadFailedError(`${r.name} ${r.version}`, err);
    }
    const actual = await sha256File(tmp);
    if (actual !== r.sha256) throw new ChecksumMismatchError(r.sha256, actual);
    await chmod(tmp, BINARY_MODE);
    fsyncFile(tmp);
    renameDurably(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    await rmdir(versionDir).catch(() => undefined);
    throw err;
  }
}

/** Converges one binary resource; returns the changes made (or, in a dry run, planned). */
export async function convergeBinary(r: BinaryResource, options: ReconcileOptions): Promise<string[]> {
  const file = await resolveInRoot(options.root, `/opt/fleet/pkgs/${r.name}/${r.version}/${r.name}`);
  const link = await resolveInRoot(options.root, binaryLinkPath(r.name));
  const changes: string[] = [];

  const st = await lstatOrNull(file);
  if (!st?.isFile() || (await sha256File(file)) !== r.sha256) {
    changes.push(`download ${r.name} ${r.version} (sha256 ${r.sha256.slice(0, 12)}…)`);
    if (!options.dryRun) await install(r, file, options);
  } else if ((st.mode & 0o7777) !== BINARY_MODE) {
    changes.push(`mode ${formatMode(st.mode)} → ${formatMode(BINARY_MODE)}`);
    if (!options.dryRun) await chmod(file, BINARY_MODE);
  }

  const current = await readlinkOrNull(link);
  if (current !== linkTarget(r)) {
    changes.push(`link bin/${r.name} → ${r.version}${describeLink(r.name, current)}`);
    if (!options.dryRun) {
      await mkdir(dirname(link), { recursive: true, mode: 0o755 });
      symlinkAtomic(linkTarget(r), link);
    }
  }
  return changes;
}

/** Takes a binary off the PATH (unlinks /opt/fleet/bin/NAME); its versions stay on disk. */
export async function unlinkBinary(name: string, options: ReconcileOptions): Promise<string[]> {
  const link = await resolveInRoot(options.root, binaryLinkPath(name));
  if (!(await lstatOrNull(link))?.isSymbolicLink()) return [];
  if (!options.dryRun) await unlink(link);
  return [`unlink bin/${name}`];
}
