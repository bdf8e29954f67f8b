// What only NATS has: one gRPC agent and two NATS agents in the same jobs and rollouts; the broker
// confining each agent to its own subjects; an agent switching transports; and a broker dying in
// the middle of a fan-out. What every transport must do (shells, replay refusal, reconnecting) is
// in transport-conformance.test.ts.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, Proc, waitFor } from './harness';
import { NatsBrokers, natsClient, natsTrust } from './nats';
import { applyMotd, expectMotd } from './specs';

const REPO = fileURLToPath(new URL('..', import.meta.url));

interface RunView {
  node: string;
  state: string;
  exitCode: number;
  stdout?: string;
  stderr?: string;
}

describe('NATS transport beside gRPC', () => {
  const fleet = new Fleet();
  let brokers: NatsBrokers;
  const agents = new Map<string, Proc>();
  const root = (name: string) => join(fleet.dir, 'roots', name);
  const nodeId = (name: string) => (JSON.parse(readFileSync(join(fleet.agentDir(name), 'node.json'), 'utf8')) as { nodeId: string }).nodeId;
  const names = ['grpc-1', 'nats-1', 'nats-2'];

  beforeAll(async () => {
    brokers = await NatsBrokers.start(join(fleet.dir, 'nats'), natsTrust(fleet.dataDir));
    fleet.options.serverEnv = { FLEET_NATS: brokers.urls };
    await fleet.startServer();
    const token = await fleet.token(['--uses', '3', '--label', 'role=mix']);
    for (const name of names) {
      mkdirSync(root(name), { recursive: true });
      const nats = name.startsWith('nats') ? ['--nats', brokers.urls] : [];
      agents.set(name, fleet.startAgent(name, token, nats, { FLEET_AGENT_ROOT: root(name), FLEET_AGENT_RECONCILE_INTERVAL: '1s' }));
    }
    await fleet.waitOnline(names);
  });
  afterAll(async () => {
    await fleet.stop();
    await brokers?.stop();
  });

  it('links the NATS agents through the broker, each with its own connection, and the gRPC agent not', async () => {
    const connections = await brokers.connections(brokers.brokers[0]!);
    const named = connections.map((c) => c.name).sort();
    expect(named).toEqual(['fleet-agent ' + nodeId('nats-1'), 'fleet-agent ' + nodeId('nats-2'), 'fleet-server'].sort());
    // Each agent listens on its own subject only.
    const nats1 = connections.find((c) => c.name === `fleet-agent ${nodeId('nats-1')}`)!;
    expect(nats1.subscriptions_list).toEqual([`fleet.v1.node.${nodeId('nats-1')}.in`]);
  });

  it('fans exec out to gRPC and NATS agents alike: streamed per-node output, exit codes, stored job', async () => {
    const r = await fleet.cli(['exec', '-l', 'role=mix', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(['grpc-1: out', 'nats-1: out', 'nats-2: out']);
    for (const n of names) expect(r.stderr).toContain(`${n}: err\n`);
    expect(r.stderr).toMatch(/job (j-\w+): 3 nodes, 3 failed/);
    const jobId = /job (j-\w+):/.exec(r.stderr)![1]!;
    const job = await fleet.json<{ done: boolean; runs: RunView[] }>(['jobs', 'show', jobId]);
    expect(job.runs.map((x) => [x.node, x.state, x.exitCode])).toEqual([
      ['grpc-1', 'failed', 3],
      ['nats-1', 'failed', 3],
      ['nats-2', 'failed', 3],
    ]);

    // Output arrives in order, chunk by chunk, and exit 0 everywhere is exit 0.
    const ok = await fleet.cli(['exec', '-l', 'role=mix', '-o', 'json', '--', 'sh', '-c', 'for i in 1 2 3; do echo line-$i; sleep 0.2; done']);
    expect(ok.code, ok.stderr).toBe(0);
    const runs = (JSON.parse(ok.stdout) as { runs: RunView[] }).runs;
    expect(runs.map((x) => [x.node, x.state, x.stdout])).toEqual(names.map((n) => [n, 'succeeded', 'line-1\nline-2\nline-3\n']));
  });

  it('moves a large exec output over NATS completely', async () => {
    const r = await fleet.cli(['exec', 'nats-1', 'grpc-1', '-o', 'json', '--', 'sh', '-c', 'head -c 3000000 /dev/zero | tr "\\0" y; echo; echo end']);
    expect(r.code, r.stderr).toBe(0);
    for (const run of (JSON.parse(r.stdout) as { runs: RunView[] }).runs) expect(run.stdout).toBe(`${'y'.repeat(3_000_000)}\nend\n`);
  });

  it('applies a file spec to gRPC and NATS agents in one rollout', async () => {
    const r = await applyMotd(fleet, 'role=mix');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const n of names) expectMotd(root(n), n);
  });

  it("refuses an agent's credentials on another node's subjects (the broker's permission violation)", async () => {
    const creds = readFileSync(join(fleet.agentDir('nats-1'), 'nats.creds'), 'utf8');
    expect(statSync(join(fleet.agentDir('nats-1'), 'nats.creds')).mode & 0o777).toBe(0o600);
    const other = nodeId('nats-2');
    const { nc, errors } = await natsClient(brokers.urls, creds);
    try {
      // Its own subject is allowed.
      nc.subscribe(`fleet.v1.node.${nodeId('nats-1')}.chan.probe.in`);
      await nc.flush();
      expect(errors).toEqual([]);

      const stolen: string[] = [];
      nc.subscribe(`fleet.v1.node.${other}.in`, { callback: (err, msg) => !err && stolen.push(msg.subject) });
      await waitFor('a subscribe permission violation', () => errors.some((e) => e.permissionContext?.operation === 'subscription' && e.permissionContext.subject === `fleet.v1.node.${other}.in`));
      nc.subscribe('fleet.v1.node.*.out');
      await waitFor('a permission violation for every agent\'s output', () => errors.some((e) => e.permissionContext?.subject === 'fleet.v1.node.*.out'));

      nc.publish(`fleet.v1.node.${other}.out`, new Uint8Array([1, 2, 3]));
      await waitFor('a publish permission violation', () => errors.some((e) => e.permissionContext?.operation === 'publish' && e.permissionContext.subject === `fleet.v1.node.${other}.out`));
      nc.publish(`fleet.v1.node.${other}.in`, new Uint8Array([1, 2, 3]));
      await waitFor('a publish permission violation on .in', () => errors.some((e) => e.permissionContext?.operation === 'publish' && e.permissionContext.subject === `fleet.v1.node.${other}.in`));
      // Meanwhile nats-2 got the server's messages as usual and nats-1's credentials saw none.
      const r = await fleet.cli(['exec', 'nats-2', '--', 'echo', 'still-mine']);
      expect(r.stdout).toBe('nats-2: still-mine\n');
      expect(stolen).toEqual([]);
    } finally {
      await nc.close();
    }
  });

  it('lets an agent switch between gRPC and NATS without enrolling again', async () => {
    await agents.get('grpc-1')!.kill('SIGTERM');
    await waitFor('grpc-1 offline', async () => !(await fleet.nodes()).find((n) => n.name === 'grpc-1')?.online);
    agents.set('grpc-1', fleet.startAgent('grpc-1', undefined, ['--nats', brokers.urls], { FLEET_AGENT_ROOT: root('grpc-1') }));
    await fleet.waitOnline(['grpc-1']);
    expect(await brokers.brokerOf(`fleet-agent ${nodeId('grpc-1')}`)).toBeDefined();
    const r = await fleet.cli(['exec', 'grpc-1', '--', 'echo', 'now-on-nats']);
    expect(r.stdout).toBe('grpc-1: now-on-nats\n');
    expect(existsSync(join(fleet.agentDir('grpc-1'), 'commands-seen.jsonl'))).toBe(true);
  });
});

describe('NATS failover', () => {
  const fleet = new Fleet();
  let brokers: NatsBrokers;
  let emulator: Proc;
  const COUNT = 50;

  beforeAll(async () => {
    brokers = await NatsBrokers.start(join(fleet.dir, 'nats'), natsTrust(fleet.dataDir), 3);
    fleet.options.serverEnv = { FLEET_NATS: brokers.urls };
    await fleet.startServer();
    const token = await fleet.token(['--uses', String(COUNT)]);
    emulator = new Proc(
      spawn(process.execPath, [join(REPO, 'dist/fleet-agent.js'), 'emulate', '--count', String(COUNT), '--server', fleet.url, '--token', token, '--state-dir', join(fleet.dir, 'emulator'), '--nats', brokers.urls], {
        env: { ...process.env, FLEET_LOG: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    await waitFor(`${COUNT} NATS agents online`, async () => (await fleet.nodes('emulated=true')).filter((n) => n.online).length === COUNT, 90_000);
  }, 150_000);
  afterAll(async () => {
    await emulator?.kill('SIGKILL');
    await fleet.stop();
    await brokers?.stop();
  });

  it("loses no result when the server's broker dies in the middle of a fan-out, and the agents fail over", async () => {
    // The agents spread over the three brokers; the server sits on one of them: kill that one.
    const victim = (await brokers.brokerOf('fleet-server'))!;
    expect(victim).toBeDefined();
    const onVictim = (await brokers.connections(victim)).filter((c) => c.name?.startsWith('fleet-agent ')).length;
    // Output keeps flowing from every node while the broker dies: 40 lines over 4 s each.
    const script = 'i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo line-$i; sleep 0.1; done';
    const expected = Array.from({ length: 40 }, (_, i) => `line-${i + 1}\n`).join('');
    const job = fleet.cli(['exec', '-l', 'emulated=true', '-o', 'json', '--timeout', '60s', '--', 'sh', '-c', script]);
    await waitFor('the fan-out to be running', async () => {
      const jobs = await fleet.json<{ id: string; runs?: { state: string }[] }[]>(['jobs', 'list']);
      return jobs.length > 0;
    });
    await new Promise((r) => setTimeout(r, 1500));
    await victim.proc.kill('SIGKILL');

    const r = await job;
    expect(r.code, r.stderr).toBe(0);
    const runs = (JSON.parse(r.stdout) as { runs: RunView[] }).runs;
    expect(runs).toHaveLength(COUNT);
    expect(runs.filter((x) => x.state !== 'succeeded').map((x) => `${x.node} ${x.state}`)).toEqual([]);
    // Every line of every node, in order: nothing lost with the broker, nothing twice.
    expect(runs.filter((x) => x.stdout !== expected).map((x) => `${x.node}: ${x.stdout?.replace(/line-/g, "").split("\n").join(",")}`)).toEqual([]);

    // Every agent and the server are on the two brokers left, and all nodes are online again.
    await waitFor('every agent on a surviving broker', async () => {
      const names = (await Promise.all(brokers.brokers.filter((b) => b.proc.running).map((b) => brokers.connections(b)))).flat().map((c) => c.name ?? '');
      return names.filter((n) => n.startsWith('fleet-agent ')).length === COUNT && names.includes('fleet-server');
    }, 30_000);
    await waitFor('every node online', async () => (await fleet.nodes('emulated=true')).filter((n) => n.online).length === COUNT, 30_000);
    // The test means something only if some agents had to move.
    expect(onVictim).toBeGreaterThan(0);
    const again = await fleet.cli(['exec', '-l', 'emulated=true', '-o', 'json', '--', 'echo', 'after']);
    expect((JSON.parse(again.stdout) as { runs: RunView[] }).runs.filter((x) => x.stdout === 'after\n')).toHaveLength(COUNT);
  });
});
