// Plays a shell recording (asciicast v2) in an xterm.js terminal with its original timing, idle
// pauses capped (2 s by default). The recording is streamed: playback starts before the whole
// file has arrived.
import type { Terminal } from '@xterm/xterm';
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

interface CastHeader {
  version: number;
  width: number;
  height: number;
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let rest = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    rest += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      if (line.trim()) yield line;
    }
  }
  rest += decoder.decode();
  if (rest.trim()) yield rest;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

/**
 * Plays `stream` into a new terminal inside `container`; resolves with the number of events
 * played when the recording ends (or playback is aborted).
 * @throws Error when the stream is not an asciicast v2 recording.
 */
export async function playCast(container: HTMLElement, stream: ReadableStream<Uint8Array>, options: PlayOptions = {}): Promise<number> {
  const idleLimit = options.idleLimit ?? 2;
  const speed = options.speed ?? 1;
  let term: Terminal | undefined;
  let virtual = 0;
  let last = 0;
  let events = 0;
  const startedAt = performance.now();
  for await (const line of lines(stream)) {
    if (options.signal?.aborted) break;
    if (!term) {
      const header = JSON.parse(line) as CastHeader;
      if (header.version !== 2) throw new Error(`not an asciicast v2 recording (version ${String(header.version)})`);
      term = newTerminal({ cols: header.width || 80, rows: header.height || 24, disableStdin: true, cursorBlink: false, scrollback: 5000 });
      term.open(container);
      options.started?.(term);
      continue;
    }
    let event: [number, string, string];
    try {
      event = JSON.parse(line) as [number, string, string];
    } catch {
      continue;
    }
    const [time, code, data] = event;
    if (typeof time !== 'number' || typeof data !== 'string') continue;
    virtual += Math.min(Math.max(time - last, 0), idleLimit);
    last = time;
    const wait = startedAt + (virtual * 1000) / speed - performance.now();
    if (wait > 4) await sleep(wait, options.signal);
    if (options.signal?.aborted) break;
    if (code === 'o') term.write(data);
    else if (code === 'r') {
      const m = /^(\d+)x(\d+)$/.exec(data);
      if (m) term.resize(Number(m[1]), Number(m[2]));
    }
    events++;
  }
  if (!term) throw new Error('the recording is empty');
  return events;
}
