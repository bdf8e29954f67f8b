// Desired state end to end with real agents, each converging inside its own temporary root:
// plan/apply/drift, binaries and rollback, a kill -9 in the middle of an apply, a gated rollout
// that rolls itself back and alerts a webhook, a .deb package, first revisions rolled back to
// nothing (by hand and by themselves), rollbacks that fail and say so, and refused specs.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, waitFor, type Proc } from './harness';

interface RolloutView {
  id: string;
  state: string;
  reason: string;
  nodes: { nodeName: string; batch: number; state: string; error: string }[];
}
interface StateView {
  specs: { spec: string; appliedRevision: number; status: string; driftUnixMs: number; resources: { id: string; status: string; error: string }[] }[];
  checks: { name: string; passing: boolean }[];
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** Every file under `dir`, relative, recursively. */
function walk(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]));
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

describe('desired state', () => {
  const fleet = new Fleet();
  const agents = new Map<string, Proc>();
  const root = (name: string) => join(fleet.dir, 'roots', name);
  const specDir = join(fleet.dir, 'specs');
  const servers: Server[] = [];

  /** Starts (or restarts) an agent converging inside its own root, re-checking every second. */
  const startAgent = (name: string, token?: string, labels: string[] = [], env: Record<string, string> = {}) => {
    mkdirSync(root(name), { recursive: true });
    const proc = fleet.startAgent(name, token, labels.flatMap((l) => ['--label', l]), { FLEET_AGENT_ROOT: root(name), FLEET_AGENT_RECONCILE_INTERVAL: '1s', ...env });
    agents.set(name, proc);
    return proc;
  };
  const writeSpec = (file: string, text: string) => {
    mkdirSync(specDir, { recursive: true });
    writeFileSync(join(specDir, file), text);
    return join(specDir, file);
  };
  const rollout = (id: string) => fleet.json<RolloutView>(['rollouts', 'show', id]);
  const rolloutId = (output: string) => /rollout (r-\w+)/.exec(output)?.[1] ?? '';
  /** Builds a one-file .deb package named `name` into the spec directory; returns its path. */
  const buildDeb = (name: string) => {
    const dir = join(fleet.dir, 'deb', name);
    mkdirSync(join(dir, 'DEBIAN'), { recursive: true });
    mkdirSync(join(dir, `usr/share/${name}`), { recursive: true });
    writeFileSync(join(dir, 'DEBIAN/control'), `Package: ${name}\nVersion: 1.0\nArchitecture: all\nMaintainer: fleet tests <test@example.invalid>\nDescription: fleet test package\n`);
    writeFileSync(join(dir, `usr/share/${name}/${name}.txt`), `${name}\n`);
    mkdirSync(specDir, { recursive: true });
    const deb = join(specDir, `${name}_1.0_all.deb`);
    execFileSync('dpkg-deb', ['--root-owner-group', '--build', dir, deb], { stdio: 'ignore' });
    return deb;
  };
  /** The version of `pkg` installed inside a node's root, or null. */
  const debInstalled = (node: string, pkg: string) => {
    try {
      const out = execFileSync('dpkg-query', [`--admindir=${join(root(node), 'var/lib/dpkg')}`, '-W', '-f', '${Status} ${Version}', pkg], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
      return out.startsWith('install ok installed ') ? out.slice('install ok installed '.length) : null;
    } catch {
      return null;
    }
  };
  /** Whether a process with this pid is alive (and not a zombie). */
  const alive = (pid: number) => {
    try {
      return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };

  beforeAll(async () => {
    fleet.options.serverEnv = { FLEET_WEBHOOKS: '' };
    await fleet.startServer();
    const token = await fleet.token(['--uses', '10']);
    startAgent('cfg-1', token, ['role=cfg']);
    startAgent('cfg-2', token, ['role=cfg']);
    await fleet.waitOnline(['cfg-1', 'cfg-2']);
  });
  afterAll(async () => {
    for (const s of servers) s.close();
    await fleet.stop();
  });

  it('plans exactly the changes, applies them, says so when there is nothing to do, and repairs drift', async () => {
    const spec = writeSpec(
      'app.yaml',
      `name: app
selector: role=cfg
resources:
  - type: file
    path: /etc/app/app.conf
    template: true
    content: |
      name={{ node.name }}
    mode: "0640"
  - type: exec
    name: init
    command: mkdir -p var/lib/app && echo done > var/lib/app/init
    creates: /var/lib/app/init
`,
    );
    const plan = await fleet.cli(['plan', '-f', spec]);
    expect(plan.code, plan.stderr).toBe(0);
    for (const node of ['cfg-1', 'cfg-2']) {
      expect(plan.stdout).toContain(node);
      expect(walk(root(node))).toEqual([]);
    }
    expect(plan.stdout).toMatch(/\+ file:\/etc\/app\/app\.conf\s+create/);
    const planned = await fleet.json<{ nodes: { nodeName: string; outcome: string; resources: { id: string; status: string }[] }[] }>(['plan', '-f', spec]);
    expect(planned.nodes.map((n) => [n.nodeName, n.outcome, n.resources.map((r) => `${r.id} ${r.status}`)])).toEqual([
      ['cfg-1', 'changes', ['file:/etc/app/app.conf pending', 'exec:init pending']],
      ['cfg-2', 'changes', ['file:/etc/app/app.conf pending', 'exec:init pending']],
    ]);
    expect(walk(root('cfg-1'))).toEqual([]);

    const apply = await fleet.cli(['apply', '-f', spec]);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(apply.stdout + apply.stderr).toMatch(/succeeded/);
    for (const node of ['cfg-1', 'cfg-2']) {
      const conf = join(root(node), 'etc/app/app.conf');
      expect(readFileSync(conf, 'utf8')).toBe(`name=${node}\n`);
      expect(statSync(conf).mode & 0o777).toBe(0o640);
      expect(readFileSync(join(root(node), 'var/lib/app/init'), 'utf8')).toBe('done\n');
    }
    const mtime = statSync(join(root('cfg-1'), 'etc/app/app.conf')).mtimeMs;

    const again = await fleet.cli(['apply', '-f', spec]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout + again.stderr).toMatch(/unchanged/);
    expect(again.stdout + again.stderr).toMatch(/nothing to change/);
    expect(statSync(join(root('cfg-1'), 'etc/app/app.conf')).mtimeMs).toBe(mtime);
    const replan = await fleet.cli(['plan', '-f', spec]);
    expect(replan.stdout).toMatch(/up to date/);

    // A hand edit is drift: the agent's re-check repairs it and reports it.
    writeFileSync(join(root('cfg-2'), 'etc/app/app.conf'), 'name=tampered\n');
    await waitFor('the drift to be repaired', () => readFileSync(join(root('cfg-2'), 'etc/app/app.conf'), 'utf8') === 'name=cfg-2\n', 15_000);
    const state = await waitFor('the drift to be reported', async () => {
      const s = await fleet.json<StateView>(['state', 'cfg-2']);
      return s.specs.find((x) => x.spec === 'app' && x.driftUnixMs > 0) && s;
    });
    expect(state.specs[0]!.appliedRevision).toBe(1);
    const history = await fleet.cli(['history', '--spec', 'app']);
    expect(history.stdout).toMatch(/cfg-2.*drift-repaired/);
  });

  it('refuses a binary with a wrong sha256 and links nothing; an upgrade keeps the old version and rollback relinks it', async () => {
    const v1 = '#!/bin/sh\necho hello 1\n';
    const v2 = '#!/bin/sh\necho hello 2\n';
    const files = new Map([
      ['/hello-1', v1],
      ['/hello-2', v2],
    ]);
    const http = createServer((req, res) => {
      const body = files.get(req.url ?? '');
      res.writeHead(body ? 200 : 404).end(body ?? 'not found');
    });
    servers.push(http);
    const port = await listen(http);
    const binarySpec = (version: string, sum: string) => `name: tools
selector: role=cfg
resources:
  - type: binary
    name: hello
    version: "${version}"
    url: http://127.0.0.1:${port}/hello-${version}
    sha256: ${sum}
`;
    const link = (node: string) => join(root(node), 'opt/fleet/bin/hello');

    const bad = await fleet.cli(['apply', '-f', writeSpec('bad-binary.yaml', binarySpec('1', sha256('something else')))]);
    expect(bad.code).toBe(1);
    expect(bad.stdout + bad.stderr).toMatch(/sha256 mismatch/);
    for (const node of ['cfg-1', 'cfg-2']) {
      expect(existsSync(link(node))).toBe(false);
      expect(walk(join(root(node), 'opt/fleet/pkgs'))).toEqual([]);
    }

    const one = await fleet.cli(['apply', '-f', writeSpec('tools.yaml', binarySpec('1', sha256(v1)))]);
    expect(one.code, one.stdout + one.stderr).toBe(0);
    expect(execFileSync(link('cfg-1')).toString()).toBe('hello 1\n');

    const two = await fleet.cli(['apply', '-f', writeSpec('tools.yaml', binarySpec('2', sha256(v2)))]);
    expect(two.code, two.stdout + two.stderr).toBe(0);
    for (const node of ['cfg-1', 'cfg-2']) {
      expect(execFileSync(link(node)).toString()).toBe('hello 2\n');
      expect(readFileSync(join(root(node), 'opt/fleet/pkgs/hello/1/hello'), 'utf8')).toBe(v1);
    }

    // Rolling back relinks the old version, which is still on disk (the URL is gone by now).
    files.clear();
    const back = await fleet.cli(['rollouts', 'rollback', rolloutId(two.stdout + two.stderr)]);
    expect(back.code, back.stdout + back.stderr).toBe(0);
    for (const node of ['cfg-1', 'cfg-2']) {
      expect(readlinkSync(link(node))).toContain('/1/');
      expect(execFileSync(link(node)).toString()).toBe('hello 1\n');
    }
  });

  it('converges after a kill -9 in the middle of an apply, leaving no half-written file', async () => {
    const big = 'x'.repeat(200_000);
    const spec = writeSpec(
      'slow.yaml',
      `name: slow
selector: role=cfg
resources:
  - type: exec
    name: slow-step
    command: sleep 3 && touch slow-step-ran
  - type: file
    path: /etc/slow/a.conf
    content: "${big}"
  - type: file
    path: /etc/slow/b.conf
    content: "b"
`,
    );
    const apply = fleet.cli(['apply', '-f', spec]);
    // The agent is inside the slow step: kill it there, then start it again.
    await waitFor('the apply to start on cfg-1', () => fleet.cli(['state', 'cfg-1', '-o', 'json']).then((r) => r.stdout.includes('"slow"')), 10_000);
    await new Promise((r) => setTimeout(r, 1000));
    await agents.get('cfg-1')!.kill('SIGKILL');
    expect(existsSync(join(root('cfg-1'), 'slow-step-ran'))).toBe(false);
    const restarted = startAgent('cfg-1');
    const result = await apply;
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(restarted.output).toContain('finishing an apply that was interrupted');
    for (const node of ['cfg-1', 'cfg-2']) {
      expect(readFileSync(join(root(node), 'etc/slow/a.conf'), 'utf8')).toBe(big);
      expect(readFileSync(join(root(node), 'etc/slow/b.conf'), 'utf8')).toBe('b');
      expect(walk(root(node)).filter((f) => f.includes('fleet-tmp'))).toEqual([]);
    }
    await fleet.waitOnline(['cfg-1']);
  });

  it('carries a rollout on where it was after the server is killed in the middle of it', async () => {
    const spec = writeSpec(
      'resume.yaml',
      `name: resume
selector: role=cfg
resources:
  - type: file
    path: /etc/resume.conf
    content: "resumed"
checks:
  - name: ok
    cmd: "true"
    interval: 500ms
rollout:
  batch: 1
  healthGate: 4s
`,
    );
    const started = await fleet.cli(['apply', '-f', spec, '--detach']);
    expect(started.code, started.stderr).toBe(0);
    const id = rolloutId(started.stdout + started.stderr);
    // Kill the server while the first node sits in its health gate.
    await waitFor('the first batch to be applied', async () => (await rollout(id)).nodes.some((n) => n.state === 'applied'), 15_000);
    await fleet.crashServer();
    await fleet.startServer();
    const done = await waitFor('the rollout to finish', async () => {
      const r = await rollout(id);
      return r.state !== 'running' && r;
    }, 60_000);
    expect(done.state).toBe('succeeded');
    expect(done.nodes.map((n) => [n.nodeName, n.state])).toEqual([
      ['cfg-1', 'healthy'],
      ['cfg-2', 'healthy'],
    ]);
    for (const node of ['cfg-1', 'cfg-2']) expect(readFileSync(join(root(node), 'etc/resume.conf'), 'utf8')).toBe('resumed');
  });

  it('stops a rollout whose new revision breaks an http check after the first batch, rolls it back, and alerts the webhook', async () => {
    // The webhook receiver, and per node a small health endpoint that serves the node's root/srv/health.
    const alerts: { type: string; node?: string; passing?: boolean; state?: string }[] = [];
    const hook = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        alerts.push(JSON.parse(body) as (typeof alerts)[number]);
        res.writeHead(204).end();
      });
    });
    servers.push(hook);
    const hookPort = await listen(hook);
    await fleet.crashServer();
    fleet.options.serverEnv = { FLEET_WEBHOOKS: `http://127.0.0.1:${hookPort}/alerts` };
    await fleet.startServer();

    const token = await fleet.token(['--uses', '6']);
    const names = ['web-1', 'web-2', 'web-3', 'web-4', 'web-5', 'web-6'];
    for (const name of names) {
      const health = createServer((_req, res) => {
        const file = join(root(name), 'srv/health');
        const ok = existsSync(file) && readFileSync(file, 'utf8').trim() === 'ok';
        res.writeHead(ok ? 200 : 500).end(ok ? 'ok' : 'broken');
      });
      servers.push(health);
      startAgent(name, token, ['role=web', `port=${await listen(health)}`]);
    }
    await fleet.waitOnline(names);
    const spec = (health: string) => `name: site
selector: role=web
resources:
  - type: file
    path: /srv/health
    content: "${health}"
checks:
  - name: http
    http: http://127.0.0.1:{{ labels.port }}/health
    interval: 500ms
    timeout: 1s
rollout:
  batch: 2
  maxErrors: 0
  healthGate: 1s
  autoRollback: true
`;
    const good = await fleet.cli(['apply', '-f', writeSpec('site.yaml', spec('ok'))]);
    expect(good.code, good.stdout + good.stderr).toBe(0);
    const health = await fleet.cli(['health', '-l', 'role=web']);
    expect(health.code).toBe(0);
    expect(health.stdout).toMatch(/web-6\s.*http/);

    const broken = await fleet.cli(['apply', '-f', writeSpec('site.yaml', spec('broken'))]);
    expect(broken.code).toBe(1);
    const r = await rollout(rolloutId(broken.stdout + broken.stderr));
    expect(r.state).toBe('rolled-back');
    const byNode = Object.fromEntries(r.nodes.map((n) => [n.nodeName, n.state]));
    expect(byNode).toEqual({ 'web-1': 'rolled-back', 'web-2': 'rolled-back', 'web-3': 'waiting', 'web-4': 'waiting', 'web-5': 'waiting', 'web-6': 'waiting' });
    for (const name of names) expect(readFileSync(join(root(name), 'srv/health'), 'utf8')).toBe('ok');

    await waitFor('the alerts', () => alerts.some((a) => a.type === 'rollout' && a.state === 'rolled-back') && alerts.filter((a) => a.type === 'check' && a.passing === false).length >= 2, 15_000);
    expect(new Set(alerts.filter((a) => a.type === 'check' && a.passing === false).map((a) => a.node))).toEqual(new Set(['web-1', 'web-2']));
    await waitFor('web-1 and web-2 healthy again', () => alerts.filter((a) => a.type === 'check' && a.passing === true).length >= 2, 15_000);
    const wide = await fleet.cli(['nodes', '-l', 'role=web', '-o', 'wide']);
    expect(wide.stdout).toMatch(/web-1\s.*\bok\b/);
  });

  it('installs and removes a .deb built here with dpkg-deb, inside the agent root', async () => {
    const pkgDir = join(fleet.dir, 'deb', 'fleet-hello');
    mkdirSync(join(pkgDir, 'DEBIAN'), { recursive: true });
    mkdirSync(join(pkgDir, 'usr/share/fleet-hello'), { recursive: true });
    writeFileSync(join(pkgDir, 'DEBIAN/control'), 'Package: fleet-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: fleet tests <test@example.invalid>\nDescription: fleet test package\n');
    writeFileSync(join(pkgDir, 'usr/share/fleet-hello/hello.txt'), 'hello from a package\n');
    execFileSync('dpkg-deb', ['--root-owner-group', '--build', pkgDir, join(specDir, 'fleet-hello_1.0_all.deb')], { stdio: 'ignore' });
    const deb = readFileSync(join(specDir, 'fleet-hello_1.0_all.deb'));
    const pkg = (state: string) => `name: pkg
selector: role=cfg
resources:
  - type: package
    name: fleet-hello
    state: ${state}
    deb:
      file: ./fleet-hello_1.0_all.deb
      sha256: ${sha256(deb)}
`;
    const installed = await fleet.cli(['apply', '-f', writeSpec('pkg.yaml', pkg('present'))]);
    expect(installed.code, installed.stdout + installed.stderr).toBe(0);
    const query = (node: string) =>
      execFileSync('dpkg-query', [`--admindir=${join(root(node), 'var/lib/dpkg')}`, '-W', '-f', '${Status} ${Version}', 'fleet-hello'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    expect(query('cfg-1')).toBe('install ok installed 1.0');
    expect(readFileSync(join(root('cfg-1'), 'usr/share/fleet-hello/hello.txt'), 'utf8')).toBe('hello from a package\n');
    // The server hosts the uploaded .deb for enrolled agents only: no client certificate, no file.
    const status = execFileSync('curl', ['-sk', '-o', '/dev/null', '-w', '%{http_code}', `${fleet.installUrl}/files/${sha256(deb)}`]).toString();
    expect(status).toBe('403');

    const removed = await fleet.cli(['apply', '-f', writeSpec('pkg.yaml', pkg('absent'))]);
    expect(removed.code, removed.stdout + removed.stderr).toBe(0);
    expect(existsSync(join(root('cfg-1'), 'usr/share/fleet-hello/hello.txt'))).toBe(false);
  });

  it('converges a node that joins a spec selector later, without another apply', async () => {
    const token = await fleet.token(['--uses', '2']);
    startAgent('late-1', token, ['tier=late']);
    await fleet.waitOnline(['late-1']);
    const spec = writeSpec('late.yaml', 'name: late\nselector: tier=late\nresources:\n  - type: file\n    path: /etc/late.conf\n    template: true\n    content: "{{ node.name }}"\n');
    const applied = await fleet.cli(['apply', '-f', spec]);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    expect(readFileSync(join(root('late-1'), 'etc/late.conf'), 'utf8')).toBe('late-1');

    startAgent('late-2', token, ['tier=late']);
    await waitFor('late-2 to converge', () => existsSync(join(root('late-2'), 'etc/late.conf')), 30_000);
    expect(readFileSync(join(root('late-2'), 'etc/late.conf'), 'utf8')).toBe('late-2');
    const history = await fleet.cli(['history', '--spec', 'late']);
    expect(history.stdout).toMatch(/late-2\s+applied\s+server \(node joined the selector\)/);
    await agents.get('late-1')!.kill();
    await agents.get('late-2')!.kill();
  });

  it('rolls a first revision back to nothing: its files, binary link, service and the package it installed go, edited files and packages it found stay', async () => {
    // Agents that re-check rarely, so a hand edit is still there when the rollback comes.
    const token = await fleet.token(['--uses', '2']);
    const names = ['first-1', 'first-2'];
    for (const name of names) startAgent(name, token, ['role=first'], { FLEET_AGENT_RECONCILE_INTERVAL: '1h' });
    await fleet.waitOnline(names);
    const tool = '#!/bin/sh\necho tool 1\n';
    const http = createServer((_req, res) => res.writeHead(200).end(tool));
    servers.push(http);
    const port = await listen(http);
    const ours = readFileSync(buildDeb('fleet-first'));
    const theirs = buildDeb('fleet-found');
    // A package the node had before the spec: fleet did not install it, so it never removes it.
    for (const name of names) {
      for (const d of ['info', 'updates', 'triggers']) mkdirSync(join(root(name), 'var/lib/dpkg', d), { recursive: true });
      for (const f of ['status', 'available']) writeFileSync(join(root(name), 'var/lib/dpkg', f), '');
      execFileSync('dpkg', [`--root=${root(name)}`, '--force-not-root', '--force-script-chrootless', '-i', theirs], { stdio: 'ignore' });
      expect(debInstalled(name, 'fleet-found')).toBe('1.0');
    }
    const spec = writeSpec(
      'first.yaml',
      `name: first
selector: role=first
resources:
  - type: file
    path: /etc/first/first.conf
    content: "first\\n"
  - type: file
    path: /etc/first/edited.conf
    content: "as fleet wrote it\\n"
  - type: binary
    name: first-tool
    version: "1"
    url: http://127.0.0.1:${port}/tool
    sha256: ${sha256(tool)}
  - type: package
    name: fleet-first
    deb:
      file: ./fleet-first_1.0_all.deb
      sha256: ${sha256(ours)}
  - type: package
    name: fleet-found
    deb:
      file: ./fleet-found_1.0_all.deb
      sha256: ${sha256(readFileSync(theirs))}
  - type: service
    name: first-svc
    command: exec sleep 3600
checks:
  - name: conf
    cmd: test -e etc/first/first.conf
    interval: 500ms
`,
    );
    const applied = await fleet.cli(['apply', '-f', spec]);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    const original = rolloutId(applied.stdout + applied.stderr);
    const service = (name: string) => join(fleet.agentDir(name), 'services/first-svc.json');
    const pids = new Map<string, number>();
    for (const name of names) {
      expect(readFileSync(join(root(name), 'etc/first/first.conf'), 'utf8')).toBe('first\n');
      expect(execFileSync(join(root(name), 'opt/fleet/bin/first-tool')).toString()).toBe('tool 1\n');
      expect(debInstalled(name, 'fleet-first')).toBe('1.0');
      const pid = (JSON.parse(readFileSync(service(name), 'utf8')) as { pid: number }).pid;
      expect(alive(pid)).toBe(true);
      pids.set(name, pid);
    }
    await waitFor('the check to report', async () => (await fleet.json<StateView>(['state', 'first-1'])).checks.some((c) => c.name === 'conf'));
    writeFileSync(join(root('first-1'), 'etc/first/edited.conf'), 'edited by hand\n');

    const back = await fleet.cli(['rollouts', 'rollback', original]);
    expect(back.code, back.stdout + back.stderr).toBe(0);
    expect(back.stdout).toMatch(/to no revision/);
    expect(back.stdout).toMatch(/rollout r-\w+ succeeded/);
    expect(back.stdout).toMatch(/first-1: .*kept file:\/etc\/first\/edited\.conf \(edited since fleet wrote it\)/);
    for (const name of names) {
      expect(existsSync(join(root(name), 'etc/first/first.conf')), name).toBe(false);
      expect(existsSync(join(root(name), 'opt/fleet/bin/first-tool')), name).toBe(false);
      expect(debInstalled(name, 'fleet-first'), name).toBeNull();
      expect(existsSync(join(root(name), 'usr/share/fleet-first/fleet-first.txt')), name).toBe(false);
      expect(debInstalled(name, 'fleet-found'), name).toBe('1.0');
      expect(existsSync(service(name)), name).toBe(false);
      expect(alive(pids.get(name)!), name).toBe(false);
    }
    expect(existsSync(join(root('first-2'), 'etc/first/edited.conf'))).toBe(false);
    expect(readFileSync(join(root('first-1'), 'etc/first/edited.conf'), 'utf8')).toBe('edited by hand\n');

    // The spec is gone from the nodes, checks and all, and the original is marked rolled back.
    const state = await waitFor('the spec and its checks to be gone from first-1', async () => {
      const s = await fleet.json<StateView>(['state', 'first-1']);
      return !s.specs.some((x) => x.spec === 'first') && !s.checks.some((c) => c.name === 'conf') && s;
    });
    expect(state.specs).toEqual([]);
    const text = await fleet.cli(['state', 'first-2']);
    expect(text.stdout).toContain('no spec has been applied to this node');
    expect((await rollout(original)).state).toBe('rolled-back');
    await waitFor('the rollback to be recorded in the history', async () => (await fleet.cli(['history', '--spec', 'first'])).stdout.match(/first-2\s+rolled-back/));

    // Applying it again installs everything again, from nothing.
    const again = await fleet.cli(['apply', '-f', spec]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(readFileSync(join(root('first-2'), 'etc/first/first.conf'), 'utf8')).toBe('first\n');
    expect(debInstalled('first-2', 'fleet-first')).toBe('1.0');
    for (const name of names) {
      await agents.get(name)!.kill();
      // The supervised service outlives its agent by design: stop it here.
      process.kill((JSON.parse(readFileSync(service(name), 'utf8')) as { pid: number }).pid);
    }
  });

  it('rolls a failing first revision back to nothing by itself, and the nodes end clean, not applying', async () => {
    const spec = writeSpec(
      'gate-one.yaml',
      `name: gate-one
selector: role=cfg
resources:
  - type: file
    path: /etc/gate-one.conf
    content: "one"
  - type: service
    name: gate-one
    command: exec sleep 3600
checks:
  - name: never
    cmd: exit 7
    interval: 500ms
rollout:
  batch: 2
  healthGate: 1s
  autoRollback: true
`,
    );
    const applied = await fleet.cli(['apply', '-f', spec]);
    expect(applied.code).toBe(1);
    expect(applied.stdout).toMatch(/rollout r-\w+ rolled-back: .*2 of 2 node\(s\) rolled back/);
    const r = await rollout(rolloutId(applied.stdout + applied.stderr));
    expect(r.state).toBe('rolled-back');
    for (const n of r.nodes) {
      expect(n.state, n.nodeName).toBe('rolled-back');
      // The reason it was rolled back stays with the node.
      expect(n.error, n.nodeName).toMatch(/health checks not passing .*never: exit 7/);
    }
    for (const node of ['cfg-1', 'cfg-2']) {
      expect(existsSync(join(root(node), 'etc/gate-one.conf')), node).toBe(false);
      expect(existsSync(join(fleet.agentDir(node), 'services/gate-one.json')), node).toBe(false);
      const s = await waitFor(`gate-one to be gone from ${node}`, async () => {
        const v = await fleet.json<StateView>(['state', node]);
        return !v.specs.some((x) => x.spec === 'gate-one') && !v.checks.some((c) => c.name === 'never') && v;
      });
      expect(s.specs.map((x) => x.status)).not.toContain('applying');
    }
  });

  it('reports a rollback whose nodes fail as failed, exits 1, and does not mark the original rolled back', async () => {
    const spec = (revision: number) =>
      revision === 1
        ? `name: fragile
selector: role=cfg
resources:
  - type: exec
    name: needs-key
    command: test -e fragile.key
`
        : `name: fragile
selector: role=cfg
resources:
  - type: file
    path: /etc/fragile.conf
    content: "two"
checks:
  - name: broken
    cmd: exit 3
    interval: 500ms
rollout:
  batch: 2
  healthGate: 1s
  autoRollback: true
`;
    for (const node of ['cfg-1', 'cfg-2']) writeFileSync(join(root(node), 'fragile.key'), 'k');
    const one = await fleet.cli(['apply', '-f', writeSpec('fragile.yaml', spec(1))]);
    expect(one.code, one.stdout + one.stderr).toBe(0);
    // Revision 1 cannot be applied again once the key is gone: both rollbacks below must fail.
    for (const node of ['cfg-1', 'cfg-2']) execFileSync('rm', [join(root(node), 'fragile.key')]);

    // Automatic: revision 2 fails its health gate, and going back to revision 1 fails too.
    const two = await fleet.cli(['apply', '-f', writeSpec('fragile.yaml', spec(2))]);
    expect(two.code).toBe(1);
    const id = rolloutId(two.stdout + two.stderr);
    expect(two.stdout).toMatch(new RegExp(`rollout ${id} failed: .*rollback failed on 2 of 2 node\\(s\\)`));
    const auto = await rollout(id);
    expect(auto.state).toBe('failed');
    for (const n of auto.nodes) {
      expect(n.state, n.nodeName).toBe('failed');
      // Both what went wrong first and why the rollback failed.
      expect(n.error, n.nodeName).toMatch(/health checks not passing .*broken: exit 3.*rollback failed: exec:needs-key: .*exit 1/);
    }

    // By hand: the rollback rollout fails on every node, says so and exits 1.
    const manual = await fleet.cli(['rollouts', 'rollback', id]);
    expect(manual.code, manual.stdout + manual.stderr).toBe(1);
    expect(manual.stdout).not.toMatch(/succeeded/);
    expect(manual.stdout).toMatch(/rollout r-\w+ failed: rollback failed on 2 of 2 node\(s\)/);
    const after = await rollout(id);
    expect(after.state).toBe('failed');
    expect(after.reason).toMatch(/rollback r-\w+ failed/);
  });

  it('refuses paths escaping the root, unknown resource kinds and bad YAML, clearly, and changes nothing', async () => {
    const before = await fleet.json<unknown[]>(['rollouts', 'list']);
    const cases: [string, string, RegExp][] = [
      ['escape.yaml', 'name: escape\nselector: role=cfg\nresources:\n  - type: file\n    path: /etc/../../outside\n    content: x\n', /escape\.yaml:5:\d+: resources\[0\]\.path: .*\.\./],
      ['kind.yaml', 'name: kind\nselector: role=cfg\nresources:\n  - type: teleport\n    name: x\n', /kind\.yaml:4:\d+: .*unknown resource type "teleport"/],
      ['broken.yaml', 'name: broken\nresources: [\n  - type: file\n', /broken\.yaml:\d+:\d+/],
    ];
    for (const [file, text, message] of cases) {
      for (const verb of ['plan', 'apply']) {
        const r = await fleet.cli([verb, '-f', writeSpec(file, text)]);
        expect(r.code, `${verb} ${file}`).toBe(1);
        expect(r.stderr).toMatch(message);
      }
    }
    expect(existsSync(join(fleet.dir, 'outside'))).toBe(false);
    expect(await fleet.json<unknown[]>(['rollouts', 'list'])).toEqual(before);
  });
});
