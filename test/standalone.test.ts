// The standalone agent (Node single-executable application) runs where there is no Node.js and
// no node_modules: it prints its version, opens a PTY from its embedded add-on, enrolls, and runs
// commands. Needs root (a private mount namespace hides node and node_modules).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, Proc } from './harness';
import { spawn } from 'node:child_process';

const root = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(root, 'dist/fleet-agent-linux-x64');
const NODE = execFileSync('sh', ['-c', 'command -v node']).toString().trim();
const version = (JSON.parse(execFileSync('cat', [join(root, 'package.json')]).toString()) as { version: string }).version;

/** A shell command line that runs `inner` with node and node_modules hidden and a bare PATH. */
function withoutNode(inner: string, pathDir: string): string[] {
  return [
    '-m',
    'sh',
    '-c',
    `mount --bind /dev/null ${NODE} && mount -t tmpfs none ${join(root, 'node_modules')} && exec env -i PATH=${pathDir} HOME=/nonexistent ${inner}`,
  ];
}

describe('standalone agent executable', () => {
  const fleet = new Fleet();
  const dir = mkdtempSync(join(tmpdir(), 'fleet-sea-'));
  const pathDir = join(dir, 'bin');

  beforeAll(async () => {
    expect(existsSync(BIN), 'run `npm run build:agent` first').toBe(true);
    // A PATH with a few tools and no node.
    mkdirSync(pathDir);
    for (const tool of ['sh', 'echo', 'cat', 'uname', 'sleep', 'ls', 'wc', 'tty', 'printf']) symlinkSync(execFileSync('sh', ['-c', `command -v ${tool}`]).toString().trim(), join(pathDir, tool));
    await fleet.startServer();
  });
  afterAll(async () => {
    await fleet.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints its version with an empty environment', () => {
    expect(execFileSync('env', ['-i', BIN, '--version']).toString().trim()).toBe(version);
  });

  it('has no node to lean on in the test\'s namespace', () => {
    const r = execFileSync('unshare', withoutNode(`sh -c 'command -v node || echo absent; ls ${join(root, 'node_modules')} | wc -l'`, pathDir)).toString();
    expect(r).toBe('absent\n0\n');
  });

  it('opens a PTY from its embedded node-pty add-on', () => {
    const out = execFileSync('unshare', withoutNode(`${BIN} doctor --state-dir ${join(dir, 'doctor')}`, pathDir)).toString();
    expect(out).toMatch(/^pty: pty ok: \/dev\/pts\/\d+$/m);
    expect(out).toContain(`version: ${version}`);
  });

  it('enrolls and runs commands with no node and no node_modules', async () => {
    const token = await fleet.token();
    const state = join(dir, 'state');
    const enroll = execFileSync('unshare', withoutNode(`${BIN} enroll --server ${fleet.url} --token ${token} --name sea-1 --state-dir ${state}`, pathDir)).toString();
    expect(enroll).toMatch(/^enrolled as sea-1 \(n-\w+\)$/m);
    const agent = new Proc(spawn('unshare', withoutNode(`${BIN} run --state-dir ${state}`, pathDir), { stdio: ['ignore', 'pipe', 'pipe'] }));
    try {
      await fleet.waitOnline(['sea-1']);
      const r = await fleet.cli(['exec', 'sea-1', '--', 'sh', '-c', 'echo "hi from $(uname -s)"']);
      expect(r.stdout).toBe('sea-1: hi from Linux\n');
      expect(r.code).toBe(0);
      const node = (await fleet.json<{ name: string; agentVersion: string }[]>(['nodes'])).find((n) => n.name === 'sea-1');
      expect(node?.agentVersion).toBe(version);
    } finally {
      await agent.kill('SIGKILL');
    }
  });
});
