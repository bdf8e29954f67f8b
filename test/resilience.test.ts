// Nothing is lost when either side crashes: results spooled by agents arrive after a server
// kill -9 and restart; dead or frozen agents go offline and come back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, waitFor, type Proc } from './harness';

describe('crashes', () => {
  const fleet = new Fleet();
  const agents = new Map<string, Proc>();

  beforeAll(async () => {
    await fleet.startServer();
    const token = await fleet.token(['--uses', '3']);
    for (const name of ['node-1', 'node-2', 'node-3']) agents.set(name, fleet.startAgent(name, token));
    await fleet.waitOnline(['node-1', 'node-2', 'node-3']);
  });
  afterAll(() => fleet.stop());

  it('kill -9 of the server while 3 agents run a command loses no result', async () => {
    const start = await fleet.cli(['exec', '--all', '--detach', '--', 'sh', '-c', 'sleep 2; echo done']);
    expect(start.code).toBe(0);
    const jobId = start.stdout.trim();
    await waitFor('all three running', async () => {
      const job = await fleet.json<{ runs: { state: string }[] }>(['jobs', 'show', jobId]);
      return job.runs.every((r) => r.state === 'running');
    });
    await fleet.crashServer();
    // The commands finish while the server is down; the agents keep the results on disk.
    await new Promise((r) => setTimeout(r, 2500));
    await fleet.startServer();

    const shown = await fleet.cli(['jobs', 'show', jobId]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout.split('\n').filter(Boolean).sort()).toEqual(['node-1: done', 'node-2: done', 'node-3: done']);
    expect(shown.stderr).toMatch(/3 nodes, 3 succeeded/);
    // And each result was run exactly once, not re-run after the reconnect.
    for (const p of agents.values()) expect(p.output.match(new RegExp(`"job":"${jobId}"[^\\n]*running command`, 'g')) ?? []).toHaveLength(1);
  });

  it('kill -9 of an agent: its node goes offline, and comes back when it restarts', async () => {
    await fleet.waitOnline(['node-1', 'node-2', 'node-3']);
    await agents.get('node-2')!.kill('SIGKILL');
    await waitFor('node-2 offline', async () => (await fleet.nodes()).find((n) => n.name === 'node-2')?.online === false, 15_000);
    agents.set('node-2', fleet.startAgent('node-2'));
    await fleet.waitOnline(['node-2']);
  });

  it('a frozen agent (no heartbeats, socket still open) is marked offline within 15 s of going silent', async () => {
    await fleet.waitOnline(['node-3']);
    const agent = agents.get('node-3')!;
    agent.child.kill('SIGSTOP');
    try {
      const stoppedAt = Date.now();
      await waitFor('node-3 offline', async () => (await fleet.nodes()).find((n) => n.name === 'node-3')?.online === false, 25_000, 500);
      // 12 s of silence, which started at most one heartbeat (5 s) before the stop, plus the sweep.
      expect(Date.now() - stoppedAt).toBeLessThan(15_000);
    } finally {
      agent.child.kill('SIGCONT');
    }
    await fleet.waitOnline(['node-3']);
  });

  it('an agent restarted mid-command reports the command as cut off instead of leaving it hanging', async () => {
    const start = await fleet.cli(['exec', 'node-1', '--detach', '--', 'sleep', '30']);
    const jobId = start.stdout.trim();
    await waitFor('running', async () => (await fleet.json<{ runs: { state: string }[] }>(['jobs', 'show', jobId])).runs[0]!.state === 'running');
    await agents.get('node-1')!.kill('SIGKILL');
    agents.set('node-1', fleet.startAgent('node-1'));
    const shown = await fleet.cli(['jobs', 'show', jobId]);
    expect(shown.code).toBe(1);
    expect(shown.stderr).toMatch(/node-1\s+failed\s+the agent restarted while the command was running/);
  });
});
