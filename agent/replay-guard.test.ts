import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
    const file = join(tmp(), 'commands-seen.json');
    new ReplayGuard(file, () => 1000).accept({ id: 'c-1', notAfterUnixMs: 5000 });
    const restarted = new ReplayGuard(file, () => 2000);
    expect(() => restarted.accept({ id: 'c-1', notAfterUnixMs: 5000 })).toThrow(/replayed command: c-1/);
  });

  it('starts empty from a damaged file instead of failing', () => {
    const file = join(tmp(), 'commands-seen.json');
    writeFileSync(file, '{not json');
    const guard = new ReplayGuard(file, () => 1000);
    guard.accept({ id: 'c-1', notAfterUnixMs: 5000 });
    expect(guard.size).toBe(1);
  });
});
