import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { prune, reconcile } from './index';
import { generateUnit } from './systemd';
import { desired, TestNode } from './test-node';

// One node for the whole suite: the steps build on each other like a node's life.
const node = new TestNode();

function servicePid(name = 'web'): number {
  return (JSON.parse(readFileSync(join(node.stateDir, 'services', `${name}.json`), 'utf8')) as { pid: number }).pid;
}

/** Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, session, …], or null. */
function stat(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  const fields = stat(pid);
  return fields !== null && fields[0] !== 'Z';
}

function web(config: string, extra: Record<string, unknown> = {}) {
  return desired([
    { type: 'file', path: '/etc/web.conf', content: config },
    { type: 'service', name: 'web', command: 'pwd > pwd.txt; echo "started in $FLEET_ROOT"; exec sleep 300', watch: ['/etc/web.conf'], ...extra },
  ]);
}

afterAll(() => {
  const dir = join(node.stateDir, 'services');
  for (const f of existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : []) {
    try {
      process.kill(-servicePid(f.slice(0, -'.json'.length)), 'SIGKILL');
    } catch {
      // Already stopped.
    }
  }
  node.cleanup();
});

describe('supervised services', () => {
  let pid = 0;

  it('starts the command detached, in the root, with output in the log', async () => {
    expect((await reconcile(web('a'), node.options({ dryRun: true })))[1]).toEqual({ id: 'service:web', status: 'pending', changes: ['start'] });
    expect(existsSync(join(node.stateDir, 'services'))).toBe(false);

    const results = await reconcile(web('a'), node.options());
    expect(results.map((r) => r.status)).toEqual(['changed', 'changed']);
    pid = servicePid();
    expect(alive(pid)).toBe(true);
    // Its own session and process group, so it outlives the agent.
    expect(stat(pid)!.slice(2, 4)).toEqual([String(pid), String(pid)]);
    await vi.waitFor(() => expect(readFileSync(join(node.stateDir, 'services/web.log'), 'utf8')).toBe(`started in ${node.root}\n`));
    expect(readFileSync(join(node.root, 'pwd.txt'), 'utf8')).toBe(`${node.root}\n`);

    expect((await reconcile(web('a'), node.options())).map((r) => r.status)).toEqual(['ok', 'ok']);
    expect(servicePid()).toBe(pid);
  });

  it('restarts when a watched file changes', async () => {
    const results = await reconcile(web('b'), node.options());
    expect(results[1]).toEqual({ id: 'service:web', status: 'changed', changes: ['restart (/etc/web.conf changed)'] });
    expect(alive(pid)).toBe(false);
    expect(servicePid()).not.toBe(pid);
    pid = servicePid();
    expect(alive(pid)).toBe(true);
  });

  it('restarts a service found dead by a re-check, reporting drift', async () => {
    process.kill(pid, 'SIGKILL');
    await vi.waitFor(() => expect(alive(pid)).toBe(false));
    const results = await reconcile(web('b'), node.options({ drift: true }));
    expect(results[1]).toEqual({ id: 'service:web', status: 'drifted', changes: ['start (was not running)'] });
    pid = servicePid();
    expect(alive(pid)).toBe(true);
  });

  it('restarts when the command changes', async () => {
    const results = await reconcile(web('b', { command: ['sleep', '301'] }), node.options());
    expect(results[1]).toMatchObject({ status: 'changed', changes: ['restart (command changed)'] });
    expect(alive(pid)).toBe(false);
    pid = servicePid();
    expect(alive(pid)).toBe(true);
  });

  it('is skipped when a watched file fails', async () => {
    writeFileSync(join(node.root, 'etc/web.conf.d'), '');
    const spec = desired([
      { type: 'file', path: '/etc/web.conf.d/extra', content: 'x' },
      { type: 'service', name: 'web', command: ['sleep', '301'], watch: ['/etc/web.conf.d/extra'] },
    ]);
    const results = await reconcile(spec, node.options());
    expect(results.map((r) => r.status)).toEqual(['failed', 'skipped']);
    expect(results[1]!.error).toBe('watched /etc/web.conf.d/extra failed');
    expect(alive(pid)).toBe(true);
  });

  it('stops with state stopped, and prune stops a service no longer listed', async () => {
    const results = await reconcile(web('b', { command: ['sleep', '301'], state: 'stopped' }), node.options());
    expect(results[1]).toEqual({ id: 'service:web', status: 'changed', changes: ['stop'] });
    expect(alive(pid)).toBe(false);
    expect(existsSync(join(node.stateDir, 'services/web.json'))).toBe(false);

    await reconcile(web('b'), node.options());
    pid = servicePid();
    expect(await prune(web('b'), desired([]), node.options())).toEqual([
      { id: 'service:web', status: 'changed', changes: ['stop'] },
      { id: 'file:/etc/web.conf', status: 'changed', changes: ['delete'] },
    ]);
    expect(alive(pid)).toBe(false);
  });
});

describe('systemd units', () => {
  it('quotes the command so systemd runs exactly the given argv', () => {
    expect(generateUnit('web', ['/usr/bin/app', '--motd', 'it costs $5 at 100% "off"'])).toContain('ExecStart="/usr/bin/app" "--motd" "it costs $$5 at 100%% \\"off\\""\n');
    expect(generateUnit('web', 'exec app')).toContain('ExecStart="/bin/sh" "-c" "exec app"\n');
  });
});
