// Test hosts: each is a network namespace joined to the test's own namespace by a veth pair, so a
// "remote" machine reaches the server at hostIp(…) like a separate host would. Needs root.
import { execFileSync, spawn, type SpawnOptions } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Proc } from './harness';

let counter = 0;

export class TestHost {
  readonly ns: string;
  /** The address of this host, and of the test's side of the link (where the server listens). */
  readonly ip: string;
  readonly peerIp: string;
  readonly #veth: string;

  private constructor(index: number, prefix: string) {
    const id = `${process.pid % 10000}${index}`;
    this.ns = `${prefix}-${id}`;
    // Interface names have at most 15 characters: "v" + two letters of the prefix + the id + a/b.
    this.#veth = prefix === 'fleet-test' ? `vft${id}` : `v${prefix.replace(/[^a-z]/g, '').slice(0, 2)}${id}`;
    // A /30 per host from a range no real network here uses; both ends are ours.
    const subnet = (process.pid % 200) + index;
    this.peerIp = `10.231.${subnet}.1`;
    this.ip = `10.231.${subnet}.2`;
  }

  /**
   * A new host; `mac` sets its interface's hardware address (what its agent reports); `prefix`
   * names its namespace (default `fleet-test`), so a suite's namespaces are easy to tell apart.
   */
  static create(options: { mac?: string; prefix?: string } = {}): TestHost {
    const host = new TestHost(++counter, options.prefix ?? 'fleet-test');
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
    ip('netns', 'add', host.ns);
    ip('link', 'add', `${host.#veth}a`, 'type', 'veth', 'peer', 'name', `${host.#veth}b`);
    if (options.mac) ip('link', 'set', 'dev', `${host.#veth}b`, 'address', options.mac);
    ip('link', 'set', `${host.#veth}b`, 'netns', host.ns);
    ip('addr', 'add', `${host.peerIp}/30`, 'dev', `${host.#veth}a`);
    ip('link', 'set', `${host.#veth}a`, 'up');
    ip('netns', 'exec', host.ns, 'ip', 'addr', 'add', `${host.ip}/30`, 'dev', `${host.#veth}b`);
    ip('netns', 'exec', host.ns, 'ip', 'link', 'set', `${host.#veth}b`, 'up');
    ip('netns', 'exec', host.ns, 'ip', 'link', 'set', 'lo', 'up');
    return host;
  }

  /**
   * Cuts (`false`) or restores (`true`) the host's network cable: sets the test side of its veth
   * down or up. The host keeps its own interface and address, like a machine whose switch port died.
   */
  setLink(up: boolean): void {
    execFileSync('ip', ['link', 'set', `${this.#veth}a`, up ? 'up' : 'down'], { stdio: 'pipe' });
  }

  /** Gives the host's network interface another hardware address (what its agent then reports). */
  setMac(mac: string): void {
    execFileSync('ip', ['netns', 'exec', this.ns, 'ip', 'link', 'set', 'dev', `${this.#veth}b`, 'address', mac], { stdio: 'pipe' });
  }

  /** Where `ip netns exec` finds the host's own /etc files. */
  get #etcDir(): string {
    return join('/etc/netns', this.ns);
  }

  /**
   * Gives the host its own /etc/NAME (`resolv.conf`, `hosts`, …): `ip netns exec` mounts
   * /etc/netns/NS/NAME over /etc/NAME for everything started in the host from then on.
   */
  writeEtc(name: string, content: string): void {
    mkdirSync(this.#etcDir, { recursive: true });
    writeFileSync(join(this.#etcDir, name), content);
  }

  /** Runs a command inside the host and waits for it. */
  run(command: string, options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<{ code: number; output: string }> {
    const p = this.spawn(command, { env: { ...process.env, ...options.env } });
    const timer = setTimeout(() => p.child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    return p.exited.then((code) => {
      clearTimeout(timer);
      return { code: code ?? -1, output: p.output };
    });
  }

  /** Starts `sh -c command` inside the host. */
  spawn(command: string, options: SpawnOptions = {}): Proc {
    return new Proc(spawn('ip', ['netns', 'exec', this.ns, 'sh', '-c', command], { stdio: ['ignore', 'pipe', 'pipe'], ...options }));
  }

  /** Kills everything still running in the host and removes it (and its link). */
  destroy(): void {
    try {
      const pids = execFileSync('ip', ['netns', 'pids', this.ns]).toString().split('\n').filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
      execFileSync('ip', ['netns', 'del', this.ns], { stdio: 'pipe' });
    } catch {
      // already removed
    }
    rmSync(this.#etcDir, { recursive: true, force: true });
  }
}
