// Shell recordings in PostgreSQL, so a session recorded on one replica plays back on any: a row per
// recording (taken by the first writer, never by a second) and its bytes in rows of at most
// 256 KiB keyed by offset, appended in batches as the session runs (BatchedRecordingWriter) and
// readable by every replica as far as they go.
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { InvalidRequestError } from '../errors';
import { BatchedRecordingWriter, RECORDING_ID, type RecordingStore, type RecordingWriter } from '../shells';
import { CHUNK_BYTES, chunkStream } from './pg-chunks';
import type { PgPool } from './pg-database';

/** The RecordingStore of replicas sharing one database (tables recordings and recording_chunks). */
export class PgRecordings implements RecordingStore {
  readonly #pool: PgPool;
  readonly #log: Logger | undefined;

  /** @param options.log where a recording lost midway is reported (the session goes on) */
  constructor(pool: PgPool, options: { log?: Logger } = {}) {
    this.#pool = pool;
    this.#log = options.log;
  }

  create(id: string): RecordingWriter {
    if (!RECORDING_ID.test(id)) throw new InvalidRequestError(`"${id}" is not a recording id`);
    const pool = this.#pool;
    const sink = {
      claim: async () => (await pool.query('INSERT INTO recordings (id, started_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [id, Date.now()])).rowCount === 1,
      append: async (at: number, data: Buffer) => void (await pool.query('INSERT INTO recording_chunks (recording, at, data) VALUES ($1, $2, $3)', [id, at, data])),
    };
    const onLost = (reason: string, err?: unknown) => this.#log?.warn({ err, recording: id }, `the rest of recording ${id} is lost: ${reason}`);
    return new BatchedRecordingWriter(sink, { chunkBytes: CHUNK_BYTES, onLost });
  }

  async open(id: string): Promise<Readable | undefined> {
    if (!(await this.exists(id))) return undefined;
    return chunkStream(this.#pool, 'SELECT data FROM recording_chunks WHERE recording = $1 AND at >= $2 AND at < $3 ORDER BY at', id);
  }

  async exists(id: string): Promise<boolean> {
    if (!RECORDING_ID.test(id)) return false;
    const { rowCount } = await this.#pool.query('SELECT 1 FROM recordings WHERE id = $1', [id]);
    return rowCount === 1;
  }

  async remove(id: string): Promise<void> {
    await this.#pool.query('DELETE FROM recordings WHERE id = $1', [id]);
  }
}
