// The suite every agent transport must pass (docs/protocol.md, "Transports"): the same cases over
// gRPC and over NATS (a real nats-server), through the real CLI against a real server and real
// agents from dist/, one fleet per transport: exec output and exit codes, output order, shells
// (a pipe with flow control, and a real PTY), apply, refusing unsigned, tampered and replayed
// commands (audited), and coming back after the link drops without enrolling again.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createUser, fmtCreds } from '@nats-io/jwt';
import type { MsgHdrs } from 'nats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command, ServerMessage } from '../proto/gen/fleet/v1/agent';
import { NatsAuthority } from '../server';
import { GrpcRelay } from './grpc-relay';
import { Fleet, waitFor } from './harness';
import { NatsBrokers, natsClient, natsTrust } from './nats';
import { applyMotd, expectMotd } from './specs';

const FLEET = fileURLToPath(new URL('../dist/fleet.js', import.meta.url));
/** Agents per fleet, all on the transport under test. */
const AGENTS = 2;

interface RunView {
  node: string;
  state: string;
  exitCode: number;
}
interface AuditView {
  actor: string;
  action: string;
  target: string;
  ok: boolean;
  detail: string;
}

/** A server-to-agent message as one transport carried it. */
interface Carried {
  data: Uint8Array;
  /** NATS only: the headers it travelled with (link, sequence). */
  headers?: MsgHdrs;
}

/**
 * Someone on one agent's link who can read what the server sends and send messages of their
 * own, but does not hold the server's command-signing key.
 */
interface Attacker {
  /** The node whose link it is on. */
  node: string;
  /** The signed commands the server sent that node so far. */
  commands(): Carried[];
  /** Sends a ServerMessage to the node as the server would (with the same headers as `like`). */
  send(data: Uint8Array, like?: Carried): Promise<void>;
  /** Errors the attacker's own connection got (none expected). */
  errors(): unknown[];
  close(): Promise<void>;
}

/** A transport under test, started for one fleet. */
interface Carrier {
  /** `fleet-agent run` arguments that link over it. */
  agentArgs: string[];
  /** Ways its link can drop, each ending with everything started again. */
  outages: { name: string; run(): Promise<void> }[];
  attack(): Promise<Attacker>;
  stop(): Promise<void>;
}

const serverCrash = (fleet: Fleet) => ({
  name: 'a server crash',
  run: async () => {
    await fleet.crashServer();
    await fleet.startServer();
  },
});

const TRANSPORTS: { name: string; start(fleet: Fleet): Promise<Carrier> }[] = [
  {
    name: 'grpc',
    async start(fleet) {
      await fleet.startServer();
      return {
        agentArgs: [],
        outages: [serverCrash(fleet)],
        // A relay holding the server's TLS key, in front of an agent of its own.
        async attack() {
          const node = 'grpc-relayed';
          const relay = await GrpcRelay.start({ dataDir: fleet.dataDir, upstream: `127.0.0.1:${fleet.port}`, agentDir: fleet.agentDir(node) });
          const agent = fleet.startAgent(node, undefined, ['--server', relay.url, '--token', await fleet.token()]);
          await fleet.waitOnline([node]);
          return {
            node,
            commands: () => relay.fromServer.filter((m) => m.body?.$case === 'command').map((m) => ({ data: ServerMessage.encode(m).finish() })),
            send: async (data) => relay.send(ServerMessage.decode(data)),
            errors: () => relay.errors,
            close: async () => {
              await agent.kill();
              relay.close();
            },
          };
        },
        stop: async () => undefined,
      };
    },
  },
  {
    name: 'nats',
    async start(fleet) {
      const brokers = await NatsBrokers.start(join(fleet.dir, 'nats'), natsTrust(fleet.dataDir));
      fleet.options.serverEnv = { FLEET_NATS: brokers.urls };
      await fleet.startServer();
      return {
        agentArgs: ['--nats', brokers.urls],
        outages: [
          serverCrash(fleet),
          {
            name: 'a broker restart',
            run: async () => {
              const broker = brokers.brokers[0]!;
              await brokers.restart(broker);
              await waitFor('the server and every agent on the broker again', async () => {
                const connected = (await brokers.connections(broker)).map((c) => c.name ?? '');
                return connected.includes('fleet-server') && connected.filter((n) => n.startsWith('fleet-agent ')).length === AGENTS;
              });
            },
          },
        ],
        // The server's own NATS credentials (publish on any agent's subject) and a broker-side
        // observer: what a shared or compromised broker has.
        async attack() {
          const node = 'nats-1';
          const nodeId = (JSON.parse(readFileSync(join(fleet.agentDir(node), 'node.json'), 'utf8')) as { nodeId: string }).nodeId;
          const authority = await NatsAuthority.loadOrCreate(fleet.dataDir);
          const server = await natsClient(brokers.urls, await authority.serverCredentials('attacker with the server credentials'));
          const kp = createUser();
          const observerJwt = await authority.issueUser('observer', kp.getPublicKey(), { pub: { allow: [] }, sub: { allow: ['fleet.v1.>'] } });
          const observer = await natsClient(brokers.urls, new TextDecoder().decode(fmtCreds(observerJwt, kp)));
          const captured: Carried[] = [];
          observer.nc.subscribe(`fleet.v1.node.${nodeId}.in`, {
            callback: (err, msg) => {
              if (!err && ServerMessage.decode(msg.data).body?.$case === 'command') captured.push({ data: msg.data, headers: msg.headers });
            },
          });
          await observer.nc.flush();
          return {
            node,
            commands: () => captured,
            send: async (data, like) => {
              server.nc.publish(`fleet.v1.node.${nodeId}.in`, data, like?.headers ? { headers: like.headers } : undefined);
              await server.nc.flush();
            },
            errors: () => server.errors,
            close: async () => {
              await server.nc.close();
              await observer.nc.close();
            },
          };
        },
        stop: () => brokers.stop(),
      };
    },
  },
];

describe.each(TRANSPORTS)('agents over $name', (transport) => {
  const fleet = new Fleet();
  let carrier: Carrier;
  const names = Array.from({ length: AGENTS }, (_, i) => `${transport.name}-${i + 1}`);
  const [first, second] = names as [string, string];
  const root = (name: string) => join(fleet.dir, 'roots', name);
  const nodeId = (name: string) => (JSON.parse(readFileSync(join(fleet.agentDir(name), 'node.json'), 'utf8')) as { nodeId: string }).nodeId;

  beforeAll(async () => {
    carrier = await transport.start(fleet);
    const token = await fleet.token(['--uses', String(names.length), '--label', 'role=conformance']);
    for (const name of names) {
      mkdirSync(root(name), { recursive: true });
      fleet.startAgent(name, token, carrier.agentArgs, { FLEET_AGENT_ROOT: root(name), FLEET_AGENT_RECONCILE_INTERVAL: '1s' });
    }
    await fleet.waitOnline(names);
  });
  afterAll(async () => {
    await fleet.stop();
    await carrier?.stop();
  });

  it('exec: streams each node\'s output and records its exit code; the CLI exits 1 when any failed, 0 when all succeeded', async () => {
    const r = await fleet.cli(['exec', '-l', 'role=conformance', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(names.map((n) => `${n}: out`));
    for (const n of names) expect(r.stderr).toContain(`${n}: err\n`);
    expect(r.stderr).toMatch(/job (j-\w+): 2 nodes, 2 failed/);
    const jobId = /job (j-\w+):/.exec(r.stderr)![1]!;
    const job = await fleet.json<{ done: boolean; runs: RunView[] }>(['jobs', 'show', jobId]);
    expect(job.runs.map((x) => [x.node, x.state, x.exitCode])).toEqual(names.map((n) => [n, 'failed', 3]));

    const ok = await fleet.cli(['exec', '-l', 'role=conformance', '--', 'echo', 'fine']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.split('\n').filter(Boolean).sort()).toEqual(names.map((n) => `${n}: fine`));
  });

  it('ordering: many numbered lines, written in bursts, arrive complete and in order, streamed and stored', async () => {
    const count = 3000;
    const script = `i=0; while [ $i -lt ${count} ]; do i=$((i+1)); echo line-$i; if [ $((i % 250)) -eq 0 ]; then sleep 0.1; fi; done`;
    const expected = Array.from({ length: count }, (_, i) => `line-${i + 1}`);
    const ofNode = (out: string, n: string) => out.split('\n').filter((l) => l.startsWith(`${n}: `)).map((l) => l.slice(n.length + 2));
    const r = await fleet.cli(['exec', '-l', 'role=conformance', '--', 'sh', '-c', script]);
    expect(r.code, r.stderr).toBe(0);
    for (const n of names) expect(ofNode(r.stdout, n)).toEqual(expected);
    const jobId = /job (j-\w+):/.exec(r.stderr)![1]!;
    const shown = await fleet.cli(['jobs', 'show', jobId]);
    for (const n of names) expect(ofNode(shown.stdout, n)).toEqual(expected);
  });

  it('shell: `fleet shell NODE -- CMD` works as a pipe, with the remote exit status and flow control', async () => {
    const env = { ...process.env, FLEET_CONFIG: fleet.configFile };
    const out = execFileSync('sh', ['-c', `printf 'echo hi-$((40+2))\\n' | ${process.execPath} ${FLEET} shell ${first}`], { env }).toString();
    expect(out).toBe('hi-42\n');
    const r = await fleet.cli(['shell', second, '--', 'sh', '-c', 'echo to-stdout; echo to-stderr >&2; exit 5']);
    expect(r).toMatchObject({ code: 5, stdout: 'to-stdout\n', stderr: 'to-stderr\n' });
    // 16 MiB: sixteen times what the agent may have unacknowledged, so acks must flow over the transport.
    const sum = execFileSync('sh', ['-c', `${process.execPath} ${FLEET} shell ${second} -- sh -c 'head -c 16777216 /dev/zero | tr "\\0" z' | sha256sum`], { env, timeout: 90_000 }).toString();
    expect(sum).toBe(execFileSync('sh', ['-c', `head -c 16777216 /dev/zero | tr '\\0' z | sha256sum`]).toString());
  });

  it('shell: opens a real PTY (driven through tmux): input in, output out, the window size, the exit code', async () => {
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', `fleet-conformance-${transport.name}-${process.pid}`, ...args]).toString();
    const session = 'pty';
    try {
      tmux('-f', '/dev/null', 'new-session', '-d', '-s', session, '-x', '100', '-y', '30', `env FLEET_CONFIG=${fleet.configFile} ${process.execPath} ${FLEET} shell ${first} -- sh; echo "EXIT=$?"; sleep 300`);
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

  it('apply: a file spec reaches every node, and drift is repaired and reported', async () => {
    const r = await applyMotd(fleet, 'role=conformance');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const n of names) expectMotd(root(n), n);
    // Drift is repaired and reported over the transport.
    writeFileSync(join(root(second), 'etc/motd'), 'tampered\n');
    await waitFor('the drift to be repaired', () => readFileSync(join(root(second), 'etc/motd'), 'utf8') === `welcome to ${second}\n`, 15_000);
    await waitFor('the drift to be reported', async () => {
      const s = await fleet.json<{ specs: { spec: string; driftUnixMs: number }[] }>(['state', second]);
      return s.specs.some((x) => x.spec === 'motd' && x.driftUnixMs > 0);
    });
  });

  it('refuses unsigned, tampered and replayed commands sent down an agent\'s link, and audits each', async () => {
    const attacker = await carrier.attack();
    const target = nodeId(attacker.node);
    const marks = join(fleet.dir, 'injected');
    try {
      const real = await fleet.cli(['exec', attacker.node, '--', 'sh', '-c', `echo ran >> ${marks}`]);
      expect(real.code, real.stderr).toBe(0);
      await waitFor('the real command to be seen on the link', () => attacker.commands().length === 1);
      const captured = attacker.commands()[0]!;
      const original = ServerMessage.decode(captured.data);
      if (original.body?.$case !== 'command') throw new Error('not a command');
      const signed = original.body.value;

      // 1. Unsigned: a well-formed command with a signature that is not the server's.
      const forged = Command.encode({
        id: 'forged-1',
        nodeId: target,
        notAfterUnixMs: Date.now() + 60_000,
        body: { $case: 'exec', value: { jobId: 'j-forged0001', argv: ['sh', '-c', `echo forged >> ${marks}`], shell: '', timeoutMs: 10_000 } },
      }).finish();
      await attacker.send(ServerMessage.encode({ body: { $case: 'command', value: { payload: Buffer.from(forged), signature: Buffer.alloc(64) } } }).finish());
      // 2. Tampered: the real signed command with its argv changed.
      const command = Command.decode(signed.payload);
      if (command.body?.$case !== 'exec') throw new Error('not an exec');
      command.body.value.argv = ['sh', '-c', `echo tampered >> ${marks}`];
      command.body.value.jobId = 'j-tampered01';
      await attacker.send(ServerMessage.encode({ body: { $case: 'command', value: { payload: Buffer.from(Command.encode(command).finish()), signature: signed.signature } } }).finish());
      // 3. Replayed: the real message, byte for byte, and again with what the transport carried it with.
      await attacker.send(captured.data);
      await attacker.send(captured.data, captured);

      const audit = await waitFor('four audited refusals', async () => {
        const entries = await fleet.json<AuditView[]>(['audit', '--action', 'command.rejected']);
        return entries.length >= 4 && entries;
      });
      expect(audit).toHaveLength(4);
      expect(audit.every((e) => e.target === attacker.node && e.ok === false && e.actor === `node:${target}`)).toBe(true);
      const details = audit.map((e) => e.detail);
      expect(details.filter((d) => /bad signature/.test(d))).toHaveLength(2);
      expect(details.filter((d) => d.startsWith(`command ${command.id}: replayed command`))).toHaveLength(2);
      // The command ran once, as the operator asked; nothing injected ran.
      await new Promise((r) => setTimeout(r, 500));
      expect(readFileSync(marks, 'utf8')).toBe('ran\n');
      expect(attacker.errors()).toEqual([]);
      // The agent's link was not disturbed.
      expect((await fleet.cli(['exec', attacker.node, '--', 'echo', 'fine'])).stdout).toBe(`${attacker.node}: fine\n`);
    } finally {
      await attacker.close();
    }
  });

  it('reconnect: after every way its link can drop, the agents come back and work without enrolling again', async () => {
    const ids = names.map(nodeId);
    const enrollments = async () => (await fleet.json<AuditView[]>(['audit', '--action', 'node.enroll'])).length;
    const before = await enrollments();
    for (const outage of carrier.outages) {
      await outage.run();
      await fleet.waitOnline(names);
      const r = await fleet.cli(['exec', '-l', 'role=conformance', '--', 'echo', 'back']);
      expect(r.stdout.split('\n').filter(Boolean).sort(), `after ${outage.name}: ${r.stderr}`).toEqual(names.map((n) => `${n}: back`));
    }
    expect(names.map(nodeId)).toEqual(ids);
    expect(await enrollments()).toBe(before);
  });
});
