// Services on nodes without systemd (and under a test root): the agent starts the process itself,
// detached in its own session so it outlives the agent, and remembers it in
// STATE/services/NAME.json (pid, /proc start time, command fingerprint). Output goes to NAME.log.
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import type { ServiceResource } from '../../common/spec/schema';
import { ResourceCommandError, ResourceUnsupportedError } from '../errors';
import { writeFileAtomic } from '../../common/atomic-write';
import { sha256 } from './disk';
import type { ReconcileOptions } from './options';
import { scriptEnv } from './run';

const STOP_GRACE_MS = 5000;
const POLL_MS = 50;

/** What the agent remembers about a service it started. */
interface ServiceRecord {
  pid: number;
  /** Field 22 of /proc/PID/stat at spawn: tells the same process from a reused pid. */
  startTime: string;
  /** sha256 of the command, to notice when the spec changes it. */
  fingerprint: string;
}

function servicesDir(options: ReconcileOptions): string {
  return join(options.stateDir, 'services');
}

function recordPath(name: string, options: ReconcileOptions): string {
  return join(servicesDir(options), `${name}.json`);
}

function readRecord(name: string, options: ReconcileOptions): ServiceRecord | null {
  try {
    return JSON.parse(readFileSync(recordPath(name, options), 'utf8')) as ServiceRecord;
  } catch {
    return null;
  }
}

/** State and start time of a process from /proc, or null when there is no such process. */
function procStat(pid: number): { state: string; startTime: string } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after the last ")".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, startTime: fields[19]! };
  } catch {
    return null;
  }
}

function isRunning(record: ServiceRecord): boolean {
  const stat = procStat(record.pid);
  return stat !== null && stat.state !== 'Z' && stat.startTime === record.startTime;
}

function fingerprint(command: string | string[]): string {
  return sha256(JSON.stringify(command));
}

/** Polls until the process is gone; false when it outlived `ms`. */
async function waitForExit(record: ServiceRecord, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isRunning(record)) {
    if (Date.now() >= deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** TERM the service's process group, wait up to 5 s, then KILL it. */
async function stopProcess(record: ServiceRecord): Promise<void> {
  if (!isRunning(record)) return;
  signalGroup(record.pid, 'SIGTERM');
  if (await waitForExit(record, STOP_GRACE_MS)) return;
  signalGroup(record.pid, 'SIGKILL');
  await waitForExit(record, 1000);
}

async function startProcess(name: string, command: string | string[], options: ReconcileOptions): Promise<void> {
  const dir = servicesDir(options);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const [file, ...args] = typeof command === 'string' ? ['/bin/sh', '-c', command] : command;
  const log = openSync(join(dir, `${name}.log`), 'a', 0o640);
  try {
    const child = spawn(file!, args, { cwd: options.root, env: scriptEnv(options.root), detached: true, stdio: ['ignore', log, log] });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => reject(new ResourceCommandError(`service ${name}`, `cannot start ${file}: ${err.message}`)));
    });
    child.unref();
    const pid = child.pid!;
    const stat = procStat(pid);
    if (stat === null) throw new ResourceCommandError(`service ${name}`, `exited at once; see ${join(dir, `${name}.log`)}`);
    const record: ServiceRecord = { pid, startTime: stat.startTime, fingerprint: fingerprint(command) };
    writeFileAtomic(recordPath(name, options), JSON.stringify(record), { mode: 0o600 });
  } finally {
    closeSync(log);
  }
}

/**
 * Converges a service the agent supervises. `restartBecause` names watched resources that
 * changed in this run. Returns the changes made (or, in a dry run, planned).
 */
export async function convergeSupervised(r: ServiceResource, options: ReconcileOptions, restartBecause: string[]): Promise<string[]> {
  if (r.command === undefined) {
    throw new ResourceUnsupportedError(`service ${r.name} is given as a systemd unit, but this node has no systemd: give command instead`);
  }
  if (r.state === 'stopped') return stopSupervised(r.name, options);
  const record = readRecord(r.name, options);
  const running = record !== null && isRunning(record);

  let change: string;
  if (!running) change = record === null ? 'start' : 'start (was not running)';
  else if (record.fingerprint !== fingerprint(r.command)) change = 'restart (command changed)';
  else if (restartBecause.length > 0) change = `restart (${restartBecause.join(', ')} changed)`;
  else return [];
  if (options.dryRun) return [change];
  if (running) await stopProcess(record);
  await startProcess(r.name, r.command, options);
  return [change];
}

/** Stops a supervised service and forgets it (its log stays). */
export async function stopSupervised(name: string, options: ReconcileOptions): Promise<string[]> {
  const record = readRecord(name, options);
  if (record === null) return [];
  const running = isRunning(record);
  if (options.dryRun) return running ? ['stop'] : [];
  await stopProcess(record);
  await rm(recordPath(name, options), { force: true });
  return running ? ['stop'] : [];
}
