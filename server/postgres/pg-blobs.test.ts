// Hosted files' bytes on a real PostgreSQL: the BlobStore contract (a refused put leaves no rows
// behind), a file stored on one replica served by another, the same file put by two replicas at
// once, a large file streamed in and out in bounded pieces, and puts and reads broken midway.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { blobStoreContract } from '../state/test-blob-store';
import { PgBlobs } from './pg-blobs';
import { CHUNK_BYTES, READ_AHEAD_BYTES } from './pg-chunks';
import type { PgPool } from './pg-database';
import { usePostgres } from './test-databases';

const pg = usePostgres();

/** Rows of uploads that no blob names (what a refused or broken put must not leave). */
async function leftovers(pool: PgPool): Promise<string[]> {
  const { rows } = await pool.query<{ upload: string }>('SELECT DISTINCT upload FROM blob_chunks WHERE upload NOT IN (SELECT upload FROM blobs)');
  return rows.map((r) => r.upload);
}

blobStoreContract('PgBlobs', async () => {
  const { pool } = await pg.fresh();
  return { store: new PgBlobs(pool), leftovers: () => leftovers(pool) };
});

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function* pieces(data: Buffer, size = 65_536): AsyncGenerator<Buffer> {
  for (let at = 0; at < data.length; at += size) yield data.subarray(at, at + size);
}

async function bytes(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** Deterministic bytes that do not compress (a binary, say). */
function binary(size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let at = 0, n = 0; at < size; at += 32, n++) createHash('sha256').update(String(n)).digest().copy(out, at);
  return out;
}

describe('PgBlobs', () => {
  it('serves a file from any replica once one has stored it, and two replicas storing it at once keep one', async () => {
    const { pool, url } = await pg.fresh();
    const a = new PgBlobs(pool);
    const b = new PgBlobs(await pg.pool(url));
    const data = binary(700_000);
    await Promise.all([a.put(sha256(data), data.length, pieces(data)), b.put(sha256(data), data.length, pieces(data))]);
    expect((await bytes((await b.get(sha256(data)))!.stream)).equals(data)).toBe(true);
    expect((await bytes((await a.get(sha256(data)))!.stream)).equals(data)).toBe(true);
    const { rows } = await pool.query<{ n: number }>('SELECT count(DISTINCT upload)::int AS n FROM blob_chunks');
    expect(rows[0]!.n).toBe(1);
    await b.delete(sha256(data));
    expect(await a.has(sha256(data))).toBe(false);
    expect(await leftovers(pool)).toEqual([]);
  });

  it('streams a large file in and out in rows of 256 KiB, holding a few of them at a time', async () => {
    const { pool } = await pg.fresh();
    const store = new PgBlobs(pool);
    const data = binary(8 * 1024 * 1024 + 12_345);
    await store.put(sha256(data), data.length, pieces(data, 100_000));
    const { rows } = await pool.query<{ n: number; largest: number }>('SELECT count(*)::int AS n, max(octet_length(data))::int AS largest FROM blob_chunks');
    expect(rows[0]).toEqual({ n: Math.ceil(data.length / CHUNK_BYTES), largest: CHUNK_BYTES });
    // Read slowly: what waits in the stream stays within one read-ahead.
    const blob = (await store.get(sha256(data)))!;
    expect(blob.size).toBe(data.length);
    const hash = createHash('sha256');
    let most = 0;
    for await (const part of blob.stream) {
      most = Math.max(most, blob.stream.readableLength);
      hash.update(part as Buffer);
      await new Promise((r) => setImmediate(r));
    }
    expect(hash.digest('hex')).toBe(sha256(data));
    expect(most).toBeLessThanOrEqual(READ_AHEAD_BYTES + CHUNK_BYTES);
  });

  it('fails a read whose file is deleted midway, rather than end it short', async () => {
    const { pool } = await pg.fresh();
    const store = new PgBlobs(pool);
    const data = binary(3 * READ_AHEAD_BYTES);
    await store.put(sha256(data), data.length, pieces(data));
    const reader = (await store.get(sha256(data)))!.stream[Symbol.asyncIterator]();
    expect(((await reader.next()).value as Buffer).length).toBeLessThan(data.length);
    await store.delete(sha256(data));
    const rest = (async () => {
      while (!(await reader.next()).done);
    })();
    await expect(rest).rejects.toThrow(/deleted while being read/);
  });

  it('leaves nothing behind when the database connection of a put dies midway', async () => {
    const { pool, url } = await pg.fresh();
    const store = new PgBlobs(pool);
    const data = binary(1024 * 1024);
    const other = await pg.pool(url);
    async function* stalling(): AsyncGenerator<Buffer> {
      yield data.subarray(0, 600_000);
      // The put's connection waits in its transaction for more data: end it, as a restart would.
      await other.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'");
      yield data.subarray(600_000);
    }
    await expect(store.put(sha256(data), data.length, stalling())).rejects.toThrow();
    expect(await store.has(sha256(data))).toBe(false);
    const { rows } = await other.query<{ n: number }>('SELECT count(*)::int AS n FROM blob_chunks');
    expect(rows[0]!.n).toBe(0);
  });
});
