// Log lines are bounded: a huge value in any field is cut to a prefix, the line stays valid JSON.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { boundLogLine, MAX_LOG_LINE } from './logger';

describe('log line bound', () => {
  it('leaves ordinary lines alone', () => {
    const line = `${JSON.stringify({ level: 30, msg: 'control call', method: 'GetNode' })}\n`;
    expect(boundLogLine(line)).toBe(line);
  });

  it('cuts every long string of a line over the bound, keeping the other fields', () => {
    const huge = 'Q'.repeat(1 << 20);
    const line = `${JSON.stringify({ level: 30, time: 1, pid: 7, name: 'fleet-server', msg: 'control call failed', method: 'GetNode', error: `no node named "${huge}"`, nested: { deep: [huge] } })}\n`;
    const bounded = boundLogLine(line);
    expect(bounded.length).toBeLessThanOrEqual(MAX_LOG_LINE);
    expect(bounded.endsWith('\n')).toBe(true);
    const entry = JSON.parse(bounded) as Record<string, unknown>;
    expect(entry).toMatchObject({ level: 30, time: 1, pid: 7, msg: 'control call failed', method: 'GetNode', truncated: line.length });
    expect(entry.error).toMatch(/^no node named "Q{1009}… \[1048592 characters\]$/);
    expect(bounded).not.toContain('Q'.repeat(2000));
  });

  it('falls back to the essentials when many fields are long, and copes with a line that is not JSON', () => {
    const many = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`f${i}`, 'x'.repeat(5000)]));
    const bounded = boundLogLine(`${JSON.stringify({ level: 50, time: 2, pid: 1, name: 'n', msg: 'm', ...many })}\n`);
    expect(bounded.length).toBeLessThanOrEqual(MAX_LOG_LINE);
    expect(JSON.parse(bounded)).toMatchObject({ level: 50, time: 2, pid: 1, name: 'n', msg: 'm', truncated: expect.any(Number) });
    const text = boundLogLine('y'.repeat(MAX_LOG_LINE + 1));
    expect(text.length).toBeLessThan(400);
    expect(JSON.parse(text)).toMatchObject({ truncated: MAX_LOG_LINE + 1 });
  });

  it('is what a pino logger with the hook writes', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) });
    const log = pino({ hooks: { streamWrite: (s) => boundLogLine(s) } }, sink);
    log.child({ part: 'control' }).info({ error: 'e'.repeat(100_000) }, 'control call failed');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.length).toBeLessThanOrEqual(MAX_LOG_LINE);
    expect(JSON.parse(lines[0]!)).toMatchObject({ part: 'control', msg: 'control call failed' });
  });
});
