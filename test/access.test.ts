// Access control: roles (viewer < operator < admin), tokens limited to a label selector, every
// refusal in the audit log, node removal refusing the node's certificate, and token guessing held
// back per address (never a valid token from it). Real server, real agents, the real CLI (and the web API over HTTPS).
import Database from 'better-sqlite3';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, waitFor, type Proc } from './harness';

interface AuditRow {
  actor: string;
  action: string;
  target: string;
  ok: boolean;
  detail: string;
  at: string;
}

describe('access control', () => {
  const fleet = new Fleet();
  const agents = new Map<string, Proc>();
  /** CLI config files of the other users, by role. */
  const users = new Map<string, { config: string; id: string; token: string }>();

  /** Creates an API token and a CLI config file logged in with it. */
  async function user(key: string, args: string[]): Promise<void> {
    const r = await fleet.cli(['users', 'create', ...args, '-d', key]);
    expect(r.code, r.stderr).toBe(0);
    const token = r.stdout.trim();
    const config = join(fleet.dir, `${key}.json`);
    const login = await fleet.cli(['login', '--server', fleet.url, '--token', token, '--ca-hash', `sha256:${fleet.caHash}`], { FLEET_CONFIG: config });
    expect(login.code, login.stderr).toBe(0);
    const scope = args.includes('--scope') ? args[args.indexOf('--scope') + 1] : undefined;
    if (scope) expect(login.stdout).toContain(`as operator limited to nodes matching "${scope}"`);
    users.set(key, { config, id: /^fa1_([0-9a-f]+)_/.exec(token)![1]!, token });
  }
  const as = (key: string, args: string[]) => fleet.cli(args, { FLEET_CONFIG: users.get(key)!.config });
  const denials = async (key: string) => (await fleet.json<AuditRow[]>(['audit', '--action', 'access.denied', '--limit', '1000'])).filter((e) => e.actor === `api:${users.get(key)!.id}`);

  beforeAll(async () => {
    await fleet.startServer();
    const token = await fleet.token(['--uses', '3']);
    for (const [name, env] of [['dev-1', 'dev'], ['dev-2', 'dev'], ['prod-1', 'prod']] as const) {
      mkdirSync(join(fleet.dir, `root-${name}`));
      agents.set(name, fleet.startAgent(name, token, ['--label', `env=${env}`, '--root', join(fleet.dir, `root-${name}`)]));
    }
    await fleet.waitOnline(['dev-1', 'dev-2', 'prod-1']);
    await user('viewer', ['--role', 'viewer']);
    await user('dev-operator', ['--role', 'operator', '--scope', 'env=dev']);
    writeFileSync(join(fleet.dir, 'prod.yaml'), 'name: motd-prod\nselector: env=prod\nresources:\n  - type: file\n    path: /etc/motd\n    content: hello\n');
    writeFileSync(join(fleet.dir, 'wide.yaml'), 'name: motd-wide\nselector: env\nresources:\n  - type: file\n    path: /etc/motd\n    content: hello\n');
    writeFileSync(join(fleet.dir, 'dev.yaml'), 'name: motd-dev\nselector: env=dev\nresources:\n  - type: file\n    path: /etc/motd\n    content: hello\n');
  });
  afterAll(() => fleet.stop());

  it('lets a viewer list but not exec, shell or apply, and audits each refusal', async () => {
    const nodes = await as('viewer', ['nodes', '-o', 'json']);
    expect(nodes.code).toBe(0);
    expect((JSON.parse(nodes.stdout) as { name: string }[]).map((n) => n.name)).toEqual(['dev-1', 'dev-2', 'prod-1']);
    expect((await as('viewer', ['jobs', 'list'])).code).toBe(0);

    const exec = await as('viewer', ['exec', 'dev-1', '--', 'touch', '/tmp/should-not-exist']);
    expect(exec.code).not.toBe(0);
    expect(exec.stderr).toMatch(/needs the operator role; your token has viewer/);
    const shell = await as('viewer', ['shell', 'dev-1', '--', 'true']);
    expect(shell.code).not.toBe(0);
    expect(shell.stderr).toMatch(/operator role/);
    const apply = await as('viewer', ['apply', '-f', join(fleet.dir, 'dev.yaml')]);
    expect(apply.code).not.toBe(0);
    expect(apply.stderr).toMatch(/operator role/);
    const audit = await as('viewer', ['audit']);
    expect(audit.stderr).toMatch(/admin role/);

    const refused = await denials('viewer');
    expect(refused.map((e) => e.target).sort()).toEqual(['ApplySpec', 'ListAudit', 'Shell', 'StartJob']);
    expect(refused.every((e) => !e.ok && /from 127\.0\.0\.1: this needs the (operator|admin) role/.test(e.detail))).toBe(true);
    // Nothing ran.
    expect((await fleet.json<{ id: string }[]>(['jobs', 'list'])).length).toBe(0);
  });

  it('keeps an operator limited to env=dev away from env=prod, on every path, and audits each refusal', async () => {
    const listed = JSON.parse((await as('dev-operator', ['nodes', '-o', 'json'])).stdout) as { name: string }[];
    expect(listed.map((n) => n.name)).toEqual(['dev-1', 'dev-2']);
    expect((await as('dev-operator', ['nodes', 'show', 'prod-1'])).stderr).toMatch(/prod-1/);

    const ok = await as('dev-operator', ['exec', '-l', 'env=dev', '--', 'hostname']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.split('\n').filter(Boolean).map((l) => l.split(':')[0]).sort()).toEqual(['dev-1', 'dev-2']);

    const all = await as('dev-operator', ['exec', '--all', '--', 'true']);
    expect(all.code).not.toBe(0);
    expect(all.stderr).toMatch(/limited to nodes matching "env=dev": this job would reach 1 node outside it/);
    const named = await as('dev-operator', ['exec', 'prod-1', '--', 'true']);
    expect(named.code).not.toBe(0);
    expect(named.stderr).toMatch(/outside it/);
    const shell = await as('dev-operator', ['shell', 'prod-1', '--', 'true']);
    expect(shell.code).not.toBe(0);
    expect(shell.stderr).toMatch(/prod-1/);
    const relabelOut = await as('dev-operator', ['label', 'dev-1', 'env=prod']);
    expect(relabelOut.code).not.toBe(0);
    expect(relabelOut.stderr).toMatch(/relabelling dev-1 would reach 1 node outside it/);
    const relabelProd = await as('dev-operator', ['label', 'prod-1', 'env=dev']);
    expect(relabelProd.code).not.toBe(0);
    expect((await as('dev-operator', ['plan', '-f', join(fleet.dir, 'prod.yaml')])).stderr).toMatch(/selector "env=prod", which is not limited to it/);
    expect((await as('dev-operator', ['apply', '-f', join(fleet.dir, 'wide.yaml')])).stderr).toMatch(/selector "env", which is not limited to it/);
    const plan = await as('dev-operator', ['plan', '-f', join(fleet.dir, 'dev.yaml')]);
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);

    // The admin's fleet-wide job is invisible to the limited token.
    const adminJob = await fleet.cli(['exec', '--all', '--', 'true']);
    const adminJobId = /job (j-\w+):/.exec(adminJob.stderr)![1]!;
    const jobs = JSON.parse((await as('dev-operator', ['jobs', 'list', '-o', 'json'])).stdout) as { id: string }[];
    expect(jobs.map((j) => j.id)).not.toContain(adminJobId);
    expect(jobs.length).toBe(1);
    expect((await as('dev-operator', ['jobs', 'show', adminJobId])).stderr).toMatch(/not found|no job/i);
    // A limited token cannot mint an admin or see the fleet-wide lists.
    expect((await as('dev-operator', ['machines', 'list'])).stderr).toMatch(/is for tokens without a scope/);
    expect((await fleet.cli(['users', 'create', '--role', 'admin', '--scope', 'env=dev'])).stderr).toMatch(/cannot be limited to a selector/);

    // Nothing else ran: the operator's env=dev job and the admin's are the only jobs.
    expect((await fleet.json<{ id: string }[]>(['jobs', 'list'])).length).toBe(2);
    expect((await fleet.nodes()).find((n) => n.name === 'dev-1')!.labels.env).toBe('dev');

    const refused = await denials('dev-operator');
    expect(refused.map((e) => e.target).sort()).toEqual(['ApplySpec', 'GetJob', 'GetNode', 'LabelNode', 'LabelNode', 'ListMachines', 'PlanSpec', 'Shell', 'StartJob', 'StartJob']);

    // The desired-state reads are limited the same way: health lists only its nodes, another
    // node's state and history look like a node that does not exist (and are audited).
    const health = await as('dev-operator', ['health']);
    expect(health.stdout).toMatch(/dev-1/);
    expect(health.stdout).not.toMatch(/prod-1/);
    expect((await as('dev-operator', ['state', 'prod-1'])).stderr).toMatch(/prod-1/);
    expect((await as('dev-operator', ['history', '--node', 'prod-1'])).stderr).toMatch(/prod-1/);
    expect((await denials('dev-operator')).map((e) => e.target).filter((t) => t === 'GetNodeState' || t === 'ListHistory').sort()).toEqual(['GetNodeState', 'ListHistory']);
  });

  it('applies the same limits on the web API', async () => {
    const ca = (JSON.parse(readFileSync(users.get('dev-operator')!.config, 'utf8')) as { contexts: Record<string, { caPem: string }> }).contexts;
    const caPem = Object.values(ca)[0]!.caPem;
    const origin = fleet.installUrl;
    const call = (method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
      new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
        const req = request(`${origin}${path}`, { method, ca: caPem, checkServerIdentity: () => undefined, headers: { origin, ...headers } }, (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        });
        req.on('error', reject);
        req.end(body);
      });
    const login = await call('POST', '/api/v1/session', { 'content-type': 'application/json' }, JSON.stringify({ token: users.get('dev-operator')!.token }));
    expect(login.status, login.body).toBe(200);
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    const nodes = JSON.parse((await call('GET', '/api/v1/nodes', { cookie })).body) as { nodes: { name: string }[] };
    expect(nodes.nodes.map((n) => n.name)).toEqual(['dev-1', 'dev-2']);
    expect((await call('GET', '/api/v1/nodes/prod-1', { cookie })).status).toBe(404);
    const jobs = JSON.parse((await call('GET', '/api/v1/jobs', { cookie })).body) as { jobs: { nodes: number }[] };
    expect(jobs.jobs.length).toBe(1);
    // Metrics count the whole fleet: not for a limited token (the refusal is audited).
    const metrics = await call('GET', '/metrics', { authorization: `Bearer ${users.get('dev-operator')!.token}` });
    expect(metrics.status).toBe(403);
    expect(metrics.body).not.toContain('fleet_nodes');
    const refused = (await fleet.json<AuditRow[]>(['audit', '--action', 'access.denied', '--limit', '1000'])).filter((e) => e.target === 'web GET /metrics');
    expect(refused.map((e) => e.actor)).toEqual([`api:${users.get('dev-operator')!.id}`]);
  });

  it('removes a node: disconnected at once, its certificate refused from then on, audited', async () => {
    const removed = await fleet.cli(['nodes', 'remove', 'dev-2']);
    expect(removed.code).toBe(2);
    expect(removed.stderr).toMatch(/--yes/);
    const r = await fleet.cli(['nodes', 'remove', 'dev-2', '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect((await fleet.nodes()).map((n) => n.name)).toEqual(['dev-1', 'prod-1']);
    // The agent keeps trying; every attempt is refused with the reason.
    const agent = agents.get('dev-2')!;
    await agent.waitForOutput(/was removed from the fleet/, 30_000);
    const attempts = await waitFor('two refused reconnects', async () => {
      const rows = (await fleet.json<AuditRow[]>(['audit', '--action', 'node.connect', '--limit', '100'])).filter((e) => e.target === 'dev-2' && !e.ok);
      return rows.length >= 2 && rows;
    }, 30_000);
    expect(attempts.every((e) => /the node was removed/.test(e.detail))).toBe(true);
    expect((await fleet.nodes()).map((n) => n.name)).toEqual(['dev-1', 'prod-1']);
    const audit = await fleet.json<AuditRow[]>(['audit', '--action', 'node.remove', '--since', '10m']);
    expect(audit.map((e) => [e.target, e.ok])).toEqual([['dev-2', true]]);
    // --since in the future shows nothing; a bad --since is a usage error.
    expect(await fleet.json<AuditRow[]>(['audit', '--since', new Date(Date.now() + 3_600_000).toISOString()])).toEqual([]);
    expect((await fleet.cli(['audit', '--since', 'yesterday'])).code).toBe(2);
  });

  it('holds back token guessing from an address, but never refuses a valid token from it, and audits the guesses', async () => {
    const bad = join(fleet.dir, 'bad.json');
    const config = JSON.parse(readFileSync(fleet.configFile, 'utf8')) as { current: string; contexts: Record<string, { token: string }> };
    const guess = async (i: number) => {
      const file = `${bad}.${i}`;
      config.contexts[config.current]!.token = `fa1_${'0'.repeat(12)}_${i.toString(16).padStart(40, '0')}`;
      writeFileSync(file, JSON.stringify(config));
      return (await fleet.cli(['nodes'], { FLEET_CONFIG: file })).stderr;
    };
    // All at once, so that the 12 fall in one minute however loaded the machine is.
    const guesses = await Promise.all(Array.from({ length: 12 }, (_, i) => guess(i)));
    expect(guesses.filter((e) => /not valid on this server/.test(e))).toHaveLength(10);
    expect(guesses.filter((e) => /too many failed sign-ins/.test(e))).toHaveLength(2);
    // Anyone sharing the address (a bastion, a NAT, CI runners) still gets in with a valid token:
    // the admin's and a viewer's (the web sign-in is checked in web.test.ts).
    const admin = await fleet.cli(['nodes', '-o', 'json']);
    expect(admin.code, admin.stderr).toBe(0);
    expect((JSON.parse(admin.stdout) as { name: string }[]).length).toBeGreaterThan(0);
    expect((await as('viewer', ['nodes'])).code).toBe(0);
    // A wrong token from there is still held back.
    expect(await guess(12)).toMatch(/too many failed sign-ins/);
    const rows = readAuditFromDatabase(fleet.dataDir).filter((e) => e.action === 'access.denied' && e.actor === 'api:000000000000');
    expect(rows.length).toBeGreaterThanOrEqual(10);
    // Held back: audited too, once a minute per address however often it tries.
    expect(rows.filter((e) => /too many failed sign-ins/.test(e.detail))).toHaveLength(1);
  });
});

/** Reads the audit log straight from the server's SQLite file (the CLI is held back at this point). */
function readAuditFromDatabase(dataDir: string): AuditRow[] {
  const db = new Database(join(dataDir, 'fleet.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT actor, action, target, ok, detail, at FROM audit_log').all() as AuditRow[];
  } finally {
    db.close();
  }
}
