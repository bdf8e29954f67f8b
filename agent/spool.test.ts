import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../common/logger';
import { Spool } from './spool';

const dirs: string[] = [];
function freshDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'fleet-spool-'));
  dirs.push(d);
  return d;
}
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

const out = (text: string) => ({ $case: 'output' as const, value: { stream: 1 as const, data: Buffer.from(text) } });
const fin = { $case: 'finished' as const, value: { exitCode: 0, signal: '', timedOut: false, error: '' } };

describe('Spool', () => {
  it('numbers events and keeps them until the final one is acknowledged', () => {
    const spool = new Spool(freshDir(), silentLogger());
    spool.begin('j-abc123');
    expect(spool.append('j-abc123', out('a')).seq).toBe(1);
    expect(spool.append('j-abc123', fin).seq).toBe(2);
    spool.ack('j-abc123', 1);
    expect(spool.unacknowledged().map((e) => Number(e.seq))).toEqual([2]);
    spool.ack('j-abc123', 2);
    expect(spool.unacknowledged()).toEqual([]);
    // Remembered, so a re-sent command for the same job is not run again.
    expect(spool.knows('j-abc123')).toBe(true);
  });

  it('survives a restart: unacknowledged events come back, data intact', () => {
    const dir = freshDir();
    const first = new Spool(dir, silentLogger());
    first.begin('j-abc123');
    first.append('j-abc123', out('héllo\u0000'));
    first.append('j-abc123', fin);
    const second = new Spool(dir, silentLogger());
    second.recover();
    const events = second.unacknowledged();
    expect(events.map((e) => e.body?.$case)).toEqual(['output', 'finished']);
    const body = events[0]!.body;
    expect(body?.$case === 'output' && body.value.data.toString()).toBe('héllo\u0000');
  });

  it('closes a job cut off by a crash, ignoring a torn last line', () => {
    const dir = freshDir();
    const first = new Spool(dir, silentLogger());
    first.begin('j-cut123');
    first.append('j-cut123', { $case: 'started', value: { pid: 42 } });
    appendFileSync(join(dir, 'j-cut123.jsonl'), '{"jobId":"j-cut1');
    const second = new Spool(dir, silentLogger());
    second.recover();
    const events = second.unacknowledged();
    expect(events.map((e) => [Number(e.seq), e.body?.$case])).toEqual([
      [1, 'started'],
      [2, 'finished'],
    ]);
    const last = events[1]!.body;
    expect(last?.$case === 'finished' && last.value.error).toMatch(/agent restarted/);
  });

  it('refuses job ids that could escape the spool directory', () => {
    expect(Spool.validJobId('j-4f8k2m9x3q')).toBe(true);
    for (const bad of ['../etc/passwd', 'j-../../x', '', 'j-', 'J-ABC']) expect(Spool.validJobId(bad), bad).toBe(false);
  });

  it('deletes the spool file once acknowledged', () => {
    const dir = freshDir();
    const spool = new Spool(dir, silentLogger());
    spool.begin('j-abc999');
    spool.append('j-abc999', fin);
    spool.ack('j-abc999', 1);
    expect(readdirSync(dir).filter((f) => f.endsWith('.jsonl'))).toEqual([]);
  });
});
