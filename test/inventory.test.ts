// Inventory never holds an agent up. Agents on a host whose DNS does not answer (so `hostname -f`
// waits 20 s) run a command at once right after start, keep their link, stop at once on SIGTERM
// leaving nothing behind, and collect their facts without starting a shell. Real server and agent
// processes from dist/, in a network namespace with its own resolv.conf and hosts.
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, type Proc, waitFor } from './harness';
import { TestHost } from './netns';

const AGENT = fileURLToPath(new URL('../dist/fleet-agent.js', import.meta.url));

interface NodeFacts {
  os?: { hostname?: string; fqdn?: string };
  interfaces?: { name: string; ipv4: string[] }[];
}

/** A process's parent pid and start time (field 22, clock ticks since boot), or null when it is gone. */
function procStat(pid: number): { ppid: number; started: string; state: string } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, ppid: Number(fields[1]), started: fields[19]! };
  } catch {
    return null;
  }
}

/** Every process whose parent is `pid` right now, as "pid:start-time" (so a reused pid does not count). */
function childrenOf(pid: number): string[] {
  const out: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (stat?.ppid === pid) out.push(`${entry}:${stat.started}`);
  }
  return out;
}

/** True while the process recorded as "pid:start-time" still exists (running or a zombie). */
function stillThere(child: string): boolean {
  const [pid, started] = child.split(':');
  return procStat(Number(pid))?.started === started;
}

/** The processes an agent started, from `strace -f -e trace=execve` output: pid → programs it ran. */
function processesStarted(straceLog: string): Map<number, string[]> {
  const lines = straceLog.split('\n').filter((l) => /^\d+ +execve\("/.test(l));
  const agentPid = Number(lines[0]?.split(' ')[0]);
  const started = new Map<number, string[]>();
  for (const line of lines) {
    const m = /^(\d+) +execve\("([^"]+)"/.exec(line)!;
    const pid = Number(m[1]);
    if (pid === agentPid) continue;
    started.set(pid, [...(started.get(pid) ?? []), m[2]!.split('/').pop()!]);
  }
  return started;
}

describe('agents on a host whose DNS does not answer', () => {
  let host: TestHost;
  let fleet: Fleet;
  let dns: Socket;
  let token = '';
  const names = ['deaf-1', 'deaf-2', 'deaf-3'];

  const startAgent = (name: string, wrap = '', env: Record<string, string> = {}): Proc =>
    host.spawn(`exec ${wrap} "${process.execPath}" "${AGENT}" run --name ${name} --server ${fleet.url} --token ${token}`, {
      env: { ...process.env, FLEET_AGENT_DIR: fleet.agentDir(name), FLEET_LOG: 'info', ...env },
    });
  const facts = async (name: string): Promise<NodeFacts> => ((await fleet.nodes()).find((n) => n.name === name)?.facts ?? {}) as NodeFacts;

  beforeAll(async () => {
    // The host's only name server is the test's side of its link, where a socket takes every query
    // and answers none; its hosts file does not name the machine, so `hostname -f` asks DNS and
    // waits 2 × 10 s (two nameservers that do not answer, with the resolver's default 5 s × 2, wait as long).
    host = TestHost.create({ prefix: 'fleet-inv' });
    host.writeEtc('resolv.conf', `nameserver ${host.peerIp}\noptions timeout:10 attempts:2\n`);
    host.writeEtc('hosts', '127.0.0.1 localhost\n');
    dns = createSocket('udp4');
    await new Promise<void>((ok) => dns.bind(53, host.peerIp, ok));
    const slow = await host.run('hostname -f', { timeoutMs: 60_000 });
    expect(slow.output).toMatch(/name resolution|Unknown host/i);
    fleet = new Fleet({ host: host.peerIp });
    await fleet.startServer();
    token = await fleet.token(['--uses', '10', '--label', 'dns=deaf']);
  });
  afterAll(async () => {
    host?.destroy();
    dns?.close();
    await fleet?.stop();
  });

  it('run a command on every node right after start, within the job timeout, and keep their links', async () => {
    const agents = names.map((name) => startAgent(name));
    await fleet.waitOnline(names);
    // Right after start every agent is reading its inventory for the first time.
    const began = Date.now();
    const r = await fleet.cli(['exec', '-l', 'dns=deaf', '--timeout', '15s', '--', 'echo', 'ran']);
    const seconds = (Date.now() - began) / 1000;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/3 nodes, 3 succeeded/);
    for (const name of names) expect(r.stdout).toContain(`${name}: ran\n`);
    // Within the job's own timeout: a node that cannot answer for longer is no better than lost.
    expect(seconds).toBeLessThan(15);

    // The slow lookup ends (DNS gives up after 20 s and the fqdn falls back to the hostname): the
    // nodes report it, and no link was closed for missed heartbeats meanwhile.
    for (const name of names) await waitFor(`${name} to report its fqdn`, async () => (await facts(name)).os?.fqdn, 60_000, 1000);
    expect(fleet.server.output).not.toMatch(/no heartbeat/);
    for (const agent of agents) expect(agent.output).not.toMatch(/disconnected from server/);
    await Promise.all(agents.map((a) => a.kill()));
  });

  it('stop within seconds of SIGTERM right after start, leaving no process behind', async () => {
    const agent = startAgent(names[0]!);
    const pid = agent.child.pid!;
    // Every child the agent has while it runs (polled until it stops).
    const seen = new Set<string>();
    const poll = setInterval(() => childrenOf(pid).forEach((c) => seen.add(c)), 20);
    try {
      // Inventory starts the moment the server welcomes the agent.
      await agent.waitForOutput(/"msg":"connected"/);
      await new Promise((r) => setTimeout(r, 300));
      childrenOf(pid).forEach((c) => seen.add(c));
      const signalled = Date.now();
      agent.child.kill('SIGTERM');
      const exited = await Promise.race([agent.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 5000))]);
      expect(exited, `the agent still runs ${(Date.now() - signalled) / 1000} s after SIGTERM`).toBe(true);
      expect(agent.child.exitCode).toBe(0);
    } finally {
      clearInterval(poll);
      await agent.kill('SIGKILL');
    }
    // It was looking its fqdn up (DNS makes that wait 20 s) when told to stop: that process is gone too.
    expect(seen.size).toBeGreaterThan(0);
    expect([...seen].filter(stillThere)).toEqual([]);
  });

  it('collect inventory without starting a shell, and look their fqdn up once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-inv-'));
    const log = join(dir, 'strace.log');
    // strace records every program the agent (or any child of it) runs.
    const agent = startAgent(names[1]!, `strace -f -qq -e trace=execve -e signal=none -o ${log}`, { FLEET_AGENT_INVENTORY_INTERVAL: '1s' });
    let reported: NodeFacts = {};
    try {
      await agent.waitForOutput(/"msg":"connected"/, 60_000);
      // The first collection and several more, one a second.
      await new Promise((r) => setTimeout(r, 8000));
      reported = await facts(names[1]!);
    } finally {
      // Stop the agent itself (strace then ends with it).
      const agentPid = Number(readFileSync(log, 'utf8').split(' ')[0]);
      if (agentPid) process.kill(agentPid, 'SIGTERM');
      await agent.exited;
    }
    const started = processesStarted(readFileSync(log, 'utf8'));
    rmSync(dir, { recursive: true, force: true });
    const programs = [...started.values()].map((p) => p.at(-1)!);
    // No shell at all, and `hostname -f` (the fqdn) once over all those collections.
    expect(programs.filter((p) => ['sh', 'dash', 'bash'].includes(p))).toEqual([]);
    expect(programs).toEqual(['hostname']);
    expect(reported.os?.hostname).toBeTruthy();
  });

  it('report a new address within a few inventory intervals', async () => {
    const agent = startAgent(names[2]!, '', { FLEET_AGENT_INVENTORY_INTERVAL: '1s' });
    try {
      await agent.waitForOutput(/"msg":"connected"/);
      await waitFor('the first inventory', async () => (await facts(names[2]!)).os, 30_000, 500);
      expect((await host.run('ip addr add 127.0.0.9/8 dev lo')).code).toBe(0);
      await waitFor('the new address in the inventory', async () => (await facts(names[2]!)).interfaces?.some((i) => i.ipv4.includes('127.0.0.9')), 15_000, 500);
    } finally {
      await host.run('ip addr del 127.0.0.9/8 dev lo');
      await agent.kill();
    }
  });
});
