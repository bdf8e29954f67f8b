// Jobs across replicas sharing one PostgreSQL: agents connected to some replicas, the operator to
// another. The replica a job is started on drives it, sending commands through the replicas that
// hold the agents' links; those store what the agents send back; followers on any replica see the
// whole output once. When the driving replica is killed (-9), another takes the job over and ends it.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestPostgres } from '../server/postgres/test-postgres';
import { Fleet, runNode, waitFor } from './harness';

interface JobJson {
  id: string;
  done: boolean;
  runs: { node: string; state: string }[];
}

describe('jobs across replicas', () => {
  let pg: TestPostgres;
  // a and c hold the agents' links; b is where the operator's commands go.
  let a: Fleet;
  let b: Fleet;
  let c: Fleet;
  const names = ['ha-a1', 'ha-a2', 'ha-c1', 'ha-c2'];
  let serverEnv: Record<string, string>;

  beforeAll(async () => {
    pg = await TestPostgres.start();
    const keyFile = join(mkdtempSync(join(tmpdir(), 'fleet-key-')), 'master.key');
    writeFileSync(keyFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    serverEnv = { FLEET_STORE: await pg.database(), FLEET_MASTER_KEY_FILE: keyFile };
    a = new Fleet({ serverEnv });
    b = new Fleet({ serverEnv });
    c = new Fleet({ serverEnv });
    await a.startServer();
    for (const other of [b, c]) {
      other.adminToken = a.adminToken;
      await other.startServer();
      const login = await other.cli(['login', '--server', other.url, '--token', a.adminToken, '--ca-hash', `sha256:${other.caHash}`]);
      if (login.code !== 0) throw new Error(login.stderr);
    }
    const token = await a.token(['--uses', '10']);
    a.startAgent('ha-a1', token, ['--label', 'tier=ha']);
    a.startAgent('ha-a2', token, ['--label', 'tier=ha']);
    c.startAgent('ha-c1', token, ['--label', 'tier=ha']);
    c.startAgent('ha-c2', token, ['--label', 'tier=ha']);
    // Online as seen from the replica that holds none of the links.
    await b.waitOnline(names);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([a, b, c].map((f) => f?.stop()));
    pg?.stop();
  });

  it('runs a job started on a replica holding no agent, with every node\'s output once, followed from any replica', async () => {
    const r = await b.cli(['exec', '-l', 'tier=ha', '--', 'sh', '-c', 'echo one; sleep 0.5; echo two']);
    expect(r.code, r.stderr).toBe(0);
    const expected = names.flatMap((n) => [`${n}: one`, `${n}: two`]).sort();
    expect(r.stdout.trim().split('\n').sort()).toEqual(expected);
    // Replayed from the store on a replica that neither drove the job nor holds all its agents.
    const id = /job (\S+) on 4 nodes/.exec(r.stderr)![1]!;
    const again = await c.cli(['jobs', 'show', id]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim().split('\n').sort()).toEqual(expected);
  });

  it('follows a running job from a replica that does not drive it, to its end', async () => {
    const started = await b.cli(['exec', '-l', 'tier=ha', '--detach', '--', 'sh', '-c', 'echo start; sleep 2; echo end']);
    expect(started.code, started.stderr).toBe(0);
    const id = started.stdout.trim();
    const followed = await a.cli(['jobs', 'show', id]);
    expect(followed.code, followed.stderr).toBe(0);
    expect(followed.stdout.trim().split('\n').sort()).toEqual(names.flatMap((n) => [`${n}: end`, `${n}: start`]).sort());
  });

  it('ends a job whose driving replica was killed: another replica takes it over', async () => {
    const started = await b.cli(['exec', '-l', 'tier=ha', '--detach', '--timeout', '2m', '--', 'sh', '-c', 'sleep 3; echo survived']);
    expect(started.code, started.stderr).toBe(0);
    const id = started.stdout.trim();
    await waitFor('the job running everywhere', async () => (await a.json<JobJson>(['jobs', 'show', id])).runs.every((r) => r.state === 'running'), 20_000, 200);
    await b.crashServer();
    const followed = await a.cli(['jobs', 'show', id]);
    expect(followed.code, followed.stderr).toBe(0);
    expect(followed.stdout.trim().split('\n').sort()).toEqual(names.map((n) => `${n}: survived`).sort());
    const job = await c.json<JobJson>(['jobs', 'show', id]);
    expect(job.done).toBe(true);
    expect(job.runs.map((r) => r.state)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
  }, 60_000);

  it('has doctor report the replicas alive with their agents, the one killed as silent, and a wrong master key as a failure', async () => {
    const server = join(process.cwd(), 'dist', 'fleet-server.js');
    // b was killed above; the others beat every 2 s and count it dead after 10 s.
    await new Promise((r) => setTimeout(r, 11_000));
    const r = await runNode([server, 'doctor', '-o', 'json'], serverEnv);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const checks = new Map((JSON.parse(r.stdout) as { checks: { name: string; status: string; detail: string }[] }).checks.map((c) => [c.name, c]));
    expect([...checks.keys()]).toEqual(['database', 'clock', 'schema', 'master key', 'replicas', 'silent replicas', 'drivers']);
    expect(checks.get('replicas')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^2 alive: .*\(2 agents\), .*\(2 agents\)$/) });
    expect(checks.get('silent replicas')!.status).toBe('warn');
    expect(checks.get('master key')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/opens the key material; the CA is valid for \d+ more days/) });
    const otherKey = join(mkdtempSync(join(tmpdir(), 'fleet-key-')), 'other.key');
    writeFileSync(otherKey, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    const wrong = await runNode([server, 'doctor'], { ...serverEnv, FLEET_MASTER_KEY_FILE: otherKey });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/^fail  master key +cannot open the key material with /m);
  }, 60_000);
});
