// High availability as an operator runs it: three fleet-server replicas on one PostgreSQL behind
// HAProxy, twenty agents and the CLI all going through HAProxy. A spec applied through any replica
// converges every node. The replica driving a job is killed (-9) while the job runs: the agents it
// held reconnect to the others, another replica takes the job over, and the job ends with every
// node's output exactly once. Then the replica driving a rollout is killed mid-rollout: another
// takes it over and every node converges. `fleet-server doctor` then sees the one replica left and
// the two killed ones.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestPostgres } from '../server/postgres/test-postgres';
import { HaProxy } from './haproxy';
import { Fleet, runNode, waitFor } from './harness';

const AGENTS = 20;

interface JobJson {
  id: string;
  done: boolean;
  runs: { node: string; state: string }[];
}

describe('three replicas behind HAProxy', () => {
  let postgres: TestPostgres;
  let serverEnv: Record<string, string>;
  let db: pg.Client;
  let replicas: Fleet[] = [];
  let ha: HaProxy;
  /** The fleet as the operator and the agents see it: HAProxy's address. */
  let front: Fleet;
  const names = Array.from({ length: AGENTS }, (_, i) => `lb-${String(i + 1).padStart(2, '0')}`);
  /** Each agent converges desired state inside a root of its own. */
  const root = (name: string) => join(front.dir, 'roots', name);
  const readIn = (name: string, path: string) => {
    try {
      return readFileSync(join(root(name), path), 'utf8');
    } catch {
      return null;
    }
  };
  const writeSpec = (file: string, text: string) => {
    const path = join(front.dir, file);
    writeFileSync(path, text);
    return path;
  };
  /** The replica whose process holds the lease on `id` (a job or a rollout): "host:pid:…". */
  const driverOf = async (id: string) => {
    const { rows } = await db.query<{ holder: string }>('SELECT holder FROM driver_leases WHERE id = $1', [id]);
    const pid = Number(rows[0]?.holder.split(':')[1]);
    return replicas.find((r) => r.server.child.pid === pid);
  };

  beforeAll(async () => {
    postgres = await TestPostgres.start();
    const keyFile = join(mkdtempSync(join(tmpdir(), 'fleet-key-')), 'master.key');
    writeFileSync(keyFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    const url = await postgres.database();
    serverEnv = { FLEET_STORE: url, FLEET_MASTER_KEY_FILE: keyFile };
    replicas = [new Fleet({ serverEnv }), new Fleet({ serverEnv }), new Fleet({ serverEnv })];
    await replicas[0]!.startServer();
    for (const r of replicas.slice(1)) {
      r.adminToken = replicas[0]!.adminToken;
      await r.startServer();
      // Each replica can be reached directly too, past HAProxy.
      const direct = await r.cli(['login', '--server', r.url, '--token', r.adminToken, '--ca-hash', `sha256:${r.caHash}`]);
      if (direct.code !== 0) throw new Error(direct.stderr);
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
    for (const name of names) {
      mkdirSync(root(name), { recursive: true });
      front.startAgent(name, token, [], { FLEET_AGENT_ROOT: root(name) });
    }
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

  /** A replica's /metrics, read with the admin token. */
  const metricsOf = (r: Fleet) =>
    new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: r.httpsPort, path: '/metrics', rejectUnauthorized: false, headers: { authorization: `Bearer ${r.adminToken}` } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`/metrics: ${res.statusCode} ${body}`))));
      });
      req.on('error', reject);
      req.end();
    });

  /** `fleet shell NODE -- sh -c SCRIPT` through HAProxy, with `input` on its standard input. */
  const shell = (node: string, script: string, input: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [join(process.cwd(), 'dist', 'fleet.js'), 'shell', node, '--', 'sh', '-c', script], {
        env: { ...process.env, FLEET_CONFIG: front.configFile },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      p.stdin.end(input);
      p.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });

  /** Lines of output per node, sorted. */
  const lines = (stdout: string) => stdout.trim().split('\n').sort();

  it('spreads the agents over the replicas; each replica\'s metrics carry its id and its share of the links', async () => {
    // Each replica records its links and hears the others' a moment after the agents are online.
    await waitFor('every replica to see every agent, and the links recorded', async () => {
      const { rows } = await db.query<{ replica: string; n: number }>('SELECT replica, count(*)::int AS n FROM agent_links GROUP BY replica');
      const links = new Map<string, number>();
      for (const r of replicas) {
        const text = await metricsOf(r);
        const m = /^fleet_agent_links\{replica="([^"]+)"\} (\d+)$/m.exec(text);
        if (!m) throw new Error(`no fleet_agent_links in ${text.slice(0, 500)}`);
        links.set(m[1]!, Number(m[2]));
        // The fleet's own gauges read the same on every replica.
        if (!new RegExp(`^fleet_nodes\\{state="online",replica="${m[1]}"\\} ${AGENTS}$`, 'm').test(text)) return false;
      }
      const recorded = new Map(rows.map((r) => [r.replica, r.n]));
      return rows.length === 3 && [...links].every(([replica, n]) => recorded.get(replica) === n) && [...links.values()].reduce((x, y) => x + y, 0) === AGENTS;
    }, 15_000, 250);
  });

  it('applies a spec through any replica to the nodes of every replica', async () => {
    const spec = writeSpec('hello.yaml', 'name: hello\nselector: ""\nrollout:\n  batch: 50%\nresources:\n  - type: file\n    path: /etc/hello.conf\n    template: true\n    content: "hello {{ node.name }}"\n');
    const r = await front.cli(['apply', '-f', spec]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(names.filter((n) => readIn(n, 'etc/hello.conf') !== `hello ${n}`)).toEqual([]);
  }, 60_000);

  it('follows a job from a replica that does not drive it, to its end, with each node\'s output once', async () => {
    const started = await replicas[0]!.cli(['exec', '--all', '--detach', '--', 'sh', '-c', 'echo start; sleep 2; echo end']);
    expect(started.code, started.stderr).toBe(0);
    const followed = await replicas[1]!.cli(['jobs', 'show', started.stdout.trim()]);
    expect(followed.code, followed.stderr).toBe(0);
    expect(lines(followed.stdout)).toEqual(names.flatMap((n) => [`${n}: end`, `${n}: start`]).sort());
  });

  it('opens shells through HAProxy whose agent channel lands on another replica, relayed both ways', async () => {
    // HAProxy sends the CLI's connection and then the agent's channel to the next replica each:
    // most of these shells are held on one replica while their channel reaches another.
    for (const name of names.slice(0, 6)) {
      // The agent's root directory is named after its node.
      const r = await shell(name, 'read line; echo "$line from ${FLEET_AGENT_ROOT##*/}"; exit 3', 'hi\n');
      expect(r.code, r.stderr).toBe(3);
      expect(r.stdout).toBe(`hi from ${name}\n`);
    }
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM sessions WHERE exit_code = 3');
    expect(rows[0]!.n).toBe(6);
  });

  it('ends a job whose driving replica is killed mid-run, each node\'s output once; the fleet goes on', async () => {
    const started = await front.cli(['exec', '--all', '--detach', '--timeout', '2m', '--', 'sh', '-c', 'echo begun; sleep 4; echo finished']);
    expect(started.code, started.stderr).toBe(0);
    const id = started.stdout.trim();
    await waitFor('every run started', async () => (await front.json<JobJson>(['jobs', 'show', id])).runs.every((r) => r.state === 'running'), 30_000, 200);
    // The lease names the driver: host:pid:…
    const driver = await driverOf(id);
    expect(driver).toBeDefined();
    await driver!.crashServer();

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

  it('finishes a rollout whose driving replica is killed between batches: another takes it over', async () => {
    // Four batches of five; each node takes a second to converge.
    const spec = writeSpec(
      'slow.yaml',
      'name: slow\nselector: ""\nrollout:\n  batch: 5\nresources:\n  - type: exec\n    name: mark\n    command: sleep 1 && mkdir -p etc && echo marked > etc/slow.mark\n    creates: /etc/slow.mark\n',
    );
    const started = await front.cli(['apply', '-f', spec, '--detach']);
    expect(started.code, started.stderr).toBe(0);
    const id = started.stdout.trim();
    await waitFor('the first batch done', async () => (await front.json<{ currentBatch: number }>(['rollouts', 'show', id])).currentBatch >= 1, 60_000, 200);
    const driver = await driverOf(id);
    expect(driver).toBeDefined();
    await driver!.crashServer();
    const state = await waitFor('the rollout ended', async () => {
      const r = await front.json<{ state: string }>(['rollouts', 'show', id]);
      return r.state !== 'running' && r.state;
    }, 90_000, 500);
    expect(state).toBe('succeeded');
    expect(names.filter((n) => readIn(n, 'etc/slow.mark') !== 'marked\n')).toEqual([]);
  }, 180_000);

  it('has doctor report the replica left with every agent, the two killed as silent, and a wrong master key as a failure', async () => {
    const server = join(process.cwd(), 'dist', 'fleet-server.js');
    type Check = { name: string; status: string; detail: string };
    // A replica silent for 10 s counts as dead; the second one was killed moments ago.
    const checks = await waitFor('doctor to see both killed replicas as silent', async () => {
      const r = await runNode([server, 'doctor', '-o', 'json'], serverEnv);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const all = new Map((JSON.parse(r.stdout) as { checks: Check[] }).checks.map((c) => [c.name, c]));
      return /^1 alive/.test(all.get('replicas')?.detail ?? '') && all;
    }, 20_000, 1000);
    expect([...checks.keys()]).toEqual(['database', 'clock', 'schema', 'master key', 'replicas', 'silent replicas', 'drivers']);
    expect(checks.get('replicas')).toMatchObject({ status: 'ok', detail: expect.stringMatching(new RegExp(`^1 alive: \\S+ \\(${AGENTS} agents\\)$`)) });
    expect(checks.get('silent replicas')).toMatchObject({ status: 'warn', detail: expect.stringMatching(/^\S+ \(silent \d+ s\), \S+ \(silent \d+ s\): stopped or cut off/) });
    expect(checks.get('master key')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/opens the key material; the CA is valid for \d+ more days/) });
    expect(checks.get('drivers')!.status).toBe('ok');
    const otherKey = join(mkdtempSync(join(tmpdir(), 'fleet-key-')), 'other.key');
    writeFileSync(otherKey, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    const wrong = await runNode([server, 'doctor'], { ...serverEnv, FLEET_MASTER_KEY_FILE: otherKey });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/^fail  master key +cannot open the key material with /m);
  }, 60_000);
});
