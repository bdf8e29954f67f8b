// Shell recordings as asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a JSON
// header line, then one [seconds, code, data] line per event ("o" output, "i" input, "r" resize
// as "COLSxROWS"). The one writer (server), parser and player (CLI and web page) of fleet; it runs
// in Node and in the browser, so it imports nothing from Node.
import { CastFormatError } from './errors';

/** The header line. */
export interface CastHeader {
  version: 2;
  width: number;
  height: number;
  /** Start, in Unix seconds. */
  timestamp?: number;
  title?: string;
  env?: Record<string, string>;
}

/** One event: seconds since the start, code ("o", "i", "r", …) and its data. */
export type CastEvent = [time: number, code: string, data: string];

/** A whole recording. */
export interface Cast {
  header: CastHeader;
  events: CastEvent[];
}

// ---- writer ----

/** What a recording starts with. */
export interface CastStart {
  cols: number;
  rows: number;
  title: string;
  /** The terminal type (TERM). */
  term: string;
}

/**
 * Turns a session into asciicast lines, each passed to `writeLine` with its newline. Bytes are
 * decoded as UTF-8 per stream, so a character split across two chunks is written whole.
 */
export class CastWriter {
  readonly #writeLine: (line: string) => void;
  readonly #startMs: number;
  readonly #now: () => number;
  readonly #decoders = { o: new TextDecoder(), i: new TextDecoder() };

  constructor(writeLine: (line: string) => void, start: CastStart, options: { startMs?: number; now?: () => number } = {}) {
    this.#writeLine = writeLine;
    this.#now = options.now ?? Date.now;
    this.#startMs = options.startMs ?? this.#now();
    const header: CastHeader = { version: 2, width: start.cols, height: start.rows, timestamp: Math.floor(this.#startMs / 1000), title: start.title, env: { TERM: start.term } };
    writeLine(JSON.stringify(header) + '\n');
  }

  /** Writes an event now; empty data writes nothing. */
  event(code: string, data: string): void {
    if (data === '') return;
    const t = Math.max(0, (this.#now() - this.#startMs) / 1000);
    this.#writeLine(JSON.stringify([Number(t.toFixed(6)), code, data]) + '\n');
  }

  /** Terminal output bytes. */
  output(data: Uint8Array): void {
    this.event('o', this.#decoders.o.decode(data, { stream: true }));
  }

  /** Keyboard input bytes. */
  input(data: Uint8Array): void {
    this.event('i', this.#decoders.i.decode(data, { stream: true }));
  }

  resize(cols: number, rows: number): void {
    this.event('r', `${cols}x${rows}`);
  }

  /** Writes out what the decoders still hold (an incomplete character becomes U+FFFD). */
  end(): void {
    this.event('o', this.#decoders.o.decode());
    this.event('i', this.#decoders.i.decode());
  }
}

// ---- parser ----

/**
 * Parses the header line.
 * @throws CastFormatError when it is not an asciicast v2 header.
 */
export function parseCastHeader(line: string): CastHeader {
  let header: unknown;
  try {
    header = JSON.parse(line);
  } catch {
    throw new CastFormatError('not an asciicast v2 recording (the first line is not JSON)', 1);
  }
  const h = header as Partial<CastHeader> | null;
  if (typeof h !== 'object' || h === null || Array.isArray(h)) throw new CastFormatError('not an asciicast v2 recording (the first line is not a header)', 1);
  if (h.version !== 2) throw new CastFormatError(`not an asciicast v2 recording (version ${JSON.stringify(h.version ?? null)})`, 1);
  if (!(Number.isInteger(h.width) && h.width! > 0 && Number.isInteger(h.height) && h.height! > 0)) {
    throw new CastFormatError('not an asciicast v2 recording (width and height must be positive whole numbers)', 1);
  }
  return h as CastHeader;
}

/**
 * Parses one event line; `lineNumber` (1-based) goes into the error.
 * @throws CastFormatError when the line is not a [time, code, data] event.
 */
export function parseCastEvent(line: string, lineNumber: number): CastEvent {
  let event: unknown;
  try {
    event = JSON.parse(line);
  } catch {
    throw new CastFormatError('not JSON (cut short?)', lineNumber);
  }
  if (!Array.isArray(event) || event.length !== 3 || typeof event[0] !== 'number' || !(event[0] >= 0) || typeof event[1] !== 'string' || typeof event[2] !== 'string') {
    throw new CastFormatError('not an event ([seconds, code, data])', lineNumber);
  }
  return event as CastEvent;
}

/**
 * Parses a whole recording (blank lines are skipped).
 * @throws CastFormatError naming the first line at fault.
 */
export function parseCast(text: string): Cast {
  const lines = text.split('\n').map((line, i) => ({ line, number: i + 1 })).filter(({ line }) => line.trim() !== '');
  if (lines.length === 0) throw new CastFormatError('the recording is empty');
  const header = parseCastHeader(lines[0]!.line);
  return { header, events: lines.slice(1).map(({ line, number }) => parseCastEvent(line, number)) };
}

/** The lines of a byte stream, with their 1-based numbers, blank ones skipped. */
async function* streamLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<{ line: string; number: number }> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let rest = '';
  let number = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += decoder.decode(value, { stream: true });
      let nl: number;
      while ((nl = rest.indexOf('\n')) >= 0) {
        const line = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        number++;
        if (line.trim()) yield { line, number };
      }
    }
    rest += decoder.decode();
    number++;
    if (rest.trim()) yield { line: rest, number };
  } finally {
    reader.releaseLock();
  }
}

/**
 * Reads a recording as it arrives: resolves with the header once its line is in, and events
 * that follow as they stream. `skipMalformed` passes over event lines that do not parse (a
 * recording cut off mid-line by a crash) instead of throwing.
 * @throws CastFormatError for an empty stream, a bad header or (unless skipped) a bad event.
 */
export async function readCastStream(stream: ReadableStream<Uint8Array>, options: { skipMalformed?: boolean } = {}): Promise<{ header: CastHeader; events: AsyncIterable<CastEvent> }> {
  const lines = streamLines(stream);
  const first = await lines.next();
  if (first.done) throw new CastFormatError('the recording is empty');
  const header = parseCastHeader(first.value.line);
  async function* events(): AsyncGenerator<CastEvent> {
    for await (const { line, number } of lines) {
      try {
        yield parseCastEvent(line, number);
      } catch (err) {
        if (!(options.skipMalformed && err instanceof CastFormatError)) throw err;
      }
    }
  }
  return { header, events: events() };
}

// ---- player ----

/** Where a recording plays: output text, and resizes when the sink can follow them. */
export interface CastSink {
  output(text: string): void;
  resize?(cols: number, rows: number): void;
}

export interface PlayOptions {
  /** Longest pause between two events, in ms (before `speed`). Default 2000. */
  idleLimitMs?: number;
  /** 2 plays twice as fast. Default 1. */
  speed?: number;
  signal?: AbortSignal;
  /** How to wait (tests pass their own). */
  sleep?(ms: number, signal?: AbortSignal): Promise<void>;
  /** Milliseconds clock used to make up for waits that overran. Default performance.now. */
  now?(): number;
}

function sleepFor(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

/**
 * Plays events into `sink` with their timing, pauses capped at `idleLimitMs` and everything
 * `speed` times faster; a wait that overran is made up on the next one, so long recordings keep
 * time. Resolves with the number of events played when they end or `signal` aborts.
 */
export async function playCast(events: Iterable<CastEvent> | AsyncIterable<CastEvent>, sink: CastSink, options: PlayOptions = {}): Promise<number> {
  const idleLimitMs = options.idleLimitMs ?? 2000;
  const speed = options.speed ?? 1;
  const sleep = options.sleep ?? sleepFor;
  const now = options.now ?? (() => performance.now());
  let last = 0;
  let owed = 0;
  let played = 0;
  for await (const [time, code, data] of events) {
    if (options.signal?.aborted) break;
    owed += Math.min(Math.max(time - last, 0) * 1000, idleLimitMs) / speed;
    last = time;
    if (owed > 1) {
      const before = now();
      await sleep(owed, options.signal);
      // Negative when the wait overran: the next wait is that much shorter.
      owed = Math.min(0, owed - (now() - before));
    }
    if (options.signal?.aborted) break;
    if (code === 'o') sink.output(data);
    else if (code === 'r') {
      const size = /^(\d+)x(\d+)$/.exec(data);
      if (size) sink.resize?.(Number(size[1]), Number(size[2]));
    }
    played++;
  }
  return played;
}
