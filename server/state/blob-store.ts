// Where content-addressed data is kept (the files the server hosts for specs): the seam between
// hosted files, whose rows stay in the StateStore, and the bytes (docs/architecture.md, "State
// shared by replicas"). The embedded server keeps them as files under DATA/files (LocalBlobs);
// replicas would keep them in a database or an object store every replica reads.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { BlobDigestError, BlobSizeError } from '../errors';

/** One stored blob, to read. */
export interface Blob {
  size: number;
  /** Its bytes from the start; the caller reads it to the end or destroys it. */
  stream: Readable;
}

/**
 * Blobs by SHA-256 (64 lower-case hex digits).
 *
 * A shared implementation must make `put` all or nothing across replicas: no replica ever sees a
 * blob under a digest until all of its bytes are stored and checked against that digest, and a
 * put that fails leaves nothing behind.
 */
export interface BlobStore {
  /**
   * Stores `data` under `sha256` when it is exactly `size` bytes with that digest; otherwise
   * rejects (BlobSizeError, BlobDigestError, or the error of `data` itself) and keeps nothing.
   * Storing a blob that is already there again is harmless.
   */
  put(sha256: string, size: number, data: AsyncIterable<Buffer>): Promise<void>;
  /** The blob under `sha256`, or undefined when there is none. */
  get(sha256: string): Promise<Blob | undefined>;
  /** True when there is a blob under `sha256`. */
  has(sha256: string): Promise<boolean>;
  /** Deletes the blob under `sha256` (nothing happens when there is none). */
  delete(sha256: string): Promise<void>;
}

/** What a blob's name is: a SHA-256 in lower-case hex. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * An upload checked against the size and digest it announced, as its bytes go by: what every
 * BlobStore's `put` checks before it keeps anything.
 * @example const check = new UploadCheck(sha256, size); for await (const c of data) { check.add(c); … } check.end();
 */
export class UploadCheck {
  readonly #sha256: string;
  readonly #size: number;
  readonly #hash = createHash('sha256');
  #received = 0;

  /** @throws BlobDigestError when `sha256` is not a digest */
  constructor(sha256: string, size: number) {
    if (!SHA256_HEX.test(sha256)) throw new BlobDigestError('the upload must announce its sha256 (64 lower-case hex digits)');
    this.#sha256 = sha256;
    this.#size = size;
  }

  /** Takes the next bytes. @throws BlobSizeError once there are more than announced */
  add(chunk: Buffer): void {
    this.#received += chunk.length;
    if (this.#received > this.#size) throw new BlobSizeError(`more data than the announced ${this.#size} bytes`);
    this.#hash.update(chunk);
  }

  /** After the last bytes. @throws BlobSizeError when they were fewer than announced, BlobDigestError when their digest differs */
  end(): void {
    const digest = this.#hash.digest('hex');
    if (this.#received !== this.#size) throw new BlobSizeError(`the upload ended after ${this.#received} of ${this.#size} bytes`);
    if (digest !== this.#sha256) throw new BlobDigestError(`sha256 mismatch: announced ${this.#sha256}, received ${digest}`);
  }
}
