// The embedded RecordingStore: one asciicast file per session, DATA/recordings/<id>.cast, private
// to the server's user.
import { createWriteStream, mkdirSync } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { InvalidRequestError } from '../errors';
import { RECORDING_BACKLOG_BYTES, RECORDING_ID, type RecordingStore, type RecordingWriter } from './recording-store';

/** Recordings as files in one directory (created, mode 0700, when missing). */
export class LocalRecordings implements RecordingStore {
  readonly #dir: string;

  /** @param dir where the files go: DATA/recordings */
  constructor(dir: string) {
    this.#dir = dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /** The file of a recording, or undefined for an id that is not one. */
  #file(id: string): string | undefined {
    return RECORDING_ID.test(id) ? join(this.#dir, `${id}.cast`) : undefined;
  }

  create(id: string): RecordingWriter {
    const file = this.#file(id);
    if (!file) throw new InvalidRequestError(`"${id}" is not a recording id`);
    // 'wx': an existing recording is never overwritten (the stream fails, and writes go nowhere).
    const out = createWriteStream(file, { flags: 'wx', mode: 0o600, highWaterMark: RECORDING_BACKLOG_BYTES });
    let failed = false;
    const waiting: (() => void)[] = [];
    const release = () => {
      for (const f of waiting.splice(0)) f();
    };
    out.on('error', () => {
      failed = true;
      release();
    });
    out.on('drain', release);
    return {
      write: (text) => void (out.writable && out.write(text)),
      get backlogged() {
        return !failed && out.writableNeedDrain;
      },
      whenCaughtUp(f) {
        if (this.backlogged) waiting.push(f);
        else f();
      },
      close: () =>
        new Promise<void>((resolve) => {
          const done = () => {
            release();
            resolve();
          };
          if (out.writable) out.end(done);
          else done();
        }),
    };
  }

  async open(id: string): Promise<Readable | undefined> {
    const file = this.#file(id);
    if (!file) return undefined;
    try {
      // Opened here, so a recording removed meanwhile is "none" rather than a failed stream.
      const handle = await open(file, 'r');
      return handle.createReadStream({ highWaterMark: 64 * 1024 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async exists(id: string): Promise<boolean> {
    const file = this.#file(id);
    return file ? stat(file).then((s) => s.isFile(), () => false) : false;
  }

  async remove(id: string): Promise<void> {
    const file = this.#file(id);
    if (file) await rm(file, { force: true });
  }
}
