// `fleet-server backup` and `fleet-server restore`: an online, verified backup of a data
// directory into one .tar.gz (mode 0600: it holds the CA key), and a restore that checks the file
// before touching the target and never overwrites a directory in use. See docs/operations.md.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { renameDurably } from '../../common/atomic-write';
import { VERSION } from '../../common/version';
import { certificateHash } from '../../transport';
import { BackupCorruptError, BackupFailedError, RestoreRefusedError } from '../errors';
import { copySqliteFile, inspectDatabase, MIGRATIONS } from '../store';
import { readArchive, writeArchive, type ArchiveEntry, type ArchiveInput } from './archive';

/** The manifest, the archive's last entry. */
export const MANIFEST = 'fleet-backup.json';
const FORMAT = 'fleet-backup';
const FORMAT_VERSION = 1;
export const DB_FILE = 'fleet.db';

/** Folders of the data directory copied as they are (flat folders of small files written once). */
const ALWAYS = ['pki', 'nats', 'files'];

interface Manifest {
  format: string;
  version: number;
  createdAt: string;
  fleetVersion: string;
  schemaVersion: number;
  caHash: string;
  nodes: number;
  jobs: number;
  files: ArchiveEntry[];
}

/** What a backup or restore did, for the operator. */
export interface BackupSummary {
  file: string;
  bytes: number;
  nodes: number;
  jobs: number;
  caHash: string;
  schemaVersion: number;
  files: number;
}

function filesIn(dataDir: string, folder: string): ArchiveInput[] {
  const dir = join(dataDir, folder);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.startsWith('.'))
    .map((e) => ({ path: `${folder}/${e.name}`, source: join(dir, e.name), mode: statSync(join(dir, e.name)).mode }));
}

/**
 * Backs up a data directory while its server runs: the database through SQLite's online backup
 * API from a connection of its own, checked with `PRAGMA integrity_check`; the PKI (CA, server and
 * command-signing keys), the NATS keys and the files hosted for specs; session recordings only
 * when asked. Writes `to` atomically (temporary file, then rename) with mode 0600, and reads the
 * result back against its manifest before reporting success.
 */
export async function backup(dataDir: string, to: string, options: { recordings?: boolean } = {}): Promise<BackupSummary> {
  const dbFile = join(dataDir, DB_FILE);
  if (!existsSync(dbFile)) throw new BackupFailedError(`no fleet database in ${dataDir} (expected ${dbFile}); is --data right?`);
  if (!existsSync(join(dataDir, 'pki', 'ca.key'))) throw new BackupFailedError(`no CA key in ${join(dataDir, 'pki')}; is --data right?`);
  const target = resolve(to);
  if (existsSync(target) && statSync(target).isDirectory()) throw new BackupFailedError(`${to} is a directory; name the backup file`);
  const outDir = dirname(target);
  if (!existsSync(outDir)) throw new BackupFailedError(`the folder ${outDir} does not exist`);
  const staging = mkdtempSync(join(outDir, '.fleet-backup-'));
  const tmp = join(outDir, `.${basename(target)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const staged = join(staging, DB_FILE);
    await copySqliteFile(dbFile, staged);
    const db = inspectDatabase(staged);
    if (db.problem) throw new BackupFailedError(`the copied database fails its integrity check (${db.problem}); the live database may be damaged: run fleet-server doctor`);
    const caHash = certificateHash(readFileSync(join(dataDir, 'pki', 'ca.crt'), 'utf8'));
    const inputs: ArchiveInput[] = [{ path: DB_FILE, source: staged, mode: 0o600 }];
    for (const folder of [...ALWAYS, ...(options.recordings ? ['recordings'] : [])]) inputs.push(...filesIn(dataDir, folder));
    const written = await writeArchive(tmp, inputs, (entries) => {
      const manifest: Manifest = {
        format: FORMAT,
        version: FORMAT_VERSION,
        createdAt: new Date().toISOString(),
        fleetVersion: VERSION,
        schemaVersion: db.schemaVersion,
        caHash,
        nodes: db.nodes,
        jobs: db.jobs,
        files: entries,
      };
      return { path: MANIFEST, source: Buffer.from(JSON.stringify(manifest, null, 2) + '\n'), mode: 0o600 };
    });
    // Read back what is on disk: every entry present, whole, and as hashed when written.
    const reread = await readArchive(tmp);
    const same = reread.length === written.length && reread.every((e, i) => e.path === written[i]!.path && e.sha256 === written[i]!.sha256);
    if (!same) throw new BackupFailedError(`the backup written to ${tmp} does not read back as written; nothing was replaced`);
    renameDurably(tmp, target);
    return { file: target, bytes: statSync(target).size, nodes: db.nodes, jobs: db.jobs, caHash, schemaVersion: db.schemaVersion, files: written.length - 1 };
  } catch (err) {
    rmSync(tmp, { force: true });
    if (err instanceof BackupFailedError) throw err;
    throw new BackupFailedError(`backup failed, nothing was written to ${to}: ${(err as Error).message}`, err);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** Process ids (other than this one) that hold a file of `dir` open, from /proc. */
function processesUsing(dir: string): number[] {
  const real = realpathSync(dir);
  const wanted = [DB_FILE, `${DB_FILE}-wal`, `${DB_FILE}-shm`].map((f) => join(real, f));
  const found: number[] = [];
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid);
  } catch {
    return found;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (wanted.includes(readlinkSync(`/proc/${pid}/fd/${fd}`))) {
          found.push(Number(pid));
          break;
        }
      } catch {
        // The fd closed meanwhile.
      }
    }
  }
  return found;
}

function readManifest(staging: string, file: string): Manifest {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(join(staging, MANIFEST), 'utf8')) as Manifest;
  } catch (err) {
    throw new BackupCorruptError(`${file} has no readable ${MANIFEST}: it is not a fleet backup`, err);
  }
  if (manifest?.format !== FORMAT || !Array.isArray(manifest.files)) throw new BackupCorruptError(`${file} is not a fleet backup (no fleet-backup manifest)`);
  if (manifest.version !== FORMAT_VERSION) throw new BackupCorruptError(`${file} is a fleet backup of format ${manifest.version}; this fleet-server reads format ${FORMAT_VERSION}`);
  return manifest;
}

/**
 * Restores a backup into `dataDir`. Refuses a directory a running process uses (always) or one
 * that is not empty (unless `force`: its content is then moved aside, never deleted). The file is
 * unpacked and checked (manifest hashes, database integrity and schema) beside the target first;
 * only then does it take the target's place.
 */
export async function restore(file: string, dataDir: string, options: { force?: boolean } = {}): Promise<BackupSummary & { movedAside: string | null }> {
  const target = resolve(dataDir);
  if (!existsSync(file)) throw new BackupCorruptError(`cannot read ${file}: no such file`);
  let movedAside: string | null = null;
  const exists = existsSync(target);
  if (exists) {
    if (!statSync(target).isDirectory()) throw new RestoreRefusedError(`${dataDir} is not a directory`);
    const users = processesUsing(target);
    if (users.length) throw new RestoreRefusedError(`${dataDir} is in use by process ${users.join(', ')} (a running fleet-server?); stop it first`);
    if (readdirSync(target).length > 0 && !options.force) {
      throw new RestoreRefusedError(`${dataDir} is not empty; restore into a new directory, or add --force to move its content aside (to ${basename(target)}.before-restore-…)`);
    }
  }
  const parent = dirname(target);
  mkdirSync(parent, { recursive: true });
  const staging = mkdtempSync(join(parent, `.${basename(target)}.restore-`));
  try {
    const entries = await readArchive(file, staging);
    const manifest = readManifest(staging, file);
    const byPath = new Map(entries.filter((e) => e.path !== MANIFEST).map((e) => [e.path, e]));
    if (byPath.size !== manifest.files.length) throw new BackupCorruptError(`${file} holds ${byPath.size} files but its manifest lists ${manifest.files.length}`);
    for (const f of manifest.files) {
      const got = byPath.get(f.path);
      if (!got || got.sha256 !== f.sha256 || got.size !== f.size) throw new BackupCorruptError(`${file}: ${f.path} is missing or differs from its manifest`);
    }
    for (const needed of [DB_FILE, 'pki/ca.crt', 'pki/ca.key']) if (!byPath.has(needed)) throw new BackupCorruptError(`${file} has no ${needed}`);
    const db = inspectDatabase(join(staging, DB_FILE));
    if (db.problem) throw new BackupCorruptError(`the database in ${file} fails its integrity check: ${db.problem}`);
    if (db.schemaVersion > MIGRATIONS.length) throw new RestoreRefusedError(`the backup's database has schema version ${db.schemaVersion}, newer than this fleet-server knows (${MIGRATIONS.length}); restore it with a newer fleet-server`);
    unlinkSync(join(staging, MANIFEST));
    if (exists) {
      if (readdirSync(target).length === 0) rmdirSync(target);
      else {
        movedAside = `${target}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
        renameSync(target, movedAside);
      }
    }
    renameDurably(staging, target);
    return { file: resolve(file), bytes: statSync(file).size, nodes: db.nodes, jobs: db.jobs, caHash: manifest.caHash, schemaVersion: db.schemaVersion, files: manifest.files.length, movedAside };
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}
