// fleet-server with its state in PostgreSQL (--store / FLEET_STORE), on a real PostgreSQL: an agent
// enrolls and runs commands, and everything — nodes, jobs, the CA and keys — outlives a crash of
// the server and is shared with a second replica on the same database; nothing is kept in DATA.
// Without the master key the server refuses to start, naming what is missing.
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestPostgres } from '../server/postgres/test-postgres';
import { Fleet, runNode } from './harness';

describe('fleet-server on PostgreSQL', () => {
  let pg: TestPostgres;
  let env: Record<string, string>;
  let a: Fleet;
  let b: Fleet;

  beforeAll(async () => {
    pg = await TestPostgres.start();
    const keyFile = join(mkdtempSync(join(tmpdir(), 'fleet-key-')), 'master.key');
    writeFileSync(keyFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    env = { FLEET_STORE: await pg.database(), FLEET_MASTER_KEY_FILE: keyFile };
    a = new Fleet({ serverEnv: env });
    b = new Fleet({ serverEnv: env });
    await a.startServer();
  }, 90_000);

  afterAll(async () => {
    await b?.stop();
    await a?.stop();
    pg?.stop();
  });

  it('enrolls an agent and runs commands; after a crash of the server the node, its jobs and the CA are all still there', async () => {
    a.startAgent('pg-1', await a.token());
    await a.waitOnline(['pg-1']);
    expect((await a.cli(['exec', 'pg-1', '--', 'echo', 'first'])).stdout).toBe('pg-1: first\n');
    const ca = a.caHash;
    await a.crashServer();
    await a.startServer();
    expect(a.caHash).toBe(ca);
    await a.waitOnline(['pg-1']);
    expect((await a.cli(['exec', 'pg-1', '--', 'echo', 'second'])).stdout).toBe('pg-1: second\n');
    const jobs = await a.json<{ command: { argv: string[] } }[]>(['jobs', 'list']);
    expect(jobs.map((j) => j.command.argv.join(' '))).toEqual(['echo second', 'echo first']);
    // Nothing of the fleet's state is in the data directory.
    for (const file of ['fleet.db', 'pki/ca.key', 'pki/signing.key', 'nats/operator.nk']) expect(existsSync(join(a.dataDir, file)), file).toBe(false);
  });

  it('a second replica on the same database has the same CA, nodes, jobs and API tokens', async () => {
    b.adminToken = a.adminToken;
    await b.startServer();
    expect(b.caHash).toBe(a.caHash);
    const login = await b.cli(['login', '--server', b.url, '--token', a.adminToken, '--ca-hash', `sha256:${b.caHash}`]);
    expect(login.code, login.stderr).toBe(0);
    expect((await b.nodes()).map((n) => n.name)).toEqual(['pg-1']);
    expect((await b.json<{ command: { argv: string[] } }[]>(['jobs', 'list'])).map((j) => j.command.argv.join(' '))).toEqual(['echo second', 'echo first']);
  });

  it('migrate says the schema is up to date once a server has run, and names a database it cannot reach', async () => {
    const r = await runNode([join(process.cwd(), 'dist', 'fleet-server.js'), 'migrate', '--store', env.FLEET_STORE!]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/: schema \d+, up to date\n$/);
    const fresh = await runNode([join(process.cwd(), 'dist', 'fleet-server.js'), 'migrate'], { FLEET_STORE: await pg.database() });
    expect(fresh.stdout).toMatch(/: schema 0 → \d+\n$/);
    const away = await runNode([join(process.cwd(), 'dist', 'fleet-server.js'), 'migrate', '--store', `postgres://fleet:secret@127.0.0.1:${pg.port + 1}/x`]);
    expect(away.code).toBe(1);
    expect(away.stderr).toMatch(/cannot use the PostgreSQL database at postgres:\/\/fleet:\*\*\*@/);
    const garbage = await runNode([join(process.cwd(), 'dist', 'fleet-server.js'), 'migrate', '--store', 'garbage']);
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toBe('fleet-server: --store (FLEET_STORE): the store must be a PostgreSQL URL, postgres://user@host:port/database\n');
  });

  it('prints the replicas\' one NATS block from the database, and sends backup to PostgreSQL\'s own tools', async () => {
    const server = join(process.cwd(), 'dist', 'fleet-server.js');
    const first = await runNode([server, 'nats-config'], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/operator: /);
    expect((await runNode([server, 'nats-config', '--data', mkdtempSync(join(tmpdir(), 'fleet-data-'))], env)).stdout).toBe(first.stdout);
    const backup = await runNode([server, 'backup', '--to', join(a.dir, 'b.tar.gz'), '--data', a.dataDir], env);
    expect(backup.code).toBe(1);
    expect(backup.stderr).toMatch(/in PostgreSQL: use pg_dump/);
  });

  it('refuses to start on PostgreSQL without the master key, and says so', async () => {
    const started = await runNode([join(process.cwd(), 'dist', 'fleet-server.js'), '--data', mkdtempSync(join(tmpdir(), 'fleet-data-')), '--listen', '127.0.0.1:0', '--https-listen', '127.0.0.1:0'], { FLEET_STORE: env.FLEET_STORE! });
    expect(started.code).not.toBe(0);
    expect(started.stderr).toMatch(/FLEET_MASTER_KEY_FILE/);
  });
});
