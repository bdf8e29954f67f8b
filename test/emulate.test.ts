// Agent emulator: `fleet-agent emulate` runs many real agent cores in one process against a real
// server; they enroll, come online, run exec (synthetic or real), and reconnect after a restart
// of the emulator without enrolling again.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, Proc, waitFor } from './harness';

const AGENT = fileURLToPath(new URL('../dist/fleet-agent.js', import.meta.url));

interface RunView {
  node: string;
  state: string;
  exitCode: number;
  stdout: string;
}

describe('fleet-agent emulate', () => {
  const fleet = new Fleet();
  const procs: Proc[] = [];
  let token = '';

  const emulate = (args: string[]) => {
    const child = spawn(process.execPath, [AGENT, 'emulate', '--server', fleet.url, '--token', token, '--state-dir', join(fleet.dir, 'emulator'), ...args], {
      env: { ...process.env, FLEET_LOG: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = new Proc(child);
    procs.push(proc);
    return proc;
  };
  const onlineEmulated = async () => (await fleet.nodes('emulated=true')).filter((n) => n.online);

  beforeAll(async () => {
    await fleet.startServer();
    token = await fleet.token(['--uses', '60']);
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    await fleet.stop();
  });

  it('runs 50 synthetic agents that come online and answer exec at once; restarted, the same 50 run real commands', async () => {
    const emu = emulate(['--count', '50', '--synthetic', '--labels', 'rack=r1']);
    await emu.waitForOutput(/emulator: 50 agents running \(50 enrolled, 0 reused\)/, 60_000);
    await waitFor('50 emulated nodes online', async () => (await onlineEmulated()).length === 50, 60_000);
    const nodes = await fleet.nodes('emulated=true');
    expect(nodes.map((n) => n.name)).toEqual(Array.from({ length: 50 }, (_, i) => `emu-${String(i + 1).padStart(5, '0')}`));
    expect(nodes.every((n) => n.labels.rack === 'r1')).toBe(true);
    // Each has its own small inventory under its own name.
    await waitFor('inventory of emu-00007', async () => ((await fleet.nodes('emulated=true')).find((n) => n.name === 'emu-00007')?.facts as { os?: { hostname?: string } } | null)?.os?.hostname === 'emu-00007');

    const synthetic = await fleet.cli(['exec', '-l', 'emulated=true', '-o', 'json', '--', 'true']);
    expect(synthetic.code).toBe(0);
    const job = JSON.parse(synthetic.stdout) as { runs: RunView[] };
    expect(job.runs).toHaveLength(50);
    expect(job.runs.filter((x) => x.state === 'succeeded' && x.exitCode === 0 && x.stdout === 'emulated: true\n')).toHaveLength(50);

    // Restarted without --synthetic: the same identities (no enrollment, no new node), real processes.
    await emu.kill('SIGTERM');
    const again = emulate(['--count', '50']);
    await again.waitForOutput(/emulator: 50 agents running \(0 enrolled, 50 reused\)/, 60_000);
    await waitFor('50 emulated nodes online again', async () => (await onlineEmulated()).length === 50, 60_000);
    expect(await fleet.nodes()).toHaveLength(50);
    const enrolls = await fleet.json<{ ok: boolean }[]>(['audit', '--action', 'node.enroll', '--limit', '1000']);
    expect(enrolls.filter((e) => e.ok)).toHaveLength(50);

    const real = await fleet.cli(['exec', '-l', 'emulated=true', '-o', 'json', '--', 'echo', 'hi']);
    expect(real.code).toBe(0);
    const realJob = JSON.parse(real.stdout) as { runs: RunView[] };
    expect(realJob.runs.filter((x) => x.state === 'succeeded' && x.stdout === 'hi\n')).toHaveLength(50);
  });

  it('refuses to start without a token for identities that are not enrolled yet', async () => {
    const child = spawn(process.execPath, [AGENT, 'emulate', '--count', '2', '--prefix', 'new', '--state-dir', join(fleet.dir, 'emulator')], {
      env: { ...process.env, FLEET_LOG: 'warn', FLEET_TOKEN: '', FLEET_SERVER: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = new Proc(child);
    procs.push(proc);
    expect(await proc.exited).toBe(1);
    expect(proc.output).toMatch(/not enrolled yet/);
  });
});
