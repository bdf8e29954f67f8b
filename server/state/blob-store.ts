// Where content-addressed data is kept (the files the server hosts for specs): the seam between
// hosted files, whose rows stay in the StateStore, and the bytes (docs/architecture.md, "State
// shared by replicas"). The embedded server keeps them as files under DATA/files (LocalBlobs);
// replicas would keep them in a database or an object store every replica reads.
import type { Readable } from 'node:stream';

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
