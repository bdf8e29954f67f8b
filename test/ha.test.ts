// High availability as an operator runs it: three fleet-server replicas on one PostgreSQL behind
// HAProxy, twenty agents and the CLI all going through HAProxy. The replica driving a job is killed
// (-9) while the job runs: the agents it held reconnect to the others, another replica takes the
// job over, and the job ends with every node's output exactly once. The fleet goes on on two.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestPostgres } from '../server/postgres/test-postgres';
import { HaProxy } from './haproxy';
import { Fleet, waitFor } from './harness';

const AGENTS = 20;

interface JobJson {
  id: string;
  done: boolean;
  runs: { node: string; state: string }[];
}

describe('three replicas behind HAProxy', () => {
  let postgres: TestPostgres;
  let db: pg.Client;
  let replicas: Fleet[] = [];
  let ha: HaProxy;
  /** The fleet as the operator and the agents see it: HAProxy's address. */
  let front: Fleet;
  const names = Array.from({ length: AGENTS }, (_, i) => `lb-${String(i + 1).padStart(2, '0')}`);

  beforeAll(async () => {
    postgres = await TestPostgres.start();
    const keyFile = join(mkdtempSync(join(tmpdir(), 'fleet-key-')), 'master.key');
    writeFileSync(keyFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    const url = await postgres.database();
    const serverEnv = { FLEET_STORE: url, FLEET_MASTER_KEY_FILE: keyFile };
    replicas = [new Fleet({ serverEnv }), new Fleet({ serverEnv }), new Fleet({ serverEnv })];
    await replicas[0]!.startServer();
    for (const r of replicas.slice(1)) {
      r.adminToken = replicas[0]!.adminToken;
      await r.startServer();
    }
    ha = await HaProxy.start(replicas);
    front = new Fleet();
    front.port = ha.grpcPort;
    front.httpsPort = ha.httpsPort;
    front.caHash = replicas[0]!.caHash;
    front.adminToken = replicas[0]!.adminToken;
    const login = await front.cli(['login', '--server', front.url, '--token', front.adminToken, '--ca-hash', `sha256:${front.caHash}`]);
    if (login.code !== 0) throw new Error(login.stderr);
    const token = await front.token(['--uses', String(AGENTS)]);
    for (const name of names) front.startAgent(name, token);
    await front.waitOnline(names, 90_000);
    db = new pg.Client({ connectionString: url });
    await db.connect();
  }, 180_000);

  afterAll(async () => {
    await db?.end();
    await front?.stop();
    await ha?.stop();
    await Promise.all(replicas.map((r) => r.stop()));
    postgres?.stop();
  });

  /** Lines of output per node, sorted. */
  const lines = (stdout: string) => stdout.trim().split('\n').sort();

  it('spreads the agents over the replicas', async () => {
    const { rows } = await db.query<{ replica: string; n: number }>('SELECT replica, count(*)::int AS n FROM agent_links GROUP BY replica');
    expect(rows.map((r) => r.n).reduce((x, y) => x + y, 0)).toBe(AGENTS);
    expect(rows.length).toBe(3);
  });

  it('ends a job whose driving replica is killed mid-run, each node\'s output once; the fleet goes on', async () => {
    const started = await front.cli(['exec', '--all', '--detach', '--timeout', '2m', '--', 'sh', '-c', 'echo begun; sleep 4; echo finished']);
    expect(started.code, started.stderr).toBe(0);
    const id = started.stdout.trim();
    await waitFor('every run started', async () => (await front.json<JobJson>(['jobs', 'show', id])).runs.every((r) => r.state === 'running'), 30_000, 200);
    // The lease names the driver: host:pid:…
    const { rows } = await db.query<{ holder: string }>('SELECT holder FROM driver_leases WHERE id = $1', [id]);
    const pid = Number(rows[0]!.holder.split(':')[1]);
    const driver = replicas.find((r) => r.server.child.pid === pid)!;
    expect(driver).toBeDefined();
    await driver.crashServer();

    const followed = await front.cli(['jobs', 'show', id]);
    expect(followed.code, followed.stderr).toBe(0);
    expect(lines(followed.stdout)).toEqual(names.flatMap((n) => [`${n}: begun`, `${n}: finished`]).sort());
    const job = await front.json<JobJson>(['jobs', 'show', id]);
    expect(job.done).toBe(true);
    expect(new Set(job.runs.map((r) => r.state))).toEqual(new Set(['succeeded']));

    // Every agent is back, on the two replicas left, and takes the next job.
    await front.waitOnline(names, 60_000);
    const next = await front.cli(['exec', '--all', '--', 'echo', 'again']);
    expect(next.code, next.stderr).toBe(0);
    expect(lines(next.stdout)).toEqual(names.map((n) => `${n}: again`));
  }, 180_000);
});
