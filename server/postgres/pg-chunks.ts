// Bytes kept in PostgreSQL as rows of at most CHUNK_BYTES, keyed by their owner and the offset of
// their first byte (recording_chunks, blob_chunks), and read back as a stream that holds about
// READ_AHEAD_BYTES at a time: a 100 MB recording or file never sits whole in memory.
import { Readable } from 'node:stream';
import type { PgPool } from './pg-database';

/** The most bytes one row holds. */
export const CHUNK_BYTES = 256 * 1024;

/** How far past its position a reader fetches at once: the rows that start within it. */
export const READ_AHEAD_BYTES = 1024 * 1024;

/**
 * A stream of one owner's rows, in order. `query` selects `data` of the rows of owner $1 whose
 * offsets are from $2 up to $3, by offset. With `size` the stream fails rather than end short (the
 * bytes were deleted while being read); without, it ends where the stored bytes end (a recording
 * still being written).
 */
export function chunkStream(pool: PgPool, query: string, owner: string, size?: number): Readable {
  const fetch = async (from: number) => (await pool.query<{ data: Buffer }>(query, [owner, from, from + READ_AHEAD_BYTES])).rows.map((r) => r.data);
  let at = 0;
  return new Readable({
    // Node calls read() again only once this one has pushed: one fetch at a time, in order.
    read() {
      fetch(at).then(
        (rows) => {
          if (rows.length === 0) {
            if (size !== undefined && at < size) this.destroy(new Error(`the data ended after ${at} of ${size} bytes (deleted while being read)`));
            else this.push(null);
            return;
          }
          for (const row of rows) {
            at += row.length;
            this.push(row);
          }
        },
        (err: Error) => this.destroy(err),
      );
    },
  });
}
