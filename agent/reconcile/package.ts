// The `package` resource: a distribution package present (optionally at a version, optionally from
// a pinned .deb) or absent. At root '/' the host's manager is used (apt, dnf or apk); under another
// root only dpkg can work, with --root, and installing needs a .deb. The agent remembers which
// packages it installed itself (STATE/packages/NAME.json): only those are removed when no spec
// lists them any more.
import { accessSync, constants } from 'node:fs';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import type { PackageResource } from '../../common/spec/schema';
import { ChecksumMismatchError, DownloadFailedError, PackageVersionError, ResourceUnsupportedError } from '../errors';
import { writeFileAtomic } from '../../common/atomic-write';
import { lstatOrNull, sha256File } from './disk';
import type { ReconcileOptions } from './options';
import { resolveInRoot } from './paths';
import { runProcess } from '../../common/process-runner';
import { runChecked } from './run';

/** Package managers want the sbin directories (ldconfig, start-stop-daemon) on the PATH. */
const SYSTEM_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function managerEnv(): NodeJS.ProcessEnv {
  const path = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  return { ...process.env, PATH: [...path, ...SYSTEM_PATH.filter((d) => !path.includes(d))].join(delimiter), DEBIAN_FRONTEND: 'noninteractive' };
}

function onPath(program: string): boolean {
  return (managerEnv().PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

interface PackageManager {
  /** The installed version, or null when the package is not installed. */
  installed(name: string): Promise<string | null>;
  /** Installs from the configured repositories; absent where that is impossible (another root). */
  install?(name: string, version: string | undefined): Promise<void>;
  remove(name: string): Promise<void>;
  /** Removes just this package, refusing (and failing) when another installed package needs it. */
  removeAlone(name: string): Promise<void>;
  /** dpkg's leading arguments, for managers that can install a .deb. */
  dpkgArgs?: string[];
}

async function dpkgInstalled(admindir: string, name: string): Promise<string | null> {
  const result = await runProcess('dpkg-query', [`--admindir=${admindir}`, '-W', '-f', '${Status}\t${Version}', name], { env: managerEnv() });
  if (result.exitCode !== 0) return null;
  const [status = '', version = ''] = result.stdout.split('\t');
  return status.split(' ')[2] === 'installed' ? version : null;
}

/** dpkg inside a root other than '/'. */
async function dpkgInRoot(root: string): Promise<PackageManager> {
  const status = await resolveInRoot(root, '/var/lib/dpkg/status');
  const admindir = dirname(status);
  const dpkgArgs = [`--root=${await realpath(root)}`, '--force-not-root', '--force-script-chrootless'];
  return {
    // A root without a dpkg database has nothing installed (and a dry run must not create one).
    installed: async (name) => ((await lstatOrNull(status)) ? dpkgInstalled(admindir, name) : null),
    remove: async (name) => {
      await runChecked('dpkg', [...dpkgArgs, '-r', name], { env: managerEnv() });
    },
    removeAlone: async (name) => {
      await runChecked('dpkg', [...dpkgArgs, '-r', name], { env: managerEnv() });
    },
    dpkgArgs,
  };
}

const apt: PackageManager = {
  installed: (name) => dpkgInstalled('/var/lib/dpkg', name),
  install: async (name, version) => {
    await runChecked('apt-get', ['install', '-y', version === undefined ? name : `${name}=${version}`], { env: managerEnv() });
  },
  remove: async (name) => {
    await runChecked('apt-get', ['remove', '-y', name], { env: managerEnv() });
  },
  // apt-get would also remove every package that depends on it; dpkg refuses instead.
  removeAlone: async (name) => {
    await runChecked('dpkg', ['-r', name], { env: managerEnv() });
  },
  dpkgArgs: [],
};

const dnf: PackageManager = {
  installed: async (name) => {
    const result = await runProcess('rpm', ['-q', '--qf', '%{VERSION}-%{RELEASE}', name], { env: managerEnv() });
    return result.exitCode === 0 ? result.stdout.trim() : null;
  },
  install: async (name, version) => {
    await runChecked('dnf', ['install', '-y', version === undefined ? name : `${name}-${version}`], { env: managerEnv() });
  },
  remove: async (name) => {
    await runChecked('dnf', ['remove', '-y', name], { env: managerEnv() });
  },
  // dnf would also remove every package that depends on it; rpm refuses instead.
  removeAlone: async (name) => {
    await runChecked('rpm', ['-e', name], { env: managerEnv() });
  },
};

const apk: PackageManager = {
  installed: async (name) => {
    // "curl-8.5.0-r0 x86_64 {curl} (curl) [installed]"
    const result = await runProcess('apk', ['list', '--installed', name], { env: managerEnv() });
    const line = result.stdout.split('\n').find((l) => l.startsWith(`${name}-`));
    return line === undefined ? null : line.slice(name.length + 1).split(' ')[0]!;
  },
  install: async (name, version) => {
    await runChecked('apk', ['add', version === undefined ? name : `${name}=${version}`], { env: managerEnv() });
  },
  remove: async (name) => {
    await runChecked('apk', ['del', name], { env: managerEnv() });
  },
  // Without -r, apk keeps a package that another installed package still needs.
  removeAlone: async (name) => {
    await runChecked('apk', ['del', name], { env: managerEnv() });
  },
};

async function detectManager(root: string): Promise<PackageManager> {
  if (root !== '/') {
    if (!onPath('dpkg')) throw new ResourceUnsupportedError(`packages under root ${root} need dpkg, which this host lacks`);
    return dpkgInRoot(root);
  }
  if (onPath('apt-get') && onPath('dpkg-query')) return apt;
  if (onPath('dnf') && onPath('rpm')) return dnf;
  if (onPath('apk')) return apk;
  throw new ResourceUnsupportedError('no supported package manager (apt, dnf or apk) on this host');
}

/** "1.2" matches an installed "1.2" and also "1.2-1" (the distribution's revision). */
function versionMatches(installed: string, wanted: string): boolean {
  return installed === wanted || installed.startsWith(`${wanted}-`);
}

/** dpkg needs its database files to exist; under a test root, create the missing ones. */
async function ensureDpkgDatabase(root: string): Promise<void> {
  const admindir = await resolveInRoot(root, '/var/lib/dpkg');
  for (const dir of ['info', 'updates', 'triggers']) await mkdir(join(admindir, dir), { recursive: true, mode: 0o755 });
  for (const file of ['status', 'available']) {
    if (!(await lstatOrNull(join(admindir, file)))) await writeFile(join(admindir, file), '');
  }
}

async function installDeb(r: PackageResource, dpkgArgs: string[], options: ReconcileOptions): Promise<void> {
  const deb = r.deb!;
  if (deb.url === undefined && deb.hosted === undefined) {
    throw new ResourceUnsupportedError(`package ${r.name}: no url or hosted .deb (a spec's file: is uploaded by the CLI first)`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'fleet-deb-'));
  try {
    const file = join(dir, `${r.name}.deb`);
    try {
      await options.download({ url: deb.url, hosted: deb.hosted }, file);
    } catch (err) {
      throw new DownloadFailedError(`${r.name}.deb`, err);
    }
    const actual = await sha256File(file);
    if (actual !== deb.sha256) throw new ChecksumMismatchError(deb.sha256, actual);
    if (options.root !== '/') await ensureDpkgDatabase(options.root);
    await runChecked('dpkg', [...dpkgArgs, '-i', file], { env: managerEnv() });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Where the agent notes that it installed a package itself (it was not there before). */
function installedByFleetPath(name: string, options: ReconcileOptions): string {
  return join(options.stateDir, 'packages', `${name}.json`);
}

/** Converges one package resource; returns the changes made (or, in a dry run, planned). */
export async function convergePackage(r: PackageResource, options: ReconcileOptions): Promise<string[]> {
  const manager = await detectManager(options.root);
  const installed = await manager.installed(r.name);

  if (r.state === 'absent') {
    if (installed === null) return [];
    if (!options.dryRun) {
      await manager.remove(r.name);
      await rm(installedByFleetPath(r.name, options), { force: true });
    }
    return [`remove ${r.name} ${installed}`];
  }

  if (installed !== null && (r.version === undefined || versionMatches(installed, r.version))) return [];
  if (r.deb && !manager.dpkgArgs) throw new ResourceUnsupportedError(`package ${r.name}: a .deb needs dpkg, and this host is not Debian-family`);
  if (!r.deb && !manager.install) {
    throw new ResourceUnsupportedError(`package ${r.name}: under root ${options.root} packages can only be installed from a deb: artifact`);
  }
  const target = r.version === undefined ? r.name : `${r.name} ${r.version}`;
  const change = `${installed === null ? `install ${target}` : `change ${r.name} ${installed} → ${r.version}`}${r.deb ? ' from .deb' : ''}`;
  if (options.dryRun) return [change];

  if (r.deb) await installDeb(r, manager.dpkgArgs!, options);
  else await manager.install!(r.name, r.version);
  const now = await manager.installed(r.name);
  if (now === null || (r.version !== undefined && !versionMatches(now, r.version))) throw new PackageVersionError(r.name, r.version ?? 'installed', now);
  if (installed === null) {
    await mkdir(dirname(installedByFleetPath(r.name, options)), { recursive: true, mode: 0o700 });
    writeFileAtomic(installedByFleetPath(r.name, options), `${JSON.stringify({ name: r.name, version: now, installedUnixMs: Date.now() })}\n`, { mode: 0o600 });
  }
  return [change];
}

/**
 * Removes a package that no spec on the node lists any more — only when fleet installed it (it was
 * not there before fleet's apply). One the node already had is left alone, and so are packages
 * another installed package needs: the removal then fails, naming them, rather than taking them too.
 */
export async function prunePackage(name: string, options: ReconcileOptions): Promise<string[]> {
  const record = installedByFleetPath(name, options);
  if (!(await lstatOrNull(record))) return [];
  const manager = await detectManager(options.root);
  const installed = await manager.installed(name);
  if (installed !== null && !options.dryRun) await manager.removeAlone(name);
  if (!options.dryRun) await rm(record, { force: true });
  return installed === null ? [] : [`remove ${name} ${installed}`];
}
