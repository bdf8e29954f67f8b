// The journeys over NATS: exec, shells and desired state with one gRPC agent and two NATS agents
// in the same jobs; the broker confining each agent to its own subjects; commands injected,
// tampered with or replayed on an agent's subject refused and audited; and a broker dying in the
// middle of a fan-out.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, credsAuthenticator, type MsgHdrs, type NatsConnection, type Status } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command, ServerMessage } from '../proto/gen/fleet/v1/agent';
import { NatsAuthority } from '../server';
import { createUser, fmtCreds } from '@nats-io/jwt';
import { Fleet, Proc, waitFor } from './harness';
import { NatsBrokers, natsTrust } from './nats';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const FLEET = join(REPO, 'dist/fleet.js');

interface RunView {
  node: string;
  state: string;
  exitCode: number;
  stdout?: string;
  stderr?: string;
}
interface AuditView {
  actor: string;
  action: string;
  target: string;
  ok: boolean;
  detail: string;
}

/** A NATS client with the given creds that records the broker's asynchronous errors. */
async function client(url: string, creds: string): Promise<{ nc: NatsConnection; errors: Status[] }> {
  const nc = await connect({ servers: url, authenticator: credsAuthenticator(new TextEncoder().encode(creds)), maxReconnectAttempts: 0 });
  const errors: Status[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') errors.push(s);
  })();
  return { nc, errors };
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

  it('runs `fleet shell NODE -- CMD` over NATS as a pipe, with the remote exit status and flow control', async () => {
    const env = { ...process.env, FLEET_CONFIG: fleet.configFile };
    const out = execFileSync('sh', ['-c', `printf 'echo hi-$((40+2))\\n' | ${process.execPath} ${FLEET} shell nats-1`], { env }).toString();
    expect(out).toBe('hi-42\n');
    const r = await fleet.cli(['shell', 'nats-2', '--', 'sh', '-c', 'echo to-stdout; echo to-stderr >&2; exit 5']);
    expect(r).toMatchObject({ code: 5, stdout: 'to-stdout\n', stderr: 'to-stderr\n' });
    // 16 MiB: sixteen times what the agent may have unacknowledged, so acks must flow over NATS.
    const sum = execFileSync('sh', ['-c', `${process.execPath} ${FLEET} shell nats-2 -- sh -c 'head -c 16777216 /dev/zero | tr "\\0" z' | sha256sum`], { env, timeout: 90_000 }).toString();
    expect(sum).toBe(execFileSync('sh', ['-c', `head -c 16777216 /dev/zero | tr '\\0' z | sha256sum`]).toString());
  });

  it('opens a real PTY over NATS (driven through tmux)', async () => {
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', `fleet-nats-${process.pid}`, ...args]).toString();
    const session = 'pty';
    try {
      tmux('-f', '/dev/null', 'new-session', '-d', '-s', session, '-x', '100', '-y', '30', `env FLEET_CONFIG=${fleet.configFile} ${process.execPath} ${FLEET} shell nats-1 -- sh; echo "EXIT=$?"; sleep 300`);
      tmux('set', '-t', session, 'status', 'off');
      const screen = () => tmux('capture-pane', '-p', '-t', session);
      const type = (text: string) => tmux('send-keys', '-t', session, text, 'Enter');
      type('echo ready-$((1+1)); tty');
      await waitFor('the remote shell', () => screen().includes('ready-2'), 15_000);
      expect(screen()).toMatch(/\/dev\/pts\/\d+/);
      type('stty size');
      const size = tmux('display', '-p', '-t', session, '#{pane_height} #{pane_width}').trim();
      await waitFor(`stty size ${size}`, () => screen().includes(`\n${size}`), 10_000);
      type('exit 7');
      await waitFor('the CLI to exit with the remote status', () => screen().includes('EXIT=7'), 10_000);
    } finally {
      try {
        tmux('kill-server');
      } catch {
        // already gone
      }
    }
  });

  it('applies a file spec to gRPC and NATS agents in one rollout', async () => {
    const dir = join(fleet.dir, 'specs');
    mkdirSync(dir, { recursive: true });
    const spec = join(dir, 'motd.yaml');
    writeFileSync(spec, 'name: motd\nselector: role=mix\nresources:\n  - type: file\n    path: /etc/motd\n    template: true\n    content: |\n      welcome to {{ node.name }}\n    mode: "0644"\n');
    const r = await fleet.cli(['apply', '-f', spec]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const n of names) {
      const file = join(root(n), 'etc/motd');
      expect(readFileSync(file, 'utf8')).toBe(`welcome to ${n}\n`);
      expect(statSync(file).mode & 0o777).toBe(0o644);
    }
    // Drift on a NATS node is repaired and reported over NATS.
    writeFileSync(join(root('nats-2'), 'etc/motd'), 'tampered\n');
    await waitFor('the drift to be repaired', () => readFileSync(join(root('nats-2'), 'etc/motd'), 'utf8') === 'welcome to nats-2\n', 15_000);
    await waitFor('the drift to be reported', async () => {
      const s = await fleet.json<{ specs: { spec: string; driftUnixMs: number }[] }>(['state', 'nats-2']);
      return s.specs.some((x) => x.spec === 'motd' && x.driftUnixMs > 0);
    });
  });

  it("refuses an agent's credentials on another node's subjects (the broker's permission violation)", async () => {
    const creds = readFileSync(join(fleet.agentDir('nats-1'), 'nats.creds'), 'utf8');
    expect(statSync(join(fleet.agentDir('nats-1'), 'nats.creds')).mode & 0o777).toBe(0o600);
    const other = nodeId('nats-2');
    const { nc, errors } = await client(brokers.urls, creds);
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

  it('refuses unsigned, tampered and replayed commands published straight onto an agent subject, and audits each', async () => {
    const authority = await NatsAuthority.loadOrCreate(fleet.dataDir);
    const target = nodeId('nats-1');
    const marks = join(fleet.dir, 'injected');
    // The server's own credentials: publish on any agent's .in subject.
    const server = await client(brokers.urls, await authority.serverCredentials('attacker with the server credentials'));
    // A broker-side observer (a shared or compromised broker sees everything).
    const kp = createUser();
    const observerJwt = await authority.issueUser('observer', kp.getPublicKey(), { pub: { allow: [] }, sub: { allow: ['fleet.v1.>'] } });
    const observer = await client(brokers.urls, new TextDecoder().decode(fmtCreds(observerJwt, kp)));
    try {
      const captured: Uint8Array[] = [];
      let capturedHeaders: MsgHdrs | undefined;
      observer.nc.subscribe(`fleet.v1.node.${target}.in`, {
        callback: (err, msg) => {
          if (err || ServerMessage.decode(msg.data).body?.$case !== 'command') return;
          captured.push(msg.data);
          capturedHeaders = msg.headers;
        },
      });
      await observer.nc.flush();
      const real = await fleet.cli(['exec', 'nats-1', '--', 'sh', '-c', `echo ran >> ${marks}`]);
      expect(real.code, real.stderr).toBe(0);
      await waitFor('the real command to be seen on the broker', () => captured.length === 1);
      const original = ServerMessage.decode(captured[0]!);
      if (original.body?.$case !== 'command') throw new Error('not a command');
      const signed = original.body.value;

      // 1. Unsigned: a well-formed command with a signature that is not the server's.
      const forged = Command.encode({
        id: 'forged-1',
        nodeId: target,
        notAfterUnixMs: Date.now() + 60_000,
        body: { $case: 'exec', value: { jobId: 'j-forged0001', argv: ['sh', '-c', `echo forged >> ${marks}`], shell: '', timeoutMs: 10_000 } },
      }).finish();
      server.nc.publish(`fleet.v1.node.${target}.in`, ServerMessage.encode({ body: { $case: 'command', value: { payload: Buffer.from(forged), signature: Buffer.alloc(64) } } }).finish());
      // 2. Tampered: the real signed command with its argv changed.
      const command = Command.decode(signed.payload);
      if (command.body?.$case !== 'exec') throw new Error('not an exec');
      command.body.value.argv = ['sh', '-c', `echo tampered >> ${marks}`];
      command.body.value.jobId = 'j-tampered01';
      server.nc.publish(`fleet.v1.node.${target}.in`, ServerMessage.encode({ body: { $case: 'command', value: { payload: Buffer.from(Command.encode(command).finish()), signature: signed.signature } } }).finish());
      // 3. Replayed: the real message, byte for byte, and again with its NATS headers (link, sequence).
      server.nc.publish(`fleet.v1.node.${target}.in`, captured[0]!);
      server.nc.publish(`fleet.v1.node.${target}.in`, captured[0]!, { headers: capturedHeaders });
      await server.nc.flush();

      const audit = await waitFor('four audited refusals', async () => {
        const entries = await fleet.json<AuditView[]>(['audit', '--action', 'command.rejected']);
        return entries.length >= 4 && entries;
      });
      expect(audit).toHaveLength(4);
      expect(audit.every((e) => e.target === 'nats-1' && e.ok === false && e.actor === `node:${target}`)).toBe(true);
      const details = audit.map((e) => e.detail);
      expect(details.filter((d) => /bad signature/.test(d))).toHaveLength(2);
      expect(details.filter((d) => d.startsWith(`command ${command.id}: replayed command`))).toHaveLength(2);
      // The command ran once, as the operator asked; nothing injected ran.
      await new Promise((r) => setTimeout(r, 500));
      expect(readFileSync(marks, 'utf8')).toBe('ran\n');
      expect(server.errors).toEqual([]);
      // The agent's link was not disturbed.
      expect((await fleet.cli(['exec', 'nats-1', '--', 'echo', 'fine'])).stdout).toBe('nats-1: fine\n');
    } finally {
      await server.nc.close();
      await observer.nc.close();
    }
  });

  it('gets its NATS agents back after a server crash (they are told to say Hello again)', async () => {
    await fleet.crashServer();
    await fleet.startServer();
    await fleet.waitOnline(names);
    const r = await fleet.cli(['exec', '-l', 'role=mix', '--', 'echo', 'back']);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(names.map((n) => `${n}: back`));
  });

  it('lets an agent switch between gRPC and NATS without enrolling again', async () => {
    await agents.get('grpc-1')!.kill('SIGTERM');
    await waitFor('grpc-1 offline', async () => !(await fleet.nodes()).find((n) => n.name === 'grpc-1')?.online);
    agents.set('grpc-1', fleet.startAgent('grpc-1', undefined, ['--nats', brokers.urls], { FLEET_AGENT_ROOT: root('grpc-1') }));
    await fleet.waitOnline(['grpc-1']);
    expect(await brokers.brokerOf(`fleet-agent ${nodeId('grpc-1')}`)).toBeDefined();
    const r = await fleet.cli(['exec', 'grpc-1', '--', 'echo', 'now-on-nats']);
    expect(r.stdout).toBe('grpc-1: now-on-nats\n');
    expect(existsSync(join(fleet.agentDir('grpc-1'), 'commands-seen.json'))).toBe(true);
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
