// Records a session to a file as asciicast v2 (common/asciicast.ts writes the lines), with a cap
// on how much output one session may record. Lines are written as fast as the disk takes them:
// `backlogged` says when more than RECORDING_BACKLOG_BYTES wait, and the session then holds the
// agent back (ShellSession.ack), so a disk slower than the shell does not pile output up in memory.
import { createWriteStream, type WriteStream } from 'node:fs';
import { CastWriter, type CastStart } from '../../common/asciicast';

/** Output recorded per session at most; past it the recording says so and stops recording output. */
export const MAX_RECORDED_BYTES = 100 * 1024 * 1024;
/** Bytes of recording that may wait for the disk before the session holds the agent back. */
export const RECORDING_BACKLOG_BYTES = 1 << 20;

export class Recording {
  readonly #out: WriteStream;
  readonly #cast: CastWriter;
  #recorded = 0;
  /** The file cannot be written (disk full, …): nothing waits for it any more. */
  #failed = false;
  #waiting: (() => void)[] = [];

  constructor(file: string, header: CastStart, startMs = Date.now()) {
    this.#out = createWriteStream(file, { flags: 'wx', mode: 0o600, highWaterMark: RECORDING_BACKLOG_BYTES });
    this.#out.on('error', () => {
      this.#failed = true;
      this.#release();
    });
    this.#out.on('drain', () => this.#release());
    this.#cast = new CastWriter((line) => this.#out.write(line), header, { startMs });
  }

  /** True while more than RECORDING_BACKLOG_BYTES wait to be written. */
  get backlogged(): boolean {
    return !this.#failed && this.#out.writableNeedDrain;
  }

  /** Calls `f` once the backlog is written (at once when there is none, or the file failed). */
  whenCaughtUp(f: () => void): void {
    if (this.backlogged) this.#waiting.push(f);
    else f();
  }

  #release(): void {
    for (const f of this.#waiting.splice(0)) f();
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

  close(): Promise<void> {
    this.#cast.end();
    return new Promise((resolve) =>
      this.#out.end(() => {
        this.#release();
        resolve();
      }),
    );
  }
}
