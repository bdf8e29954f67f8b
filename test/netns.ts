// Test hosts: each is a network namespace joined to the test's own namespace by a veth pair, so a
// "remote" machine reaches the server at hostIp(…) like a separate host would. Needs root.
import { execFileSync, spawn, type SpawnOptions } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Proc } from './harness';

// Every host gets a slot of its own across all test processes running at once (vitest workers,
// a bench): slot N is the /30 10.231.(N >> 6).(N & 63)*4 and names its namespace and veth pair.
// Two hosts sharing a subnet would route one's replies into the other, so a slot is claimed with
// an exclusive file under /run and given back by destroy(); a claim whose process died is cleared.
const SLOTS_DIR = '/run/fleet-test-hosts';
const SLOTS = 240 * 64; // 10.231.0.0 – 10.231.239.255; bench/agent-inventory uses 10.231.250.x

function claimSlot(): number {
  mkdirSync(SLOTS_DIR, { recursive: true });
  const start = Math.floor(Math.random() * SLOTS);
  for (let i = 0; i < SLOTS; i++) {
    const slot = (start + i) % SLOTS;
    const file = join(SLOTS_DIR, String(slot));
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return slot;
    } catch {
      // Taken; a claim left by a process that died is cleared for a later claim.
      if (!ownerAlive(file)) rmSync(file, { force: true });
    }
  }
  throw new Error(`no free test host slot in ${SLOTS_DIR}`);
}

function ownerAlive(file: string): boolean {
  try {
    const pid = Number(readFileSync(file, 'utf8'));
    if (!pid) return true; // being written right now
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class TestHost {
  readonly ns: string;
  /** The address of this host, and of the test's side of the link (where the server listens). */
  readonly ip: string;
  readonly peerIp: string;
  readonly #veth: string;
  readonly #slot: number;

  private constructor(slot: number, prefix: string) {
    this.#slot = slot;
    this.ns = `${prefix}-${slot}`;
    // Interface names have at most 15 characters: "v" + two letters of the prefix + the slot + a/b.
    this.#veth = prefix === 'fleet-test' ? `vft${slot}` : `v${prefix.replace(/[^a-z]/g, '').slice(0, 2)}${slot}`;
    const base = `10.231.${slot >> 6}.${(slot & 63) * 4}`.split('.').map(Number);
    this.peerIp = `10.231.${base[2]}.${base[3]! + 1}`;
    this.ip = `10.231.${base[2]}.${base[3]! + 2}`;
  }

  /**
   * A new host; `mac` sets its interface's hardware address (what its agent reports); `prefix`
   * names its namespace (default `fleet-test`), so a suite's namespaces are easy to tell apart.
   */
  static create(options: { mac?: string; prefix?: string } = {}): TestHost {
    const host = new TestHost(claimSlot(), options.prefix ?? 'fleet-test');
    try {
      host.#plumb(options.mac);
    } catch (err) {
      host.destroy();
      throw err;
    }
    return host;
  }

  #plumb(mac: string | undefined): void {
    const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
    // Whatever still has this slot's names was left by a test process that was killed.
    for (const stale of [['netns', 'del', this.ns], ['link', 'del', `${this.#veth}a`]]) {
      try {
        ip(...stale);
      } catch {
        // not there
      }
    }
    ip('netns', 'add', this.ns);
    ip('link', 'add', `${this.#veth}a`, 'type', 'veth', 'peer', 'name', `${this.#veth}b`);
    if (mac) ip('link', 'set', 'dev', `${this.#veth}b`, 'address', mac);
    ip('link', 'set', `${this.#veth}b`, 'netns', this.ns);
    ip('addr', 'add', `${this.peerIp}/30`, 'dev', `${this.#veth}a`);
    ip('link', 'set', `${this.#veth}a`, 'up');
    ip('netns', 'exec', this.ns, 'ip', 'addr', 'add', `${this.ip}/30`, 'dev', `${this.#veth}b`);
    ip('netns', 'exec', this.ns, 'ip', 'link', 'set', `${this.#veth}b`, 'up');
    ip('netns', 'exec', this.ns, 'ip', 'link', 'set', 'lo', 'up');
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
    // Its own process group, so a timeout kills the whole pipeline (curl … | sh), not just sh.
    const p = this.spawn(command, { env: { ...process.env, ...options.env }, detached: true });
    const timeoutMs = options.timeoutMs ?? 120_000;
    const started = Date.now();
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      try {
        process.kill(-p.child.pid!, 'SIGKILL');
      } catch {
        p.child.kill('SIGKILL');
      }
    }, timeoutMs);
    // The output is complete once both pipes are drained ('close'); a background process left
    // holding them (one the command started) gets two seconds after the exit.
    return new Promise((done) => {
      let finished = false;
      const finish = (code: number | null, signal: NodeJS.Signals | null) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        const why = killed ? `\n[killed after ${timeoutMs / 1000} s]` : signal ? `\n[ended by ${signal} after ${Math.round((Date.now() - started) / 1000)} s]` : '';
        done({ code: code ?? -1, output: p.output + why });
      };
      p.child.once('close', finish);
      p.child.once('exit', (code, signal) => setTimeout(() => finish(code, signal), 2000).unref());
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
    rmSync(join(SLOTS_DIR, String(this.#slot)), { force: true });
  }
}
