// Files the server hosts for specs (binaries, .debs), stored by SHA-256 under DATA/files and
// served to agents over HTTPS. Uploads are checked against the size and digest the client claims.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, rmSync } from 'node:fs';
import { fsyncFile, renameDurably } from '../../common/atomic-write';
import { join } from 'node:path';
import { HostedFileError } from '../errors';
import type { StateStore } from '../store';

/** The largest file the server accepts. */
export const MAX_HOSTED_FILE_BYTES = 512 << 20;
const SHA256_RE = /^[0-9a-f]{64}$/;

export class HostedFiles {
  readonly #dir: string;
  readonly #store: StateStore;

  constructor(dataDir: string, store: StateStore) {
    this.#dir = join(dataDir, 'files');
    this.#store = store;
  }

  /** The path of a stored file, or undefined. */
  async path(sha256: string): Promise<string | undefined> {
    if (!SHA256_RE.test(sha256)) return undefined;
    const p = join(this.#dir, sha256);
    return existsSync(p) && (await this.#store.hostedFile(sha256)) ? p : undefined;
  }

  /** Checks an upload's announced name, size and digest before any data is read. */
  check(info: { name: string; size: number; sha256: string }): void {
    if (!SHA256_RE.test(info.sha256)) throw new HostedFileError('the upload must announce its sha256 (64 lower-case hex digits)');
    if (info.size > MAX_HOSTED_FILE_BYTES) throw new HostedFileError(`the file is ${info.size} bytes; the server hosts files up to ${MAX_HOSTED_FILE_BYTES} bytes`);
    if (!/^[^/\0]{1,200}$/.test(info.name)) throw new HostedFileError('the file name must be 1–200 characters without "/"');
  }

  /**
   * Stores the data from `chunks` when it matches the announced size and digest; nothing is kept
   * otherwise. Returns true when the server already had the file.
   */
  async store(info: { name: string; size: number; sha256: string }, chunks: AsyncIterable<Buffer>, actor: string): Promise<boolean> {
    this.check(info);
    if (await this.path(info.sha256)) return true;
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    const tmp = join(this.#dir, `.upload-${randomBytes(6).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const out = createWriteStream(tmp, { mode: 0o600 });
    // A write still under way when an abandoned upload destroys the stream fails afterwards; with
    // no listener that 'error' event took the whole server down (found by bench/fuzz).
    let writeError: Error | undefined;
    out.on('error', (err) => (writeError ??= err));
    try {
      for await (const chunk of chunks) {
        size += chunk.length;
        if (size > info.size) throw new HostedFileError(`more data than the announced ${info.size} bytes`);
        hash.update(chunk);
        if (!out.write(chunk)) await new Promise<void>((r) => (out.once('drain', () => r()), out.once('error', () => r())));
        if (writeError) throw writeError;
      }
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      const digest = hash.digest('hex');
      if (size !== info.size) throw new HostedFileError(`the upload ended after ${size} of ${info.size} bytes`);
      if (digest !== info.sha256) throw new HostedFileError(`sha256 mismatch: announced ${info.sha256}, received ${digest}`);
      fsyncFile(tmp);
      renameDurably(tmp, join(this.#dir, info.sha256));
      await this.#store.addHostedFile({ sha256: info.sha256, name: info.name, size, createdBy: actor, createdAt: Date.now() });
      return false;
    } finally {
      // Wait for the file to be closed (it may not even be open yet) before removing it, or an
      // abandoned upload leaves its temporary file behind.
      if (!out.closed) await new Promise<void>((resolve) => (out.once('close', () => resolve()), out.destroy()));
      rmSync(tmp, { force: true });
    }
  }
}
