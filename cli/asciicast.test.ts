import { describe, expect, it } from 'vitest';
import { parseCast, play } from './asciicast';

const cast = ['{"version":2,"width":80,"height":24,"timestamp":1}', '[0.1,"o","a"]', '[0.2,"r","100x30"]', '[10.5,"o","b"]', '[10.6,"i","x"]'].join('\n');

describe('asciicast', () => {
  it('parses v2 and refuses other things', () => {
    expect(parseCast(cast).events).toHaveLength(4);
    expect(() => parseCast('{"version":1,"width":80,"height":24}')).toThrow(/asciicast v2/);
    expect(() => parseCast('{"version":2,"width":80,"height":24}\n[1,"o"]')).toThrow(/line 2/);
  });

  it('plays output only, capping idle time and applying speed', async () => {
    const waits: number[] = [];
    let out = '';
    await play(parseCast(cast), (t) => (out += t), { idleLimitMs: 2000, speed: 2, sleep: async (ms) => void waits.push(Math.round(ms)) });
    expect(out).toBe('ab');
    expect(waits).toEqual([50, 50, 1000, 50]);
  });
});
