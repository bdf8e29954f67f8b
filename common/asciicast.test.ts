import { describe, expect, it } from 'vitest';
import { CastWriter, parseCast, playCast, readCastStream, type CastEvent } from './asciicast';
import { CastFormatError } from './errors';

const cast = ['{"version":2,"width":80,"height":24,"timestamp":1}', '[0.1,"o","a"]', '[0.2,"r","100x30"]', '[10.5,"o","b"]', '[10.6,"i","x"]'].join('\n');

/** A byte stream delivering `text` in chunks of `size` bytes (to split lines and characters). */
function streamOf(text: string, size = 5): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.subarray(at, (at += size)));
    },
  });
}

async function collect(events: AsyncIterable<CastEvent>): Promise<CastEvent[]> {
  const out: CastEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

describe('asciicast', () => {
  it('parses v2 and refuses other things', () => {
    expect(parseCast(cast).events).toHaveLength(4);
    expect(() => parseCast('{"version":1,"width":80,"height":24}')).toThrow(/asciicast v2/);
    expect(() => parseCast('{"version":2,"width":80,"height":24}\n[1,"o"]')).toThrow(/line 2/);
  });

  it('plays output only, capping idle time and applying speed', async () => {
    const waits: number[] = [];
    let out = '';
    await playCast(parseCast(cast).events, { output: (t) => (out += t) }, { idleLimitMs: 2000, speed: 2, sleep: async (ms) => void waits.push(Math.round(ms)) });
    expect(out).toBe('ab');
    expect(waits).toEqual([50, 50, 1000, 50]);
  });
});

describe('CastWriter', () => {
  it('writes lines that parse back: header, output, input, resize, with characters split across chunks kept whole', () => {
    let text = '';
    let clock = 1_700_000_000_500;
    const writer = new CastWriter((line) => (text += line), { cols: 100, rows: 30, title: 'web-1 (alice)', term: 'xterm-256color' }, { now: () => clock });
    const euro = new TextEncoder().encode('€');
    writer.output(new Uint8Array([...new TextEncoder().encode('price: '), euro[0]!]));
    clock += 250;
    writer.output(new Uint8Array([...euro.subarray(1), ...new TextEncoder().encode('5\r\n')]));
    writer.input(new TextEncoder().encode('ls\r'));
    clock += 1000;
    writer.resize(120, 40);
    writer.event('o', '"quotes" and \\ and \u001b[0m');
    writer.end();
    expect(text.endsWith('\n')).toBe(true);
    const parsed = parseCast(text);
    expect(parsed.header).toEqual({ version: 2, width: 100, height: 30, timestamp: 1_700_000_000, title: 'web-1 (alice)', env: { TERM: 'xterm-256color' } });
    expect(parsed.events).toEqual([
      [0, 'o', 'price: '],
      [0.25, 'o', '€5\r\n'],
      [0.25, 'i', 'ls\r'],
      [1.25, 'r', '120x40'],
      [1.25, 'o', '"quotes" and \\ and \u001b[0m'],
    ]);
  });
});

describe('parsing errors', () => {
  it('name the line and what is wrong with it', () => {
    const header = '{"version":2,"width":80,"height":24}';
    const cases: [string, RegExp][] = [
      ['', /the recording is empty/],
      ['not json', /line 1: not an asciicast v2 recording \(the first line is not JSON\)/],
      ['[0.1,"o","a"]', /line 1: not an asciicast v2 recording \(the first line is not a header\)/],
      ['{"version":2,"width":0,"height":24}', /width and height/],
      ['{"width":80,"height":24}', /version null/],
      [`${header}\n[0.1,"o","a"]\n\n[0.2,"o"`, /^recording line 4: not JSON \(cut short\?\)$/],
      [`${header}\n{"t":1}`, /^recording line 2: not an event/],
      [`${header}\n[-1,"o","a"]`, /^recording line 2: not an event/],
      [`${header}\n[1,"o",5]`, /^recording line 2: not an event/],
    ];
    for (const [text, message] of cases) {
      const err = (() => {
        try {
          parseCast(text);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err, text).toBeInstanceOf(CastFormatError);
      expect((err as Error).message, text).toMatch(message);
    }
  });
});

describe('readCastStream', () => {
  it('reads the header and events as they arrive, whatever the chunking', async () => {
    const { header, events } = await readCastStream(streamOf(`${cast}\n`, 3));
    expect(header).toMatchObject({ width: 80, height: 24 });
    expect(await collect(events)).toEqual(parseCast(cast).events);
  });

  it('throws on a bad line, or passes over it when asked', async () => {
    const text = `${cast}\n[11,"o","c"]\n[12,"o",`;
    await expect(collect((await readCastStream(streamOf(text))).events)).rejects.toThrow(/^recording line 7: not JSON/);
    const lenient = await collect((await readCastStream(streamOf(text), { skipMalformed: true })).events);
    expect(lenient.map((e) => e[2])).toEqual(['a', '100x30', 'b', 'x', 'c']);
    await expect(readCastStream(streamOf(''))).rejects.toThrow(CastFormatError);
    await expect(readCastStream(streamOf('{"version":1,"width":1,"height":1}\n'))).rejects.toThrow(/version 1/);
  });
});

describe('playCast', () => {
  it('follows resizes, counts events, and makes up for a wait that overran', async () => {
    let clock = 0;
    const waits: number[] = [];
    const resizes: string[] = [];
    const played = await playCast(parseCast(cast).events, { output: () => {}, resize: (c, r) => resizes.push(`${c}x${r}`) }, {
      now: () => clock,
      // Every wait takes 30 ms longer than asked.
      sleep: async (ms) => void (waits.push(Math.round(ms)), (clock += ms + 30)),
    });
    expect(played).toBe(4);
    expect(resizes).toEqual(['100x30']);
    expect(waits).toEqual([100, 70, 1970, 70]);
  });

  it('stops when aborted', async () => {
    const abort = new AbortController();
    let out = '';
    const played = await playCast(parseCast(cast).events, { output: (t) => (out += t) }, { signal: abort.signal, sleep: async () => abort.abort() });
    expect(played).toBe(0);
    expect(out).toBe('');
  });
});
