// A real PostgreSQL for tests: Debian's server binaries, a cluster made with initdb in a temporary
// directory (owned by the `postgres` user when run as root, which PostgreSQL requires), listening
// on a free loopback port. Each test takes a database of its own with `database()`. `crash()` is
// `pg_ctl stop -m immediate` (the server process dies, as on a crash); `start()` brings it back.
// fsync is off (a test cluster lives on for minutes); committed work still survives a crash of
// the server process, which is what the tests do, since the kernel keeps what was written.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** Debian installs server binaries under /usr/lib/postgresql/VERSION/bin, off the PATH. */
function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl'))) : [];
  if (versions.length === 0) throw new Error('PostgreSQL is not installed (apt-get install postgresql); npm test installs it');
  return join(root, versions.sort((a, b) => Number(b) - Number(a))[0]!, 'bin');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A running test cluster. */
export class TestPostgres {
  readonly #dir: string;
  readonly #bin: string;
  readonly port: number;
  #databases = 0;

  private constructor(dir: string, bin: string, port: number) {
    this.#dir = dir;
    this.#bin = bin;
    this.port = port;
  }

  /** Makes and starts a cluster (about 2 s). */
  static async start(): Promise<TestPostgres> {
    const bin = binDir();
    const dir = mkdtempSync(join(tmpdir(), 'fleet-pg-'));
    const asRoot = process.getuid?.() === 0;
    if (asRoot) {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
      chownSync(dir, uid, gid);
    }
    const pgdb = new TestPostgres(dir, bin, await freePort());
    pgdb.#run('initdb', ['-D', join(dir, 'db'), '-U', 'fleet', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    pgdb.start();
    return pgdb;
  }

  /** The URL of the cluster's `postgres` database (to create others). */
  get adminUrl(): string {
    return `postgres://fleet@127.0.0.1:${this.port}/postgres`;
  }

  /** Creates an empty database of its own and returns its URL. */
  async database(): Promise<string> {
    const name = `t${++this.#databases}`;
    const client = new pg.Client({ connectionString: this.adminUrl });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${name}`);
    } finally {
      await client.end();
    }
    return `postgres://fleet@127.0.0.1:${this.port}/${name}`;
  }

  /** Starts (again) the server, waiting until it accepts connections. */
  start(): void {
    const options = `-p ${this.port} -k ${this.#dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300`;
    this.#run('pg_ctl', ['-D', join(this.#dir, 'db'), '-l', join(this.#dir, 'log'), '-o', options, '-w', 'start']);
  }

  /** Kills the server as a crash would (`pg_ctl stop -m immediate`). */
  crash(): void {
    this.#run('pg_ctl', ['-D', join(this.#dir, 'db'), '-m', 'immediate', '-w', 'stop']);
  }

  /** Stops the server and removes the cluster. */
  stop(): void {
    spawnSync(...this.#command('pg_ctl', ['-D', join(this.#dir, 'db'), '-m', 'fast', '-w', 'stop']), { stdio: 'ignore' });
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #command(tool: string, args: string[]): [string, string[]] {
    const path = join(this.#bin, tool);
    return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
  }

  #run(tool: string, args: string[]): void {
    const [cmd, argv] = this.#command(tool, args);
    const r = spawnSync(cmd, argv, { encoding: 'utf8', cwd: '/' });
    if (r.status !== 0) throw new Error(`${tool} failed (${r.status}): ${r.stderr || r.stdout}`);
  }
}
