// Reads asciicast v2 recordings and plays them back in a terminal.

export interface Cast {
  header: { version: number; width: number; height: number; timestamp?: number; title?: string };
  events: [number, string, string][];
}

/** Parses an asciicast v2 document; throws on anything else. */
export function parseCast(text: string): Cast {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const header = JSON.parse(lines[0] ?? 'null') as Cast['header'] | null;
  if (!header || header.version !== 2 || !(header.width > 0) || !(header.height > 0)) throw new Error('not an asciicast v2 recording');
  const events = lines.slice(1).map((l, i) => {
    const e = JSON.parse(l) as unknown;
    if (!Array.isArray(e) || e.length !== 3 || typeof e[0] !== 'number' || typeof e[1] !== 'string' || typeof e[2] !== 'string') {
      throw new Error(`recording line ${i + 2} is not an event`);
    }
    return e as [number, string, string];
  });
  return { header, events };
}

/**
 * Plays the output of a recording through `write`, keeping its timing, but never waiting longer
 * than `idleLimitMs` between two events, and `speed` times faster.
 */
export async function play(cast: Cast, write: (text: string) => void, options: { idleLimitMs: number; speed: number; sleep?: (ms: number) => Promise<void> }): Promise<void> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let last = 0;
  for (const [t, code, data] of cast.events) {
    const wait = Math.min((t - last) * 1000, options.idleLimitMs) / options.speed;
    last = t;
    if (wait > 1) await sleep(wait);
    if (code === 'o') write(data);
  }
}
