// Plays a shell recording (asciicast v2) in an xterm.js terminal with its original timing, idle
// pauses capped (2 s by default). The recording is streamed: playback starts before the whole
// file has arrived. Reading and timing are common/asciicast.ts; this file only adds the terminal.
import type { Terminal } from '@xterm/xterm';
import { playCast as play, readCastStream } from '../../common/asciicast';
import { newTerminal } from './new-terminal';

export interface PlayOptions {
  /** Longest pause between two events, in seconds. */
  idleLimit?: number;
  /** 2 plays twice as fast. */
  speed?: number;
  signal?: AbortSignal;
  /** Called once the header is read, with the terminal the recording plays in. */
  started?(term: Terminal): void;
}

/**
 * Plays `stream` into a new terminal inside `container`; resolves with the number of events
 * played when the recording ends (or playback is aborted). Event lines that do not parse (a
 * recording cut short) are passed over.
 * @throws CastFormatError when the stream is empty or not an asciicast v2 recording.
 */
export async function playCast(container: HTMLElement, stream: ReadableStream<Uint8Array>, options: PlayOptions = {}): Promise<number> {
  const { header, events } = await readCastStream(stream, { skipMalformed: true });
  const term = newTerminal({ cols: header.width, rows: header.height, disableStdin: true, cursorBlink: false, scrollback: 5000 });
  term.open(container);
  options.started?.(term);
  return play(events, { output: (text) => term.write(text), resize: (cols, rows) => term.resize(cols, rows) }, {
    idleLimitMs: (options.idleLimit ?? 2) * 1000,
    speed: options.speed ?? 1,
    signal: options.signal,
  });
}
