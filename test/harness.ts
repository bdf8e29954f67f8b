// Starts real fleet processes for integration tests: the built fleet-server, fleet-agent and
// fleet executables from dist/, each in its own temporary directory, all cleaned up by `stop()`.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = fileURLToPath(new URL('../dist', import.meta.url));

/** What a successful check can return: anything but the falsy values. */
export type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Waits until `check` returns a truthy value, polling; throws with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 20_000, everyMs = 200): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as Truthy<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A running child process with its collected output. */
/** Runs `node ARGS` to completion (stdin closed) and collects its exit code and output. */
export async function runNode(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const p = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  // Decoded as streams, so a character cut between two reads stays whole.
  p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number>((ok) => p.once('close', (c) => ok(c ?? -1)));
  return { code, stdout, stderr };
}

export class Proc {
  output = '';
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (this.output += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.output += d));
    this.exited = new Promise((ok) => child.once('exit', (code) => ok(code)));
    child.once('close', () => (this.#closed = true));
  }

  /** True once the process has exited and its output streams are drained. */
  #closed = false;

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits for `pattern` in the output; fails at once if the process exits first, quoting its output. */
  async waitForOutput(pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = pattern.exec(this.output);
      if (match) return match;
      const why = this.#closed ? `the process exited (${this.child.signalCode ?? this.child.exitCode}) first` : Date.now() > deadline ? 'timed out' : '';
      if (why) throw new Error(`waiting for output matching ${pattern}: ${why}\n--- output (last 2000 characters) ---\n${this.output.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    await this.exited;
  }
}

export interface FleetOptions {
  /** Extra environment for the server. */
  serverEnv?: Record<string, string>;
  /** Address the server listens on (gRPC and HTTPS); default 127.0.0.1. */
  host?: string;
}

/** One fleet: a server, its admin login, and any number of agents. */
export class Fleet {
  readonly dir = mkdtempSync(join(tmpdir(), 'fleet-test-'));
  readonly dataDir = join(this.dir, 'server');
  readonly configFile = join(this.dir, 'cli', 'config.json');
  server!: Proc;
  port = 0;
  httpsPort = 0;
  installPin = '';
  adminToken = '';
  caHash = '';
  readonly #procs: Proc[] = [];

  constructor(readonly options: FleetOptions = {}) {}

  get host(): string {
    return this.options.host ?? '127.0.0.1';
  }

  get url(): string {
    return `https://${this.host}:${this.port}`;
  }

  /** The install URL (HTTPS port). */
  get installUrl(): string {
    return `https://${this.host}:${this.httpsPort}`;
  }

  /** Starts the server (on a free port the first time, the same port after) and logs in once. */
  async startServer(): Promise<void> {
    this.server = this.#spawn('fleet-server.js', ['--data', this.dataDir, '--listen', `${this.host}:${this.port}`, '--https-listen', `${this.host}:${this.httpsPort}`], {
      FLEET_LOG: 'warn',
      ...this.options.serverEnv,
    });
    const m = await this.server.waitForOutput(/listening on [^\n]*:(\d+)\nCA fingerprint: sha256:([0-9a-f]{64})\ninstalls on https:\/\/[^\n]*:(\d+) \(pin (sha256\/\/[^)]+)\)/);
    this.port = Number(m[1]);
    this.caHash = m[2]!;
    this.httpsPort = Number(m[3]);
    this.installPin = m[4]!;
    if (!this.adminToken) {
      this.adminToken = (await this.server.waitForOutput(/\n {2}(fa1_[0-9a-f_]+)\n/))[1]!;
      const login = await this.cli(['login', '--server', this.url, '--token', this.adminToken, '--ca-hash', `sha256:${this.caHash}`]);
      if (login.code !== 0) throw new Error(`login failed: ${login.stderr}`);
    }
  }

  /** Kills the server with SIGKILL (no cleanup at all). */
  async crashServer(): Promise<void> {
    await this.server.kill('SIGKILL');
  }

  /** Runs the real `fleet` CLI against this fleet. */
  async cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
    return await runNode([join(DIST, 'fleet.js'), ...args], { FLEET_CONFIG: this.configFile, ...env });
  }

  /** Runs the CLI and parses its JSON stdout (adds `-o json`). */
  async json<T = unknown>(args: string[]): Promise<T> {
    const r = await this.cli([...args, '-o', 'json']);
    if (r.code !== 0) throw new Error(`fleet ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /** Creates a join token and returns it. */
  async token(args: string[] = []): Promise<string> {
    const r = await this.cli(['tokens', 'create', ...args]);
    if (r.code !== 0) throw new Error(`tokens create failed: ${r.stderr}`);
    return r.stdout.trim();
  }

  /** Starts an agent process with its own state directory (reused when restarted by name). */
  startAgent(name: string, token?: string, extraArgs: string[] = [], env: Record<string, string> = {}): Proc {
    const args = ['run', '--name', name, ...extraArgs];
    if (token) args.push('--server', this.url, '--token', token);
    return this.#spawn('fleet-agent.js', args, { FLEET_AGENT_DIR: this.agentDir(name), FLEET_LOG: 'info', ...env });
  }

  /** An agent's state directory. */
  agentDir(name: string): string {
    return join(this.dir, 'agents', name);
  }

  /** Nodes as `fleet nodes -o json` reports them. */
  async nodes(selector?: string): Promise<{ name: string; online: boolean; labels: Record<string, string>; facts: Record<string, unknown> | null }[]> {
    return this.json(['nodes', ...(selector ? ['-l', selector] : [])]);
  }

  /** Waits until the named nodes are all online. */
  async waitOnline(names: string[], timeoutMs = 30_000): Promise<void> {
    await waitFor(`nodes ${names.join(', ')} online`, async () => {
      const online = new Set((await this.nodes()).filter((n) => n.online).map((n) => n.name));
      return names.every((n) => online.has(n));
    }, timeoutMs);
  }

  #spawn(bin: string, args: string[], env: Record<string, string>): Proc {
    const child = spawn(process.execPath, [join(DIST, bin), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const proc = new Proc(child);
    this.#procs.push(proc);
    return proc;
  }

  /** Stops every process and removes the temporary directory. */
  async stop(): Promise<void> {
    await Promise.all(this.#procs.map((p) => p.kill('SIGKILL')));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
