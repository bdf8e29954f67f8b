// `fleet-server doctor`: read-only checks of a data directory, safe while the server runs. Each
// check says ok, warn or fail with a one-line reason; any fail makes the exit code 1.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync, statSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { MIGRATIONS } from '../store';
import { inspectDatabase } from '../store';
import { DB_FILE } from './backup';

/** How a check came out. */
export const CheckStatus = { Ok: 'ok', Warn: 'warn', Fail: 'fail' } as const;
export type CheckStatus = (typeof CheckStatus)[keyof typeof CheckStatus];

/** One check's result. */
export interface DoctorCheck {
  name: string;
  status: CheckStatus;
  detail: string;
}

const GiB = 1024 ** 3;
const DAY = 86_400_000;
const NATS_FILES = ['operator.nk', 'account.nk', 'system.nk', 'operator.jwt', 'account.jwt', 'system.jwt'];

const ok = (name: string, detail: string): DoctorCheck => ({ name, status: CheckStatus.Ok, detail });
const warn = (name: string, detail: string): DoctorCheck => ({ name, status: CheckStatus.Warn, detail });
const fail = (name: string, detail: string): DoctorCheck => ({ name, status: CheckStatus.Fail, detail });

function expiry(name: string, cert: X509Certificate, now: number): DoctorCheck {
  const left = Date.parse(cert.validTo) - now;
  const days = Math.floor(left / DAY);
  if (left <= 0) return fail(name, `expired on ${cert.validTo}`);
  if (Date.parse(cert.validFrom) > now) return fail(name, `not valid before ${cert.validFrom} (is the clock right?)`);
  if (left < 30 * DAY) return warn(name, `expires in ${days} days (${cert.validTo})`);
  return ok(name, `valid for ${days} more days`);
}

function readCert(file: string): X509Certificate | string {
  if (!existsSync(file)) return `${file} is missing`;
  try {
    return new X509Certificate(readFileSync(file));
  } catch (err) {
    return `${file} does not parse as a PEM certificate (${(err as Error).message})`;
  }
}

function keyMatches(cert: X509Certificate, keyFile: string): string | null {
  if (!existsSync(keyFile)) return `${keyFile} is missing`;
  try {
    return cert.checkPrivateKey(createPrivateKey(readFileSync(keyFile))) ? null : `${keyFile} is not the key of its certificate`;
  } catch (err) {
    return `${keyFile} does not parse as a private key (${(err as Error).message})`;
  }
}

function pkiChecks(dataDir: string, now: number): DoctorCheck[] {
  const dir = join(dataDir, 'pki');
  const out: DoctorCheck[] = [];
  const ca = readCert(join(dir, 'ca.crt'));
  if (typeof ca === 'string') out.push(fail('ca', ca));
  else {
    const problem = keyMatches(ca, join(dir, 'ca.key'));
    out.push(problem ? fail('ca', problem) : ok('ca', `CA certificate and key match (${ca.subject.replace(/\n/g, ', ')})`));
    out.push(expiry('ca expiry', ca, now));
  }
  const server = readCert(join(dir, 'server.crt'));
  if (typeof server === 'string') out.push(fail('server certificate', server));
  else {
    const keyProblem = keyMatches(server, join(dir, 'server.key'));
    const issued = typeof ca !== 'string' && server.checkIssued(ca) && server.verify(ca.publicKey);
    if (keyProblem) out.push(fail('server certificate', keyProblem));
    else if (typeof ca !== 'string' && !issued) out.push(fail('server certificate', 'not signed by this data directory\'s CA'));
    else out.push(ok('server certificate', 'present, signed by the CA, and matches server.key'));
    // The server re-issues its certificate at start when under 30 days, so a warning here means it has not restarted.
    out.push(expiry('server certificate expiry', server, now));
  }
  out.push(existsSync(join(dir, 'command-signing.key')) ? ok('command signing key', 'present') : fail('command signing key', `${join(dir, 'command-signing.key')} is missing (agents pinned its public key: restore it from a backup)`));
  return out;
}

/**
 * Runs every check on `dataDir` without changing anything in it. `natsConfigured` (FLEET_NATS or
 * --nats) makes missing NATS keys a failure.
 */
export function runDoctor(dataDir: string, options: { natsConfigured?: boolean; now?: number } = {}): DoctorCheck[] {
  const now = options.now ?? Date.now();
  const checks: DoctorCheck[] = [];
  if (!existsSync(dataDir) || !statSync(dataDir).isDirectory()) return [fail('data directory', `${dataDir} does not exist or is not a directory`)];
  try {
    accessSync(dataDir, constants.W_OK);
    checks.push(ok('data directory', `${dataDir} exists and is writable`));
  } catch {
    checks.push(fail('data directory', `${dataDir} is not writable by this user`));
  }
  try {
    const fs = statfsSync(dataDir);
    const free = fs.bavail * fs.bsize;
    const share = fs.blocks > 0 ? fs.bavail / fs.blocks : 1;
    const text = `${(free / GiB).toFixed(1)} GiB free (${Math.round(share * 100)}%)`;
    checks.push(free < GiB || share < 0.1 ? warn('disk space', `${text}: under 1 GiB or 10%`) : ok('disk space', text));
  } catch (err) {
    checks.push(warn('disk space', `cannot tell (${(err as Error).message})`));
  }
  const dbFile = join(dataDir, DB_FILE);
  if (!existsSync(dbFile)) checks.push(fail('database', `${dbFile} is missing`));
  else {
    const db = inspectDatabase(dbFile);
    if (db.problem) checks.push(fail('database', `${dbFile} fails its integrity check: ${db.problem}`));
    else {
      checks.push(ok('database', `integrity ok, ${db.nodes} nodes, ${db.jobs} jobs`));
      if (db.schemaVersion === MIGRATIONS.length) checks.push(ok('schema', `version ${db.schemaVersion} (current)`));
      else if (db.schemaVersion < MIGRATIONS.length) checks.push(warn('schema', `version ${db.schemaVersion}; this fleet-server migrates it to ${MIGRATIONS.length} when it starts`));
      else checks.push(fail('schema', `version ${db.schemaVersion} is newer than this fleet-server knows (${MIGRATIONS.length}); upgrade fleet-server`));
    }
  }
  checks.push(...pkiChecks(dataDir, now));
  const natsDir = join(dataDir, 'nats');
  const missing = NATS_FILES.filter((f) => !existsSync(join(natsDir, f)));
  if (missing.length === 0) checks.push(ok('nats keys', 'operator and account keys present'));
  else if (options.natsConfigured) checks.push(fail('nats keys', `NATS is configured but ${missing.join(', ')} missing in ${natsDir} (restore them: brokers trust these keys)`));
  else checks.push(ok('nats keys', 'NATS not configured (the keys are created when the server starts)'));
  return checks;
}
