// Operations: Prometheus /metrics, request ids in errors and logs, `fleet-server doctor`, and an
// online backup taken under load that restores into a working server the same agents reconnect to.
import { existsSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, runNode, waitFor, type CliResult } from './harness';

const SERVER_BIN = fileURLToPath(new URL('../dist/fleet-server.js', import.meta.url));
const NAMES = ['ops-1', 'ops-2', 'ops-3'];

/** Runs a `fleet-server` subcommand (backup, restore, doctor) to completion. */
function fleetServer(args: string[]): Promise<CliResult> {
  return runNode([SERVER_BIN, ...args]);
}

/** GET over HTTPS, trusting only the fleet's own CA. */
function httpsGet(fleet: Fleet, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const ca = readFileSync(join(fleet.dataDir, 'pki', 'ca.crt'));
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: fleet.httpsPort, path, ca, headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict parser for the Prometheus text format (0.0.4): every line must be empty, a HELP or
 * TYPE comment, or a sample `name{label="value",…} number [timestamp]`. Throws on the first bad line.
 */
function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*';
  // Values as Go's strconv.ParseFloat (Prometheus's own parser) reads them: Inf and NaN in any case.
  const VALUE = '(?:[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|[+-]?(?:[Ii][Nn][Ff](?:[Ii][Nn][Ii][Tt][Yy])?)|[Nn][Aa][Nn])';
  const sampleRe = new RegExp(`^(${NAME})(?:\\{((?:${LABEL}="(?:[^"\\\\\\n]|\\\\[\\\\"n])*")(?:,${LABEL}="(?:[^"\\\\\\n]|\\\\[\\\\"n])*")*,?)?\\})? (${VALUE})(?: -?\\d+)?$`);
  const helpRe = new RegExp(`^# HELP ${NAME} .*$`);
  const typeRe = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
  const lines = text.split('\n');
  expect(lines.at(-1), 'the text ends with a newline').toBe('');
  for (const line of lines.slice(0, -1)) {
    // The format allows empty lines (prom-client puts one between metric families).
    if (line === '') continue;
    if (line.startsWith('#')) {
      const type = typeRe.exec(line);
      if (type) {
        if (types.has(type[1]!)) throw new Error(`TYPE given twice for ${type[1]}`);
        types.set(type[1]!, type[2]!);
      } else if (!helpRe.test(line)) throw new Error(`not a valid comment line: ${JSON.stringify(line)}`);
      continue;
    }
    const m = sampleRe.exec(line);
    if (!m) throw new Error(`not a valid sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(new RegExp(`(${LABEL})="((?:[^"\\\\]|\\\\.)*)"`, 'g'))) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: toNumber(m[3]!) });
  }
  return { samples, types };
}

function toNumber(text: string): number {
  if (/^nan$/i.test(text)) return NaN;
  const inf = /^([+-]?)inf(inity)?$/i.exec(text);
  return inf ? (inf[1] === '-' ? -Infinity : Infinity) : Number(text);
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

interface JobView {
  id: string;
  done: boolean;
  runs: { node: string; state: string; exitCode: number; stdout?: string }[];
}

describe('operations', () => {
  const fleet = new Fleet({ serverEnv: { FLEET_LOG: 'info', FLEET_METRICS_LISTEN: '127.0.0.1:0' } });
  const restored = new Fleet({ serverEnv: { FLEET_LOG: 'info' } });
  const backupFile = join(fleet.dir, 'backup', 'fleet-backup.tar.gz');

  beforeAll(async () => {
    await fleet.startServer();
    const token = await fleet.token(['--uses', '3']);
    for (const name of NAMES) fleet.startAgent(name, token, ['--label', 'tier=ops']);
    await fleet.waitOnline(NAMES);
  });
  afterAll(async () => {
    await restored.stop();
    await fleet.stop();
  });

  const scrape = async () => {
    const r = await httpsGet(fleet, '/metrics', { authorization: `Bearer ${fleet.adminToken}` });
    expect(r.status, r.body).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    return parsePrometheus(r.body);
  };

  it('serves Prometheus metrics behind an API token: node states, jobs, runs, a dispatch latency histogram', async () => {
    const before = await scrape();
    expect(value(before.samples, 'fleet_nodes', { state: 'online' })).toBe(3);
    expect(value(before.samples, 'fleet_nodes', { state: 'offline' })).toBe(0);
    expect(value(before.samples, 'fleet_nodes_enrolled')).toBe(3);
    expect(value(before.samples, 'fleet_enrollments_total', { result: 'ok' })).toBe(3);
    expect(value(before.samples, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    const jobsBefore = value(before.samples, 'fleet_jobs_started_total')!;

    const exec = await fleet.cli(['exec', '--all', '--', 'true']);
    expect(exec.code, exec.stderr).toBe(0);
    const after = await scrape();
    expect(value(after.samples, 'fleet_jobs_started_total')).toBe(jobsBefore + 1);
    expect(value(after.samples, 'fleet_node_runs_finished_total', { state: 'succeeded' })).toBe(3);
    expect(after.types.get('fleet_job_dispatch_latency_seconds')).toBe('histogram');
    const buckets = after.samples.filter((s) => s.name === 'fleet_job_dispatch_latency_seconds_bucket');
    expect(buckets.length).toBeGreaterThan(3);
    const counts = buckets.map((b) => b.value);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    const count = value(after.samples, 'fleet_job_dispatch_latency_seconds_count')!;
    expect(count).toBe(3);
    expect(value(after.samples, 'fleet_job_dispatch_latency_seconds_bucket', { le: '+Inf' })).toBe(count);
    expect(value(after.samples, 'fleet_job_dispatch_latency_seconds_sum')).toBeGreaterThanOrEqual(0);
    for (const name of ['fleet_shell_sessions_active', 'fleet_api_auth_failures_total', 'fleet_internal_errors_total']) expect(after.types.has(name), name).toBe(true);

    const anonymous = await httpsGet(fleet, '/metrics');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).not.toContain('fleet_');
    const forged = await httpsGet(fleet, '/metrics', { authorization: 'Bearer fa1_000000000000_0000000000000000000000000000000000000000' });
    expect(forged.status).toBe(401);
    const counted = await scrape();
    expect(value(counted.samples, 'fleet_api_auth_failures_total', { via: 'http' })).toBe(2);

    // --metrics-listen (FLEET_METRICS_LISTEN): the same metrics on plain HTTP, for a local scraper.
    const port = (await fleet.server.waitForOutput(/metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/))[1];
    const plain = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(plain.status).toBe(200);
    expect(value(parsePrometheus(await plain.text()).samples, 'fleet_nodes', { state: 'online' })).toBe(3);
  });

  it('a failing CLI call prints a request id that the server logged as JSON with method, token and status', async () => {
    const r = await fleet.cli(['jobs', 'show', 'j-doesnotexist']);
    expect(r.code).toBe(1);
    const id = /no job "j-doesnotexist" \(request id: ([\w.:-]+)\)/.exec(r.stderr)?.[1];
    expect(id, r.stderr).toBeTruthy();
    const line = await waitFor('the request id in the server log', () => fleet.server.output.split('\n').find((l) => l.includes(`"requestId":"${id}"`)));
    const entry = JSON.parse(line) as Record<string, unknown>;
    expect(entry).toMatchObject({ method: 'GetJob', status: 'NOT_FOUND', token: fleet.adminToken.split('_')[1] });
    expect(typeof entry.ms).toBe('number');

    // HTTPS requests: a sane incoming id is kept and returned; anything else is replaced.
    const kept = await httpsGet(fleet, '/ca.crt', { 'x-request-id': 'lb-1234.abc' });
    expect(kept.headers['x-request-id']).toBe('lb-1234.abc');
    const replaced = await httpsGet(fleet, '/ca.crt', { 'x-request-id': 'bad id with spaces {}' });
    expect(replaced.headers['x-request-id']).toMatch(/^r-[0-9a-f]{16}$/);
    await waitFor('the HTTPS request in the server log', () => fleet.server.output.includes('"requestId":"lb-1234.abc","method":"GET","path":"/ca.crt"'));
  });

  it('doctor passes on a live data directory while the server runs', async () => {
    const r = await fleetServer(['doctor', '--data', fleet.dataDir, '-o', 'json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; checks: { name: string; status: string }[] };
    expect(report.ok).toBe(true);
    const status = Object.fromEntries(report.checks.map((c) => [c.name, c.status]));
    expect(status).toMatchObject({ database: 'ok', schema: 'ok', ca: 'ok', 'server certificate': 'ok', 'data directory': 'ok' });
  });

  const jobsBeforeBackup: JobView[] = [];

  it('backs up online while jobs run, to one 0600 file that is verified', async () => {
    let stop = false;
    let runs = 0;
    const load = (async () => {
      while (!stop) {
        const r = await fleet.cli(['exec', '--all', '--', 'sh', '-c', 'echo load-$(hostname)-$$']);
        expect(r.code, r.stderr).toBe(0);
        runs++;
      }
    })();
    await waitFor('two jobs done under load', () => runs >= 2);
    for (const job of await fleet.json<JobView[]>(['jobs', 'list', '--limit', '500'])) {
      if (job.done) jobsBeforeBackup.push(await fleet.json<JobView>(['jobs', 'show', job.id]));
    }
    mkdirSync(join(fleet.dir, 'backup'));
    const r = await fleetServer(['backup', '--to', backupFile, '--data', fleet.dataDir]);
    const runsDuringBackup = runs;
    stop = true;
    await load;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/backup written: .*: 3 nodes, \d+ jobs, .*CA sha256:([0-9a-f]{64}); integrity ok/);
    expect(r.stdout).toContain(`CA sha256:${fleet.caHash}`);
    expect(statSync(backupFile).mode & 0o777).toBe(0o600);
    expect(runsDuringBackup).toBeGreaterThanOrEqual(2);
    expect(jobsBeforeBackup.length).toBeGreaterThanOrEqual(3);
  });

  it('restore refuses a truncated file, garbage, a non-empty directory and one in use, changing nothing', async () => {
    const whole = readFileSync(backupFile);
    const truncated = join(fleet.dir, 'backup', 'truncated.tar.gz');
    writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length / 2)));
    const target = join(fleet.dir, 'restore-refused');
    const cut = await fleetServer(['restore', '--from', truncated, '--data', target]);
    expect(cut.code).toBe(1);
    expect(cut.stderr).toMatch(/is not a fleet backup or is damaged/);
    expect(existsSync(target)).toBe(false);

    const garbage = join(fleet.dir, 'backup', 'garbage.tar.gz');
    writeFileSync(garbage, 'this is not a backup\n'.repeat(100));
    const bad = await fleetServer(['restore', '--from', garbage, '--data', target]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/not a fleet backup/);
    expect(existsSync(target)).toBe(false);

    mkdirSync(target);
    writeFileSync(join(target, 'keep.txt'), 'mine\n');
    const full = await fleetServer(['restore', '--from', backupFile, '--data', target]);
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(/is not empty; .*--force/);
    expect(readFileSync(join(target, 'keep.txt'), 'utf8')).toBe('mine\n');

    const live = await fleetServer(['restore', '--from', backupFile, '--data', fleet.dataDir, '--force']);
    expect(live.code).toBe(1);
    expect(live.stderr).toMatch(/is in use by process \d+/);
  });

  it('doctor fails on a corrupted database and on a missing server key, naming the problem', async () => {
    const corrupt = join(fleet.dir, 'doctor-corrupt');
    expect((await fleetServer(['restore', '--from', backupFile, '--data', corrupt])).code).toBe(0);
    const dbFile = join(corrupt, 'fleet.db');
    const fd = openSync(dbFile, 'r+');
    // Pages 2 to 5 (4 KiB pages) overwritten with a pattern: table b-trees no longer parse.
    writeSync(fd, Buffer.alloc(4 * 4096, 0xa5), 0, 4 * 4096, 4096);
    closeSync(fd);
    const broken = await fleetServer(['doctor', '--data', corrupt]);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toMatch(/^fail\s+database\s+.*fleet\.db fails its integrity check/m);

    const keyless = join(fleet.dir, 'doctor-keyless');
    expect((await fleetServer(['restore', '--from', backupFile, '--data', keyless])).code).toBe(0);
    unlinkSync(join(keyless, 'pki', 'server.key'));
    const missing = await fleetServer(['doctor', '--data', keyless]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/^fail\s+server certificate\s+.*server\.key is missing/m);
    expect(missing.stdout).toMatch(/^ok\s+database\s/m);
  });

  it('the restored server has the same CA, nodes, jobs and results, and the old agents reconnect and run a new exec', async () => {
    const oldNodes = await fleet.nodes();
    const r = await fleetServer(['restore', '--from', backupFile, '--data', restored.dataDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/restored .* 3 nodes/);

    await fleet.server.kill('SIGTERM');
    // Same addresses as the old server, so the agents (which know only those) find it.
    restored.port = fleet.port;
    restored.httpsPort = fleet.httpsPort;
    restored.adminToken = fleet.adminToken;
    await restored.startServer();
    expect(restored.caHash).toBe(fleet.caHash);
    const login = await restored.cli(['login', '--server', restored.url, '--token', fleet.adminToken, '--ca-hash', `sha256:${restored.caHash}`]);
    expect(login.code, login.stderr).toBe(0);

    const nodes = await restored.nodes();
    expect(nodes.map((n) => [n.name, n.labels]).sort()).toEqual(oldNodes.map((n) => [n.name, n.labels]).sort());
    for (const job of jobsBeforeBackup) {
      const again = await restored.json<JobView>(['jobs', 'show', job.id]);
      expect(again.runs.map((x) => [x.node, x.state, x.exitCode, x.stdout])).toEqual(job.runs.map((x) => [x.node, x.state, x.exitCode, x.stdout]));
    }
    const listed = await restored.json<JobView[]>(['jobs', 'list', '--limit', '500']);
    for (const job of jobsBeforeBackup) expect(listed.map((j) => j.id)).toContain(job.id);

    await restored.waitOnline(NAMES, 45_000);
    const exec = await restored.cli(['exec', '-l', 'tier=ops', '--', 'echo', 'after-restore']);
    expect(exec.code, exec.stderr).toBe(0);
    expect(exec.stdout.split('\n').filter(Boolean).sort()).toEqual(NAMES.map((n) => `${n}: after-restore`));
    // Reconnected with their old certificates: still three nodes, none enrolled again.
    expect((await restored.nodes()).length).toBe(3);
  });
});
