// The bytes of hosted files in PostgreSQL, so every replica serves a file any replica took in. A
// put writes its rows under an upload id of its own in one transaction and names the blob last,
// once its size and digest are checked: no replica sees a blob before it is whole, and a refused or
// broken put (or a replica dying in the middle of one) rolls back and leaves nothing behind.
import { randomUUID } from 'node:crypto';
import { SHA256_HEX, UploadCheck, type Blob, type BlobStore } from '../state';
import { CHUNK_BYTES, chunkStream } from './pg-chunks';
import { inTransaction, type PgPool } from './pg-database';

/** The BlobStore of replicas sharing one database (tables blobs and blob_chunks). */
export class PgBlobs implements BlobStore {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  async put(sha256: string, size: number, data: AsyncIterable<Buffer>): Promise<void> {
    const check = new UploadCheck(sha256, size);
    // A put holds one connection (its transaction) for as long as its data takes to arrive.
    await inTransaction(this.#pool, async (client) => {
      const upload = randomUUID();
      let at = 0;
      const store = async (chunk: Buffer) => {
        await client.query('INSERT INTO blob_chunks (upload, at, data) VALUES ($1, $2, $3)', [upload, at, chunk]);
        at += chunk.length;
      };
      let parts: Buffer[] = [];
      let held = 0;
      for await (const piece of data) {
        check.add(piece);
        parts.push(piece);
        held += piece.length;
        while (held >= CHUNK_BYTES) {
          const all = Buffer.concat(parts, held);
          await store(all.subarray(0, CHUNK_BYTES));
          parts = [all.subarray(CHUNK_BYTES)];
          held -= CHUNK_BYTES;
        }
      }
      if (held > 0) await store(Buffer.concat(parts, held));
      check.end();
      const named = await client.query('INSERT INTO blobs (sha256, upload, size) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING', [sha256, upload, size]);
      // Another put of the same bytes was named first (on this replica or another): keep that one.
      if (!named.rowCount) await client.query('DELETE FROM blob_chunks WHERE upload = $1', [upload]);
    });
  }

  async get(sha256: string): Promise<Blob | undefined> {
    if (!SHA256_HEX.test(sha256)) return undefined;
    const { rows } = await this.#pool.query<{ upload: string; size: number }>('SELECT upload, size FROM blobs WHERE sha256 = $1', [sha256]);
    const blob = rows[0];
    if (!blob) return undefined;
    const stream = chunkStream(this.#pool, 'SELECT data FROM blob_chunks WHERE upload = $1 AND at >= $2 AND at < $3 ORDER BY at', blob.upload, blob.size);
    return { size: blob.size, stream };
  }

  async has(sha256: string): Promise<boolean> {
    if (!SHA256_HEX.test(sha256)) return false;
    const { rowCount } = await this.#pool.query('SELECT 1 FROM blobs WHERE sha256 = $1', [sha256]);
    return rowCount === 1;
  }

  async delete(sha256: string): Promise<void> {
    await this.#pool.query(
      'WITH gone AS (DELETE FROM blobs WHERE sha256 = $1 RETURNING upload) DELETE FROM blob_chunks WHERE upload IN (SELECT upload FROM gone)',
      [sha256],
    );
  }
}
