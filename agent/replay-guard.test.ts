import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ReplayedCommandError } from './errors';
import { ReplayGuard } from './replay-guard';

describe('ReplayGuard', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'replay-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('accepts a command once and refuses it again until it expires', () => {
    let now = 1000;
    const guard = new ReplayGuard(null, () => now);
    guard.accept({ id: 'j-1/n-1', notAfterUnixMs: 5000 });
    expect(() => guard.accept({ id: 'j-1/n-1', notAfterUnixMs: 5000 })).toThrow(ReplayedCommandError);
    // The server's resend after a reconnect is re-signed with a new expiry: a new command.
    guard.accept({ id: 'j-1/n-1', notAfterUnixMs: 6000 });
    now = 5001;
    expect(guard.size).toBe(2);
    guard.accept({ id: 'j-2/n-1', notAfterUnixMs: 9000 });
    // The expired one is forgotten (the agent's expiry check refuses it from now on).
    expect(guard.size).toBe(2);
  });

  it('remembers accepted commands across restarts', () => {
    const file = join(tmp(), 'commands-seen.jsonl');
    new ReplayGuard(file, () => 1000).accept({ id: 'c-1', notAfterUnixMs: 5000 });
    const restarted = new ReplayGuard(file, () => 2000);
    expect(() => restarted.accept({ id: 'c-1', notAfterUnixMs: 5000 })).toThrow(/replayed command: c-1/);
  });

  it('starts empty from a damaged file instead of failing', () => {
    const file = join(tmp(), 'commands-seen.jsonl');
    writeFileSync(file, '{not json');
    const guard = new ReplayGuard(file, () => 1000);
    guard.accept({ id: 'c-1', notAfterUnixMs: 5000 });
    expect(guard.size).toBe(1);
  });

  it('keeps every whole line of a file torn by a crash, and appends after them', () => {
    const file = join(tmp(), 'commands-seen.jsonl');
    const first = new ReplayGuard(file, () => 1000);
    first.accept({ id: 'c-1', notAfterUnixMs: 5000 });
    first.accept({ id: 'c-2', notAfterUnixMs: 5000 });
    first.close();
    appendFileSync(file, '["c-3@50');
    const restarted = new ReplayGuard(file, () => 2000);
    expect(restarted.size).toBe(2);
    restarted.accept({ id: 'c-4', notAfterUnixMs: 5000 });
    restarted.close();
    const again = new ReplayGuard(file, () => 3000);
    for (const id of ['c-1', 'c-2', 'c-4']) expect(() => again.accept({ id, notAfterUnixMs: 5000 })).toThrow(ReplayedCommandError);
    again.close();
  });

  it('takes over the JSON file of earlier agents and removes it', () => {
    const dir = tmp();
    const legacy = join(dir, 'commands-seen.json');
    writeFileSync(legacy, JSON.stringify([['c-1@5000', 5000], ['c-0@1500', 1500]]));
    const guard = new ReplayGuard(join(dir, 'commands-seen.jsonl'), () => 2000, legacy);
    expect(existsSync(legacy)).toBe(false);
    // c-0 has expired; c-1 has not and stays refused.
    expect(guard.size).toBe(1);
    expect(() => guard.accept({ id: 'c-1', notAfterUnixMs: 5000 })).toThrow(ReplayedCommandError);
    guard.close();
  });

  it('appends one line per command and rewrites the file once expired lines pile up', () => {
    const file = join(tmp(), 'commands-seen.jsonl');
    let now = 1000;
    const guard = new ReplayGuard(file, () => now);
    const lines = () => readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
    for (let i = 0; i < 10; i++) guard.accept({ id: `c-${i}`, notAfterUnixMs: now + 100 });
    expect(lines()).toBe(10);
    // Each command expires before the next one comes: the file stays small.
    for (let i = 0; i < 500; i++) {
      now += 200;
      guard.accept({ id: `d-${i}`, notAfterUnixMs: now + 100 });
    }
    expect(guard.size).toBe(1);
    expect(lines()).toBeLessThanOrEqual(66);
    guard.close();
    // What was rewritten still refuses the live command after a restart.
    expect(() => new ReplayGuard(file, () => now).accept({ id: 'd-499', notAfterUnixMs: now + 100 })).toThrow(ReplayedCommandError);
  });
});
