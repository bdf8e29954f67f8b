// The README's first command ends in `npm start` (scripts/demo.mjs): server, local agent, exec,
// and hints; Ctrl-C stops everything it started.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Proc } from './harness';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('quick start demo', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'fleet-demo-'));
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  it('runs a server and a local agent, execs across it, says what next, and stops on Ctrl-C', async () => {
    const demo = new Proc(spawn(process.execPath, [join(root, 'scripts/demo.mjs')], { cwd, env: { ...process.env, FLEET_DATA: join(cwd, 'fleet-data'), FLEET_LISTEN: '127.0.0.1:0', FLEET_HTTPS_LISTEN: '127.0.0.1:0' }, stdio: ['ignore', 'pipe', 'pipe'] }));
    await demo.waitForOutput(/Press Ctrl-C to stop/, 60_000);
    expect(demo.output).toMatch(/local\s+online/);
    expect(demo.output).toMatch(/local: hello from /);
    expect(demo.output).toMatch(/1 node, 1 succeeded/);
    expect(demo.output).toContain(`export FLEET_CONFIG=${join(cwd, 'fleet-data/demo/fleet-config.json')}`);
    // The printed hint works as written.
    const nodes = execFileSync(process.execPath, [join(root, 'dist/fleet.js'), 'nodes', '-o', 'json'], { env: { ...process.env, FLEET_CONFIG: join(cwd, 'fleet-data/demo/fleet-config.json') } });
    expect(JSON.parse(nodes.toString())).toEqual([expect.objectContaining({ name: 'local', online: true, labels: { role: 'demo', env: 'dev' } })]);

    demo.child.kill('SIGINT');
    expect(await demo.exited).toBe(0);
    const left = execFileSync('ps', ['-eo', 'args']).toString().split('\n').filter((l) => l.includes(join(cwd, 'fleet-data')));
    expect(left).toEqual([]);
  });
});
