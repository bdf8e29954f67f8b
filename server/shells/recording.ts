// Writes a session as asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a JSON
// header line, then one [seconds, code, data] line per event ("o" output, "r" resize, "i" input).
import { createWriteStream, type WriteStream } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';

/** Output recorded per session at most; past it the recording says so and stops recording output. */
export const MAX_RECORDED_BYTES = 100 * 1024 * 1024;

export class Recording {
  readonly #out: WriteStream;
  #recorded = 0;
  readonly #start: number;
  readonly #decoders = { o: new StringDecoder('utf8'), i: new StringDecoder('utf8') };

  constructor(file: string, header: { cols: number; rows: number; title: string; term: string }, startMs = Date.now()) {
    this.#start = startMs;
    this.#out = createWriteStream(file, { flags: 'wx', mode: 0o600 });
    this.#out.on('error', () => {});
    this.#out.write(
      JSON.stringify({ version: 2, width: header.cols, height: header.rows, timestamp: Math.floor(startMs / 1000), title: header.title, env: { TERM: header.term } }) + '\n',
    );
  }

  #event(code: string, data: string): void {
    if (data === '') return;
    const t = Math.max(0, (Date.now() - this.#start) / 1000);
    this.#out.write(JSON.stringify([Number(t.toFixed(6)), code, data]) + '\n');
  }

  /** Output bytes; a multi-byte character split across chunks is written whole. */
  output(data: Buffer): void {
    if (this.#recorded >= MAX_RECORDED_BYTES) return;
    this.#recorded += data.length;
    this.#event('o', this.#decoders.o.write(data));
    if (this.#recorded >= MAX_RECORDED_BYTES) this.#event('o', `\r\n[fleet: recording stopped after ${MAX_RECORDED_BYTES} bytes of output]\r\n`);
  }

  input(data: Buffer): void {
    this.#event('i', this.#decoders.i.write(data));
  }

  resize(cols: number, rows: number): void {
    this.#event('r', `${cols}x${rows}`);
  }

  close(): Promise<void> {
    this.#event('o', this.#decoders.o.end());
    return new Promise((resolve) => this.#out.end(resolve));
  }
}
