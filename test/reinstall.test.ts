// A machine's identity across reinstalls (docs/security.md "Re-enrollment"): a machine whose disk
// was wiped and that installs again takes over its offline node (same name, labels and history;
// the old certificate is refused); a twin claiming the hardware of an online node gets a node of
// its own; --new-identity opts out; and the uninstaller tells the server the node is leaving.
// Real server and agents, each "machine" a network namespace with a fixed MAC address and its own
// hostname. Needs root and the standalone agent build.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, Proc, waitFor } from './harness';
import { TestHost } from './netns';

const DIST = fileURLToPath(new URL('../dist', import.meta.url));
const MAC = '52:54:00:6b:0c:01';

interface NodeRow {
  id: string;
  name: string;
  online: boolean;
  labels: Record<string, string>;
}
interface AuditRow {
  action: string;
  actor: string;
  target: string;
  ok: boolean;
  detail: string;
}

describe('reinstalling a machine', () => {
  let machine: TestHost;
  let twin: TestHost;
  let fleet: Fleet;
  const scratch = mkdtempSync(join(tmpdir(), 'fleet-reinstall-'));
  const root = join(scratch, 'root');
  const twinRoot = join(scratch, 'twin');

  beforeAll(async () => {
    machine = TestHost.create({ mac: MAC, prefix: 'fleet-ri' });
    twin = TestHost.create({ mac: MAC, prefix: 'fleet-ri' });
    // The server listens on the machine's link; the twin reaches it through the test's namespace.
    expect((await twin.run(`ip route add default via ${twin.peerIp}`)).code).toBe(0);
    fleet = new Fleet({ host: machine.peerIp });
    await fleet.startServer();
  });
  afterAll(async () => {
    machine?.destroy();
    twin?.destroy();
    await fleet?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  /** Runs install.sh on `host` with the hostname h6box (its own UTS namespace). */
  const install = async (host: TestHost, dir: string, args: string) => {
    const token = await fleet.token(['--label', 'role=db']);
    const script = `curl -fsSL -k --pinnedpubkey '${fleet.installPin}' ${fleet.installUrl}/install.sh | sh -s -- --token ${token} --root ${dir} --init none ${args}`;
    const r = await host.run(`exec unshare --uts sh -c 'hostname h6box && ${script.replaceAll("'", "'\\''")}'`);
    expect(r.code, r.output).toBe(0);
    return r.output;
  };
  /** The disk dies: the agent stops without a word to the server, and every file is gone. */
  const wipe = async (host: TestHost, dir: string) => {
    await host.run(`kill $(cat ${dir}/var/run/fleet-agent.pid)`);
    await waitFor('the agent to stop', async () => (await host.run(`test -e /proc/$(cat ${dir}/var/run/fleet-agent.pid)`)).code !== 0);
    rmSync(dir, { recursive: true, force: true });
  };
  const nodes = () => fleet.json<NodeRow[]>(['nodes']);
  const node = async (name: string) => (await nodes()).find((n) => n.name === name);
  const audit = (action: string) => fleet.json<AuditRow[]>(['audit', '--action', action, '--limit', '100']);
  /** The newest successful enrollment's audit detail (the list is newest first). */
  const lastEnrollment = async () => (await audit('node.enroll')).filter((e) => e.ok).at(0)?.detail;

  it('a wiped and reinstalled machine takes over its offline node: same id, name, labels; its old certificate is refused', async () => {
    const first = await install(machine, root, '');
    expect(first).toMatch(/enrolled as h6box /);
    await fleet.waitOnline(['h6box']);
    expect((await fleet.cli(['label', 'h6box', 'tier=gold'])).code).toBe(0);
    const before = (await node('h6box'))!;
    const oldState = join(scratch, 'old-state');
    cpSync(join(root, 'var/lib/fleet-agent'), oldState, { recursive: true });

    await wipe(machine, root);
    await waitFor('h6box offline', async () => (await node('h6box'))?.online === false);
    const again = await install(machine, root, '');
    expect(again).toMatch(/enrolled as h6box .*took over/);
    await fleet.waitOnline(['h6box']);
    expect((await nodes()).map((n) => n.name)).toEqual(['h6box']);
    expect(await node('h6box')).toMatchObject({ id: before.id, labels: { role: 'db', tier: 'gold' }, online: true });
    expect(await lastEnrollment()).toMatch(new RegExp(`took over offline node h6box \\(${before.id}\\).*${MAC}`));

    // The agent of the machine as it was before the wipe is refused.
    const old = new Proc(spawn(process.execPath, [join(DIST, 'fleet-agent.js'), 'run', '--state-dir', oldState], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FLEET_LOG: 'info' } }));
    try {
      await old.waitForOutput(/does not belong to a current node/);
    } finally {
      await old.kill('SIGKILL');
    }
    expect(await node('h6box')).toMatchObject({ id: before.id, online: true });
  });

  it('a twin claiming the hardware of an online node gets a node of its own', async () => {
    const out = await install(twin, twinRoot, '');
    expect(out).toMatch(/enrolled as h6box-2 /);
    expect(out).toMatch(/h6box has the same hardware but is online/);
    await fleet.waitOnline(['h6box', 'h6box-2']);
    expect((await node('h6box'))?.labels).toEqual({ role: 'db', tier: 'gold' });
    expect(await lastEnrollment()).toMatch(/matches online node h6box .*not taken over/);
  });

  it('--new-identity makes a new node even when an offline node of this machine exists', async () => {
    await wipe(machine, root);
    await waitFor('h6box offline', async () => (await node('h6box'))?.online === false);
    const out = await install(machine, root, '--new-identity');
    expect(out).toMatch(/enrolled as h6box-3 /);
    await fleet.waitOnline(['h6box-3']);
    expect(await node('h6box')).toMatchObject({ online: false, labels: { role: 'db', tier: 'gold' } });
  });

  it('the uninstaller tells the server the node is leaving; --keep-node leaves it listed', async () => {
    const gone = await twin.run(join(twinRoot, 'opt/fleet/bin/fleet-agent-uninstall.sh'));
    expect(gone.code, gone.output).toBe(0);
    expect(gone.output).toMatch(/h6box-2 left the fleet/);
    expect((await nodes()).map((n) => n.name)).not.toContain('h6box-2');
    expect((await audit('node.leave')).map((e) => [e.target, e.ok])).toEqual([['h6box-2', true]]);

    const kept = await machine.run(`${join(root, 'opt/fleet/bin/fleet-agent-uninstall.sh')} --keep-node`);
    expect(kept.code, kept.output).toBe(0);
    expect(kept.output).not.toMatch(/left the fleet/);
    await waitFor('h6box-3 offline', async () => (await node('h6box-3'))?.online === false);
  });
});
