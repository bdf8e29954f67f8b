// Self-upgrade, agent side. The agent downloads the new executable from the server (TLS verified
// against the pinned CA), checks its size and SHA-256 (both carried in the signed command), writes
// upgrade/pending, swaps the binary atomically (the old one stays as <bin>.prev) and exits. The
// launcher (installer/fleet-agent-launch) starts the new one and rolls back by itself unless the
// new agent reconnects before the deadline and removes upgrade/pending.
import { createHash } from 'node:crypto';
import { chmodSync, createWriteStream, existsSync, linkSync, mkdirSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { get } from 'node:https';
import { join } from 'node:path';
import { parseServerAddress } from '../common/address';
import { VERSION } from '../common/version';
import type { UpgradeCommand, UpgradeReport } from '../proto/gen/fleet/v1/agent';
import { SERVER_NAME } from '../transport';
import { CommandRefusedError } from './errors';
import { fsyncFile, renameDurably, writeFileAtomic } from '../common/atomic-write';
import { readEnv } from '../common/env';
import type { AgentIdentity } from './state';

function readMarker(file: string): Record<string, string> | null {
  if (!existsSync(file)) return null;
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** The upgrade markers in the state directory, shared with the launcher script. */
export class UpgradeMarkers {
  readonly #dir: string;

  constructor(stateDir: string) {
    this.#dir = join(stateDir, 'upgrade');
  }

  get pendingFile(): string {
    return join(this.#dir, 'pending');
  }

  get rolledBackFile(): string {
    return join(this.#dir, 'rolled-back');
  }

  writePending(version: string, deadlineMs: number): void {
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(this.pendingFile, `version=${version}\nfrom=${VERSION}\ndeadline=${Math.ceil(deadlineMs / 1000)}\n`);
  }

  /** What to tell the server in Hello about the last upgrade, if anything. */
  report(): UpgradeReport | undefined {
    const rolled = readMarker(this.rolledBackFile);
    if (rolled) return { version: rolled.version ?? '', fromVersion: rolled.from ?? '', rolledBack: true, reason: rolled.reason ?? 'rolled back' };
    const pending = readMarker(this.pendingFile);
    if (pending && pending.version === VERSION) return { version: VERSION, fromVersion: pending.from ?? '', rolledBack: false, reason: '' };
    return undefined;
  }

  /** The server has heard the report: a finished trial is confirmed, a rollback acknowledged. */
  settle(): void {
    const pending = readMarker(this.pendingFile);
    if (pending?.version === VERSION) rmSync(this.pendingFile, { force: true });
    rmSync(this.rolledBackFile, { force: true });
  }
}

function download(url: URL, caPem: string, file: string, expect: { sha256: string; size: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = get(url, { ca: caPem, servername: SERVER_NAME, timeout: 60_000 }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new CommandRefusedError(`download of ${url.pathname} failed: HTTP ${res.statusCode}`));
        return;
      }
      const hash = createHash('sha256');
      let size = 0;
      const out = createWriteStream(file, { mode: 0o755 });
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        hash.update(chunk);
        if (size > expect.size) res.destroy(new Error(`larger than the expected ${expect.size} bytes`));
      });
      res.pipe(out);
      res.on('error', reject);
      out.on('error', reject);
      out.on('finish', () => {
        const got = hash.digest('hex');
        if (size !== expect.size || got !== expect.sha256) reject(new CommandRefusedError(`the download does not match the signed checksum (got ${size} bytes, sha256 ${got})`));
        else resolve();
      });
    });
    req.on('timeout', () => req.destroy(new Error('download timed out')));
    req.on('error', reject);
  });
}

/** Where the running executable is, when it can upgrade itself; otherwise why not. */
export function upgradeTarget(): string {
  const bin = readEnv('FLEET_BIN');
  if (!readEnv('FLEET_AGENT_SUPERVISED') || bin === undefined) {
    throw new CommandRefusedError('this agent was not started by fleet-agent-launch (install.sh), which is needed to roll back; re-run the installer to upgrade it');
  }
  return bin;
}

/** Downloads, verifies, stages and swaps in the new executable. The caller then exits. */
export async function stageUpgrade(command: UpgradeCommand, identity: AgentIdentity, markers: UpgradeMarkers): Promise<void> {
  const bin = upgradeTarget();
  if (!/^[0-9a-f]{64}$/.test(command.sha256) || !command.path.startsWith('/agent/')) throw new CommandRefusedError('malformed upgrade command');
  const { host } = parseServerAddress(identity.server);
  const url = new URL(`https://${host.includes(':') ? `[${host}]` : host}:${command.httpsPort}${command.path}`);
  const staged = `${bin}.new`;
  rmSync(staged, { force: true });
  try {
    await download(url, identity.caPem, staged, { sha256: command.sha256, size: Number(command.size) });
    chmodSync(staged, 0o755);
    fsyncFile(staged);
  } catch (err) {
    rmSync(staged, { force: true });
    throw err instanceof CommandRefusedError ? err : new CommandRefusedError(`cannot download ${url.href}: ${(err as Error).message}`);
  }
  markers.writePending(command.version, Date.now() + (command.deadlineMs || 60_000));
  // Keep the running binary as .prev (a hard link, so <bin> never goes missing), then swap.
  if (existsSync(`${bin}.prev`)) unlinkSync(`${bin}.prev`);
  linkSync(bin, `${bin}.prev`);
  renameDurably(staged, bin);
}
