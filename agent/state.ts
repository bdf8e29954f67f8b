// The agent's state directory: its key and certificate, the pinned CA and command-signing key,
// which node it is, and its NATS credentials. Written once at enrollment; private keys are mode 0600.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renameDurably, writeFileAtomic } from '../common/atomic-write';
import { StateDirError } from './errors';

export interface AgentIdentity {
  nodeId: string;
  nodeName: string;
  /** host:port of the server, as enrolled. */
  server: string;
  keyPem: string;
  certPem: string;
  caPem: string;
  /** Ed25519 SPKI DER of the server's command-signing key. */
  commandSigningKey: Buffer;
}

interface NodeFile {
  nodeId: string;
  nodeName: string;
  server: string;
  commandSigningKey: string;
}

export class AgentState {
  constructor(readonly dir: string) {}

  /** Creates the directory (0700) or explains why it cannot. */
  ensure(): void {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      mkdirSync(join(this.dir, 'spool'), { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new StateDirError(`cannot create the agent state directory ${this.dir}: ${(err as Error).message} (set FLEET_AGENT_DIR or --state-dir)`, err);
    }
  }

  get spoolDir(): string {
    return join(this.dir, 'spool');
  }

  /** Where a freshly generated key is kept until enrollment completes. */
  get pendingKeyFile(): string {
    return join(this.dir, 'agent.key');
  }

  /** The agent's NATS nkey seed, made at enrollment (it never leaves the machine). */
  get natsSeedFile(): string {
    return join(this.dir, 'nats.nk');
  }

  /** The agent's NATS credentials: its user JWT and nkey seed in the standard creds format, 0600. */
  get natsCredsFile(): string {
    return join(this.dir, 'nats.creds');
  }

  /** Commands accepted and not yet expired (replay protection, agent/replay-guard.ts). */
  get seenCommandsFile(): string {
    return join(this.dir, 'commands-seen.jsonl');
  }

  /** Where agents before the append-only log kept accepted commands (a JSON array). */
  get legacySeenCommandsFile(): string {
    return join(this.dir, 'commands-seen.json');
  }

  /** The NATS creds file's text, or null when the agent has none (enrolled by an older version). */
  loadNatsCredentials(): string | null {
    return existsSync(this.natsCredsFile) ? readFileSync(this.natsCredsFile, 'utf8') : null;
  }

  saveNatsCredentials(creds: string): void {
    writeFileAtomic(this.natsCredsFile, creds, { mode: 0o600 });
  }

  load(): AgentIdentity | null {
    const nodeFile = join(this.dir, 'node.json');
    if (!existsSync(nodeFile)) return null;
    this.#finishCredentialSwap();
    try {
      const node = JSON.parse(readFileSync(nodeFile, 'utf8')) as NodeFile;
      return {
        nodeId: node.nodeId,
        nodeName: node.nodeName,
        server: node.server,
        commandSigningKey: Buffer.from(node.commandSigningKey, 'base64'),
        keyPem: readFileSync(join(this.dir, 'agent.key'), 'utf8'),
        certPem: readFileSync(join(this.dir, 'agent.crt'), 'utf8'),
        caPem: readFileSync(join(this.dir, 'ca.crt'), 'utf8'),
      };
    } catch (err) {
      throw new StateDirError(`the agent state in ${this.dir} is damaged: ${(err as Error).message}; remove node.json to enroll again`, err);
    }
  }

  /**
   * Replaces the key and certificate (certificate renewal). Both are written in full as `.new`
   * files first, then moved into place; a crash in between is finished by the next load, so the
   * key and certificate on disk always belong together.
   */
  saveCredentials(keyPem: string, certPem: string): void {
    writeFileAtomic(join(this.dir, 'agent.key.new'), keyPem, { mode: 0o600 });
    writeFileAtomic(join(this.dir, 'agent.crt.new'), certPem);
    this.#finishCredentialSwap();
  }

  #finishCredentialSwap(): void {
    const key = join(this.dir, 'agent.key');
    const crt = join(this.dir, 'agent.crt');
    // The certificate is written last and moved last: if it is still pending, so is the swap.
    if (!existsSync(`${crt}.new`)) return;
    if (existsSync(`${key}.new`)) renameDurably(`${key}.new`, key);
    renameDurably(`${crt}.new`, crt);
  }

  /** Saves the identity; node.json goes last, so a half-written state is never taken as enrolled. */
  save(identity: AgentIdentity): void {
    writeFileAtomic(join(this.dir, 'agent.key'), identity.keyPem, { mode: 0o600 });
    writeFileAtomic(join(this.dir, 'agent.crt'), identity.certPem);
    writeFileAtomic(join(this.dir, 'ca.crt'), identity.caPem);
    const node: NodeFile = { nodeId: identity.nodeId, nodeName: identity.nodeName, server: identity.server, commandSigningKey: identity.commandSigningKey.toString('base64') };
    writeFileAtomic(join(this.dir, 'node.json'), JSON.stringify(node, null, 2) + '\n', { mode: 0o600 });
  }
}
