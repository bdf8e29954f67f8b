// The shared database crashing under a running job: two replicas on PostgreSQL, 200 agents (50 in
// `npm test`; two emulators running real agent cores and real commands, one per replica), a job on all of them,
// and PostgreSQL killed (`pg_ctl stop -m immediate`) and started again while it runs. Nothing is
// lost or doubled: the replicas hold what the database refused and store it once it is back, and
// the job ends with every node's output exactly once.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestPostgres } from '../server/postgres/test-postgres';
import { readEnv } from '../common/env';
import { Fleet, Proc, waitFor } from './harness';

// 200 agents with `npm run test:ha` (FLEET_TEST_HA_FULL=1); 50 in `npm test`, to keep CI short.
const PER_REPLICA = readEnv('FLEET_TEST_HA_FULL') ? 100 : 25;
const AGENT = join(process.cwd(), 'dist', 'fleet-agent.js');

interface JobJson {
  done: boolean;
  runs: { node: string; state: string }[];
}

describe(`PostgreSQL crashing under a ${2 * PER_REPLICA}-node job`, () => {
  let postgres: TestPostgres;
  let a: Fleet;
  let b: Fleet;
  const emulators: Proc[] = [];

  beforeAll(async () => {
    postgres = await TestPostgres.start();
    const keyFile = join(mkdtempSync(join(tmpdir(), 'fleet-key-')), 'master.key');
    writeFileSync(keyFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    const serverEnv = { FLEET_STORE: await postgres.database(), FLEET_MASTER_KEY_FILE: keyFile };
    a = new Fleet({ serverEnv });
    b = new Fleet({ serverEnv });
    await a.startServer();
    b.adminToken = a.adminToken;
    await b.startServer();
    const login = await b.cli(['login', '--server', b.url, '--token', a.adminToken, '--ca-hash', `sha256:${b.caHash}`]);
    if (login.code !== 0) throw new Error(login.stderr);
    const token = await a.token(['--uses', String(2 * PER_REPLICA)]);
    for (const [fleet, prefix] of [[a, 'dba'], [b, 'dbb']] as const) {
      const emulator = new Proc(
        spawn(process.execPath, [AGENT, 'emulate', '--count', String(PER_REPLICA), '--prefix', prefix, '--server', fleet.url, '--token', token, '--state-dir', join(fleet.dir, 'emulator')], {
          env: { ...process.env, FLEET_LOG: 'warn' },
          stdio: ['ignore', 'pipe', 'pipe'],
        }),
      );
      emulators.push(emulator);
      await emulator.waitForOutput(/emulator: \d+ agents running/, 90_000);
    }
    await waitFor(`${2 * PER_REPLICA} nodes online`, async () => (await a.nodes()).filter((n) => n.online).length === 2 * PER_REPLICA, 60_000, 500);
  }, 240_000);

  afterAll(async () => {
    await Promise.all(emulators.map((e) => e.kill('SIGKILL')));
    await Promise.all([a, b].map((f) => f?.stop()));
    postgres?.stop();
  });

  it('ends the job with each node\'s output once after the database crashed and came back mid-run', async () => {
    const started = await b.cli(['exec', '--all', '--detach', '--timeout', '3m', '--', 'sh', '-c', 'echo before; sleep 5; echo after']);
    expect(started.code, started.stderr).toBe(0);
    const id = started.stdout.trim();
    await waitFor('most runs started', async () => (await a.json<JobJson>(['jobs', 'show', id])).runs.filter((r) => r.state === 'running').length >= PER_REPLICA, 60_000, 200);
    postgres.crash();
    await new Promise((r) => setTimeout(r, 2000));
    postgres.start();

    const followed = await a.cli(['jobs', 'show', id]);
    expect(followed.code, followed.stderr).toBe(0);
    const names = (await a.nodes()).map((n) => n.name);
    expect(names).toHaveLength(2 * PER_REPLICA);
    expect(followed.stdout.trim().split('\n').sort()).toEqual(names.flatMap((n) => [`${n}: after`, `${n}: before`]).sort());
    const job = await b.json<JobJson>(['jobs', 'show', id]);
    expect(job.done).toBe(true);
    expect(job.runs.filter((r) => r.state !== 'succeeded')).toEqual([]);
    // Both replicas are still up and take the next job.
    const next = await a.cli(['exec', '--all', '--', 'echo', 'again']);
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout.trim().split('\n')).toHaveLength(2 * PER_REPLICA);
  }, 240_000);
});
