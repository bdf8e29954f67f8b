import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCast } from '../../common/asciicast';
import { LocalRecordings } from './local-recordings';
import { Recording } from './recording';
import { readAll } from './test-recording-store';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('Recording', () => {
  it('writes asciicast v2 with output, resizes, and characters split across chunks kept whole', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-rec-'));
    dirs.push(dir);
    const store = new LocalRecordings(dir);
    const rec = new Recording(store.create('s'), { cols: 100, rows: 30, title: 'web-1 (api:x)', term: 'xterm-256color' });
    const euro = Buffer.from('€');
    rec.output(Buffer.concat([Buffer.from('price: '), euro.subarray(0, 1)]));
    rec.output(Buffer.concat([euro.subarray(1), Buffer.from('5\r\n')]));
    rec.resize(120, 40);
    await rec.close();
    const cast = parseCast(await readAll((await store.open('s'))!));
    expect(cast.header).toMatchObject({ version: 2, width: 100, height: 30, title: 'web-1 (api:x)', env: { TERM: 'xterm-256color' } });
    expect(cast.events.map((e) => e[1])).toEqual(['o', 'o', 'r']);
    expect(cast.events.filter((e) => e[1] === 'o').map((e) => e[2]).join('')).toBe('price: €5\r\n');
    expect(cast.events[2]![2]).toBe('120x40');
    expect(cast.events.every((e, i) => i === 0 || e[0] >= cast.events[i - 1]![0])).toBe(true);
  });
});

describe('Recording backlog', () => {
  it('is backlogged while more than RECORDING_BACKLOG_BYTES wait for the disk, and says when it has caught up', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-rec-'));
    dirs.push(dir);
    const store = new LocalRecordings(dir);
    const rec = new Recording(store.create('s'), { cols: 80, rows: 24, title: 't', term: 'xterm' });
    expect(rec.backlogged).toBe(false);
    // Written in one turn of the event loop: nothing reaches the disk meanwhile.
    for (let i = 0; i < 32; i++) rec.output(Buffer.alloc(64 * 1024, 'x'));
    expect(rec.backlogged).toBe(true);
    const caughtUp = new Promise<boolean>((resolve) => rec.whenCaughtUp(() => resolve(rec.backlogged)));
    expect(await caughtUp).toBe(false);
    await rec.close();
    const cast = parseCast(await readAll((await store.open('s'))!));
    expect(cast.events.map((e) => e[2]).join('').length).toBe(32 * 64 * 1024);
  });
});
