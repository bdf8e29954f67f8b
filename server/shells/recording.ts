// Records a session as asciicast v2 (common/asciicast.ts writes the lines) into a RecordingStore's
// writer, with a cap on how much output one session may record. Lines go as fast as the store takes
// them: `backlogged` says when more than RECORDING_BACKLOG_BYTES wait, and the session then holds
// the agent back (ShellSession.ack), so a store slower than the shell does not pile output up in memory.
import { CastWriter, type CastStart } from '../../common/asciicast';
import type { RecordingWriter } from './recording-store';

export { RECORDING_BACKLOG_BYTES } from './recording-store';

/** Output recorded per session at most; past it the recording says so and stops recording output. */
export const MAX_RECORDED_BYTES = 100 * 1024 * 1024;

/** One session's recording, as it happens. */
export class Recording {
  readonly #out: RecordingWriter;
  readonly #cast: CastWriter;
  #recorded = 0;

  constructor(out: RecordingWriter, header: CastStart, startMs = Date.now()) {
    this.#out = out;
    this.#cast = new CastWriter((line) => this.#out.write(line), header, { startMs });
  }

  /** True while more than RECORDING_BACKLOG_BYTES wait to be stored. */
  get backlogged(): boolean {
    return this.#out.backlogged;
  }

  /** Calls `f` once the backlog is stored (at once when there is none, or the store failed). */
  whenCaughtUp(f: () => void): void {
    this.#out.whenCaughtUp(f);
  }

  /** Output bytes; a multi-byte character split across chunks is written whole. */
  output(data: Buffer): void {
    if (this.#recorded >= MAX_RECORDED_BYTES) return;
    this.#recorded += data.length;
    this.#cast.output(data);
    if (this.#recorded >= MAX_RECORDED_BYTES) this.#cast.event('o', `\r\n[fleet: recording stopped after ${MAX_RECORDED_BYTES} bytes of output]\r\n`);
  }

  input(data: Buffer): void {
    this.#cast.input(data);
  }

  resize(cols: number, rows: number): void {
    this.#cast.resize(cols, rows);
  }

  /** Ends the recording; resolves once it is stored. */
  close(): Promise<void> {
    this.#cast.end();
    return this.#out.close();
  }
}
