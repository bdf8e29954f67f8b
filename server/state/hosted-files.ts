// Files the server hosts for specs (binaries, .debs), stored by SHA-256 in a BlobStore (DATA/files
// in the embedded server) with a row each in the StateStore, and served to agents over HTTPS.
// Uploads are checked against the size and digest the client claims.
import { HostedFileError } from '../errors';
import type { StateStore } from '../store';
import { SHA256_HEX, type Blob, type BlobStore } from './blob-store';

/** The largest file the server accepts. */
export const MAX_HOSTED_FILE_BYTES = 512 << 20;

export class HostedFiles {
  readonly #blobs: BlobStore;
  readonly #store: StateStore;

  constructor(blobs: BlobStore, store: StateStore) {
    this.#blobs = blobs;
    this.#store = store;
  }

  /** A stored file to serve (its recorded size and its bytes), or undefined. */
  async open(sha256: string): Promise<Blob | undefined> {
    if (!SHA256_HEX.test(sha256)) return undefined;
    const record = await this.#store.hostedFile(sha256);
    if (!record) return undefined;
    const blob = await this.#blobs.get(sha256);
    return blob && { size: record.size, stream: blob.stream };
  }

  /** Checks an upload's announced name, size and digest before any data is read. */
  check(info: { name: string; size: number; sha256: string }): void {
    if (!SHA256_HEX.test(info.sha256)) throw new HostedFileError('the upload must announce its sha256 (64 lower-case hex digits)');
    if (info.size > MAX_HOSTED_FILE_BYTES) throw new HostedFileError(`the file is ${info.size} bytes; the server hosts files up to ${MAX_HOSTED_FILE_BYTES} bytes`);
    if (!/^[^/\0]{1,200}$/.test(info.name)) throw new HostedFileError('the file name must be 1–200 characters without "/"');
  }

  /**
   * Stores the data from `chunks` when it matches the announced size and digest; nothing is kept
   * otherwise. Returns true when the server already had the file.
   */
  async store(info: { name: string; size: number; sha256: string }, chunks: AsyncIterable<Buffer>, actor: string): Promise<boolean> {
    this.check(info);
    if ((await this.#store.hostedFile(info.sha256)) && (await this.#blobs.has(info.sha256))) return true;
    await this.#blobs.put(info.sha256, info.size, chunks);
    await this.#store.addHostedFile({ sha256: info.sha256, name: info.name, size: info.size, createdBy: actor, createdAt: Date.now() });
    return false;
  }
}
