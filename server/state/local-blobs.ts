// The embedded BlobStore: one file per blob, DATA/files/<sha256>, written to a temporary file,
// checked, synced and renamed into place, so a blob is there whole or not at all.
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncFile, renameDurably } from '../../common/atomic-write';
import { SHA256_HEX, UploadCheck, type Blob, type BlobStore } from './blob-store';

/** Blobs as files in one directory (created, mode 0700, on the first put). */
export class LocalBlobs implements BlobStore {
  readonly #dir: string;

  /** @param dir where the files go: DATA/files */
  constructor(dir: string) {
    this.#dir = dir;
  }

  /** The file of a blob, or undefined for a name that is not a digest. */
  #file(sha256: string): string | undefined {
    return SHA256_HEX.test(sha256) ? join(this.#dir, sha256) : undefined;
  }

  async put(sha256: string, size: number, data: AsyncIterable<Buffer>): Promise<void> {
    const check = new UploadCheck(sha256, size);
    const target = join(this.#dir, sha256);
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    const tmp = join(this.#dir, `.upload-${randomBytes(6).toString('hex')}`);
    const out = createWriteStream(tmp, { mode: 0o600 });
    // A write still under way when an abandoned upload destroys the stream fails afterwards; with
    // no listener that 'error' event took the whole server down (found by bench/fuzz).
    let writeError: Error | undefined;
    out.on('error', (err) => (writeError ??= err));
    try {
      for await (const chunk of data) {
        check.add(chunk);
        if (!out.write(chunk)) await new Promise<void>((r) => (out.once('drain', () => r()), out.once('error', () => r())));
        if (writeError) throw writeError;
      }
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      check.end();
      fsyncFile(tmp);
      renameDurably(tmp, target);
    } finally {
      // Wait for the file to be closed (it may not even be open yet) before removing it, or an
      // abandoned upload leaves its temporary file behind.
      if (!out.closed) await new Promise<void>((resolve) => (out.once('close', () => resolve()), out.destroy()));
      await rm(tmp, { force: true });
    }
  }

  async get(sha256: string): Promise<Blob | undefined> {
    const file = this.#file(sha256);
    if (!file) return undefined;
    try {
      // Opened first, so a blob deleted meanwhile is "none" rather than a failed stream.
      const handle = await open(file, 'r');
      try {
        const { size } = await handle.stat();
        return { size, stream: handle.createReadStream() };
      } catch (err) {
        await handle.close();
        throw err;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async has(sha256: string): Promise<boolean> {
    const file = this.#file(sha256);
    return file ? stat(file).then((s) => s.isFile(), () => false) : false;
  }

  async delete(sha256: string): Promise<void> {
    const file = this.#file(sha256);
    if (file) await rm(file, { force: true });
  }
}
