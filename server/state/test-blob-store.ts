// The contract every BlobStore keeps (blob-store.ts), as a test suite a store runs on itself: the
// local one here (local-blobs.test.ts), a shared one later with the same cases.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BlobDigestError, BlobSizeError } from '../errors';
import type { BlobStore } from './blob-store';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** The data in chunks of at most 64 KiB, as an upload delivers it. */
async function* chunks(data: Buffer): AsyncGenerator<Buffer> {
  for (let at = 0; at < data.length; at += 65_536) yield data.subarray(at, at + 65_536);
}

async function bytes(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(Buffer.from(part as Buffer));
  return Buffer.concat(parts);
}

/**
 * Runs the BlobStore contract against stores made by `make` (a fresh, empty one per test).
 * `leftovers` lists what the store holds besides its blobs (temporary uploads, say): it must be
 * empty after a refused put.
 */
export function blobStoreContract(name: string, make: () => Promise<{ store: BlobStore; leftovers: () => Promise<string[]> }>): void {
  describe(`BlobStore contract: ${name}`, () => {
    const data = Buffer.alloc(300_000, 7);
    data.write('fleet', 1000);

    it('gives back exactly the bytes it stored, under their digest', async () => {
      const { store } = await make();
      expect(await store.has(sha256(data))).toBe(false);
      await store.put(sha256(data), data.length, chunks(data));
      expect(await store.has(sha256(data))).toBe(true);
      const blob = (await store.get(sha256(data)))!;
      expect(blob.size).toBe(data.length);
      expect((await bytes(blob.stream)).equals(data)).toBe(true);
      // The same data again is harmless.
      await store.put(sha256(data), data.length, chunks(data));
      expect((await bytes((await store.get(sha256(data)))!.stream)).equals(data)).toBe(true);
    });

    it('refuses data whose digest is not the announced one, and keeps nothing of it', async () => {
      const { store, leftovers } = await make();
      const claimed = sha256(Buffer.from('something else'));
      await expect(store.put(claimed, data.length, chunks(data))).rejects.toBeInstanceOf(BlobDigestError);
      expect(await store.has(claimed)).toBe(false);
      expect(await store.has(sha256(data))).toBe(false);
      expect(await store.get(claimed)).toBeUndefined();
      expect(await leftovers()).toEqual([]);
    });

    it('refuses data longer or shorter than announced, and keeps nothing of it', async () => {
      const { store, leftovers } = await make();
      await expect(store.put(sha256(data), data.length - 1, chunks(data))).rejects.toBeInstanceOf(BlobSizeError);
      await expect(store.put(sha256(data), data.length + 1, chunks(data))).rejects.toBeInstanceOf(BlobSizeError);
      expect(await store.has(sha256(data))).toBe(false);
      expect(await leftovers()).toEqual([]);
    });

    it('keeps nothing when the data breaks off, and passes its error on', async () => {
      const { store, leftovers } = await make();
      const broken = new Error('connection reset');
      async function* breaking(): AsyncGenerator<Buffer> {
        yield data.subarray(0, 100_000);
        throw broken;
      }
      await expect(store.put(sha256(data), data.length, breaking())).rejects.toBe(broken);
      expect(await store.has(sha256(data))).toBe(false);
      expect(await leftovers()).toEqual([]);
    });

    it('refuses a name that is not a digest, and has nothing under one', async () => {
      const { store } = await make();
      await expect(store.put('../etc/passwd', data.length, chunks(data))).rejects.toBeInstanceOf(BlobDigestError);
      for (const bad of ['../etc/passwd', 'A'.repeat(64), '', sha256(data).slice(1)]) {
        expect(await store.has(bad)).toBe(false);
        expect(await store.get(bad)).toBeUndefined();
      }
    });

    it('deletes a blob, and deleting none is harmless', async () => {
      const { store } = await make();
      await store.put(sha256(data), data.length, chunks(data));
      await store.delete(sha256(data));
      await store.delete(sha256(data));
      expect(await store.has(sha256(data))).toBe(false);
      expect(await store.get(sha256(data))).toBeUndefined();
    });
  });
}
