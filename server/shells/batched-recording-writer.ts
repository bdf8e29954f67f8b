// A RecordingWriter for stores that take a recording in pieces over the network (a database, an
// object store): writes wait in memory and go out in order, one batch of up to `chunkBytes` at a
// time, each batch what piled up while the previous one was stored. The writer keeps the meaning
// LocalRecordings' file stream gives `backlogged` and `whenCaughtUp`, so a session holds its
// agent back while the store lags (sessions.ts), and it never holds more than RECORDING_HELD_BYTES:
// past that (or when the store fails) it gives the rest of the recording up, never the session.
import { RECORDING_BACKLOG_BYTES, type RecordingWriter } from './recording-store';

/**
 * Bytes a writer holds at most. A session stops acknowledging once RECORDING_BACKLOG_BYTES wait,
 * and its agent then sends at most its window (1 MiB) more; asciicast's JSON escaping can make
 * that up to six times as many bytes of recording. Only a store that has stalled gets past it.
 */
export const RECORDING_HELD_BYTES = 8 * RECORDING_BACKLOG_BYTES;

/** Where a BatchedRecordingWriter puts one recording. */
export interface RecordingSink {
  /** Takes the recording's id; resolves false when a recording already exists under it. */
  claim(): Promise<boolean>;
  /** Stores the next bytes of the recording (at most `chunkBytes`), which start at byte `at`. */
  append(at: number, data: Buffer): Promise<void>;
}

/** How a BatchedRecordingWriter writes. */
export interface BatchedWriterOptions {
  /** The most bytes one `append` gets. */
  chunkBytes: number;
  /** Told once when the rest of the recording is lost: why, and the store's error if any. */
  onLost?: (reason: string, err?: unknown) => void;
}

/** A RecordingWriter over a RecordingSink: batched appends in order, in bounded memory. */
export class BatchedRecordingWriter implements RecordingWriter {
  readonly #sink: RecordingSink;
  readonly #options: BatchedWriterOptions;
  #pending: Buffer[] = [];
  /** Bytes written so far, and how many of them are stored. */
  #written = 0;
  #stored = 0;
  #claimed = false;
  #lost = false;
  #closed = false;
  /** The claim, then the batches in turn: what `close` waits for. */
  #storing: Promise<void>;
  #flushing = false;
  /** `whenCaughtUp` callbacks, each with the bytes that must be stored first (in rising order). */
  #waiting: { upTo: number; f: () => void }[] = [];

  constructor(sink: RecordingSink, options: BatchedWriterOptions) {
    this.#sink = sink;
    this.#options = options;
    this.#storing = sink.claim().then(
      (claimed) => {
        if (!claimed) return this.#lose('a recording already exists under its id');
        this.#claimed = true;
        this.#flush();
      },
      (err) => this.#lose('the store did not start it', err),
    );
  }

  write(text: string): void {
    if (this.#lost || this.#closed) return;
    const data = Buffer.from(text);
    if (this.#written - this.#stored + data.length > RECORDING_HELD_BYTES) return this.#lose(`more than ${RECORDING_HELD_BYTES} bytes waited for the store`);
    this.#pending.push(data);
    this.#written += data.length;
    this.#flush();
  }

  get backlogged(): boolean {
    return !this.#lost && this.#written - this.#stored > RECORDING_BACKLOG_BYTES;
  }

  whenCaughtUp(f: () => void): void {
    if (this.backlogged) this.#waiting.push({ upTo: this.#written, f });
    else f();
  }

  async close(): Promise<void> {
    this.#closed = true;
    // A batch may start while the claim is awaited: wait until nothing new started.
    for (let storing = this.#storing; ; storing = this.#storing) {
      await storing;
      if (storing === this.#storing) break;
    }
    this.#release(Infinity);
  }

  /** Starts storing what is pending, unless a batch is already under way (it takes the rest). */
  #flush(): void {
    if (this.#flushing || !this.#claimed || this.#lost) return;
    this.#flushing = true;
    this.#storing = this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      while (this.#pending.length && !this.#lost) {
        const batch = this.#take();
        await this.#sink.append(this.#stored, batch);
        this.#stored += batch.length;
        this.#release(this.#stored);
      }
    } catch (err) {
      this.#lose('the store failed', err);
    } finally {
      this.#flushing = false;
    }
  }

  /** The next batch: pending bytes, in order, up to `chunkBytes`. */
  #take(): Buffer {
    const parts: Buffer[] = [];
    let size = 0;
    let used = 0;
    for (const next of this.#pending) {
      const room = this.#options.chunkBytes - size;
      if (room === 0) break;
      if (next.length > room) {
        parts.push(next.subarray(0, room));
        this.#pending[used] = next.subarray(room);
        size += room;
        break;
      }
      parts.push(next);
      size += next.length;
      used++;
    }
    this.#pending.splice(0, used);
    return Buffer.concat(parts, size);
  }

  /** Calls the `whenCaughtUp` callbacks whose bytes are stored by now. */
  #release(stored: number): void {
    let n = 0;
    while (n < this.#waiting.length && this.#waiting[n]!.upTo <= stored) n++;
    for (const { f } of this.#waiting.splice(0, n)) f();
  }

  /** Gives up the rest of the recording: what waits is dropped, and nobody waits for it. */
  #lose(reason: string, err?: unknown): void {
    if (this.#lost) return;
    this.#lost = true;
    this.#pending = [];
    this.#written = this.#stored;
    this.#release(Infinity);
    this.#options.onLost?.(reason, err);
  }
}
