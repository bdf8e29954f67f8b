// The CLI as scripts and people meet it (issue 12): repeated selectors and spec files, servers
// that are down, slow, wrong or restarting, pipes that close early, output formats, confirmation
// prompts, and the lines it prints for people to paste. Real server, agents and CLI processes.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as pty from 'node-pty';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, waitFor, type CliResult } from './harness';

const fleetJs = fileURLToPath(new URL('../dist/fleet.js', import.meta.url));

interface JobJson {
  id: string;
  runs: { node: string; state: string; stdout: string }[];
}

/** Runs `bash -c SCRIPT` (the real CLI is `$FLEET`), as a pipeline in a shell would. */
function sh(fleet: Fleet, script: string): Promise<CliResult> {
  const p = spawn('bash', ['-c', script], { env: { ...process.env, FLEET_CONFIG: fleet.configFile, FLEET: `${process.execPath} ${fleetJs}` }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((ok) => p.once('close', (code) => ok({ code: code ?? -1, stdout, stderr })));
}

/** A TCP listener that accepts connections and never says a word. */
async function silentListener(): Promise<{ port: number; close(): void }> {
  const sockets: Socket[] = [];
  const server: Server = createServer((s) => sockets.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe('the fleet CLI against a real server', () => {
  const fleet = new Fleet();
  const specDir = join(fleet.dir, 'specs');
  const writeSpec = (file: string, text: string) => {
    mkdirSync(specDir, { recursive: true });
    writeFileSync(join(specDir, file), text);
    return join(specDir, file);
  };
  /** Saves a context named `name` that is the admin's, but pointed at `server` (and pinning `caPem`). */
  const context = (name: string, server: string, caPem?: string) => {
    const config = JSON.parse(readFileSync(fleet.configFile, 'utf8')) as { contexts: Record<string, { server: string; caPem: string }> };
    config.contexts[name] = { ...config.contexts.default!, server, ...(caPem ? { caPem } : {}) };
    writeFileSync(fleet.configFile, JSON.stringify(config));
  };

  beforeAll(async () => {
    await fleet.startServer();
    const token = await fleet.token(['--uses', '3']);
    fleet.startAgent('web-prod', token, ['--label', 'role=web', '--label', 'env=prod']);
    fleet.startAgent('web-dev', token, ['--label', 'role=web', '--label', 'env=dev']);
    fleet.startAgent('db-prod', token, ['--label', 'role=db', '--label', 'env=prod']);
    await fleet.waitOnline(['web-prod', 'web-dev', 'db-prod']);
  });
  afterAll(() => fleet.stop());

  it('ANDs repeated -l on exec, nodes and health', async () => {
    const exec = await fleet.cli(['exec', '-l', 'role=web', '-l', 'env=prod', '-o', 'json', '--', 'true']);
    expect(exec.code, exec.stderr).toBe(0);
    expect((JSON.parse(exec.stdout) as JobJson).runs.map((r) => r.node)).toEqual(['web-prod']);
    const nodes = await fleet.json<{ name: string }[]>(['nodes', '-l', 'env=prod', '-l', 'role=db']);
    expect(nodes.map((n) => n.name)).toEqual(['db-prod']);
    const health = await fleet.json<{ nodeName: string }[]>(['health', '-l', 'role=web', '-l', 'env=dev']);
    expect(health.map((n) => n.nodeName)).toEqual(['web-dev']);
  });

  it('plans and applies every -f, validates them all first, and refuses the same spec twice', async () => {
    const a = writeSpec('a.yaml', 'name: spec-a\nselector: role=db\nresources:\n  - type: exec\n    name: a\n    command: "true"\n');
    const b = writeSpec('b.yaml', 'name: spec-b\nselector: role=db\nresources:\n  - type: exec\n    name: b\n    command: "true"\n');
    const plan = await fleet.cli(['plan', '-f', a, '-f', b]);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toMatch(/spec spec-a/);
    expect(plan.stdout).toMatch(/spec spec-b/);
    const plans = await fleet.json<{ spec: string }[]>(['plan', '-f', a, '-f', b]);
    expect(plans.map((p) => p.spec)).toEqual(['spec-a', 'spec-b']);

    const bad = writeSpec('bad.yaml', 'name: spec-c\nselector: role=db\nresources:\n  - type: teleport\n');
    const refused = await fleet.cli(['apply', '-f', a, '-f', bad]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/bad\.yaml:4:\d+/);
    const history = await fleet.cli(['history', '--spec', 'spec-a']);
    expect(history.stdout).not.toMatch(/spec-a/); // nothing was applied

    const applied = await fleet.cli(['apply', '-f', a, '-f', b]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toMatch(/spec spec-a revision 1 stored/);
    expect(applied.stdout).toMatch(/spec spec-b revision 1 stored/);

    const twice = await fleet.cli(['plan', '-f', a, '-f', writeSpec('a-again.yaml', 'name: spec-a\nselector: role=db\nresources: []\n')]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/spec spec-a is in both .*a\.yaml and .*a-again\.yaml/);
  });

  it('prints JSON for nodes show -o json, and refuses an -o the command does not have', async () => {
    const shown = await fleet.cli(['nodes', 'show', 'web-prod', '-o', 'json']);
    expect(shown.code, shown.stderr).toBe(0);
    expect((JSON.parse(shown.stdout) as { name: string }).name).toBe('web-prod');
    const bogus = await fleet.cli(['nodes', 'show', 'web-prod', '-o', 'xml']);
    expect(bogus.code).toBe(2);
    expect(bogus.stdout).toBe('');
  });

  it('exits quietly when the reader of its output goes away (| head)', async () => {
    for (const cmd of ['$FLEET nodes | head -1', '$FLEET exec -h | head -2', '$FLEET exec --all -- seq 1 100000 | head -2']) {
      const r = await sh(fleet, `set -o pipefail; ${cmd}; echo "status=$?" >&2`);
      expect(r.stdout.split('\n').slice(0, -1), cmd).toHaveLength(Number(/head -(\d)/.exec(cmd)![1]));
      // Nothing but the status: no stack trace. A process killed by SIGPIPE (git, coreutils) ends
      // with 141; a short output may fit in the pipe before head exits (0).
      expect(r.stderr, cmd).toMatch(/^(job j-\w+ on 3 nodes .*\n)?status=(0|141)\n$/);
    }
    // 100,000 lines cannot fit: the CLI must see the pipe close, and stop as if killed by SIGPIPE.
    const r = await sh(fleet, 'set -o pipefail; $FLEET exec --all -- seq 1 100000 | head -1 > /dev/null; echo "status=$?" >&2');
    expect(r.stderr).toMatch(/status=141\n$/);
  });

  it('tells what failed, where, and what to check when the server cannot be reached', async () => {
    context('refused', 'https://127.0.0.1:1');
    const refused = await fleet.cli(['--context', 'refused', 'nodes']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('fleet: cannot reach fleet-server at 127.0.0.1:1: connection refused (is fleet-server running there, and is 1 its gRPC port (--listen, default 7443)?)\n');

    context('https-port', `https://127.0.0.1:${fleet.httpsPort}`);
    const https = await fleet.cli(['--context', 'https-port', 'jobs', 'list']);
    expect(https.code).toBe(1);
    expect(https.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(https.stderr).toMatch(new RegExp(`at 127\\.0\\.0\\.1:${fleet.httpsPort}: it does not speak fleet's gRPC \\(is ${fleet.httpsPort} the server's HTTPS port`));
    expect(https.stderr).not.toMatch(/Resolution note|SSL routines|openssl/);

    context('unresolvable', 'https://no-such-host.invalid:7443');
    const dns = await fleet.cli(['--context', 'unresolvable', 'nodes']);
    expect(dns.code).toBe(1);
    expect(dns.stderr).toMatch(/^fleet: cannot reach fleet-server at no-such-host\.invalid:7443: the host name does not resolve/);

    // The server was reinstalled (new CA) since this context was saved.
    const otherCa = execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', '/dev/null', '-subj', '/CN=other CA', '-days', '1'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    context('reinstalled', fleet.url, otherCa);
    const ca = await fleet.cli(['--context', 'reinstalled', 'nodes']);
    expect(ca.code).toBe(1);
    expect(ca.stderr).toMatch(/: its certificate is not signed by the CA this context pins \(if the server was reinstalled, log in again with its new --ca-hash/);
  });

  it('gives up within seconds on a server that accepts connections and never answers', async () => {
    const silent = await silentListener();
    try {
      context('silent', `https://127.0.0.1:${silent.port}`);
      for (const args of [['nodes'], ['jobs', 'list'], ['exec', '--all', '--', 'true']]) {
        const started = Date.now();
        const r = await fleet.cli(['--context', 'silent', ...args]);
        expect(r.code, args.join(' ')).toBe(1);
        expect(r.stderr).toMatch(/cannot reach fleet-server at 127\.0\.0\.1:\d+: no answer within 10\.0s/);
        // The default connect wait is 10 s; the CLI must not hang past it (generous bound for a busy machine).
        expect(Date.now() - started).toBeLessThan(40_000);
      }
      const quick = await fleet.cli(['--context', 'silent', '--request-timeout', '2s', 'nodes']);
      expect(quick.stderr).toMatch(/no answer within 2\.00s/);
    } finally {
      silent.close();
    }
  });

  it('prints the job id, and re-attaches to the job when the server restarts while exec follows it', async () => {
    const exec = spawn(process.execPath, [fleetJs, 'exec', 'web-prod', '--', 'sh', '-c', 'echo before; sleep 8; echo after'], { env: { ...process.env, FLEET_CONFIG: fleet.configFile }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    exec.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    exec.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number>((ok) => exec.once('close', (c) => ok(c ?? -1)));
    await waitFor('the first line of output', () => stdout.includes('web-prod: before'));
    // stderr is not a terminal here, and the id is still there.
    const jobId = /^job (j-\w+) on 1 node/m.exec(stderr)?.[1];
    expect(jobId).toBeTruthy();
    await fleet.server.kill('SIGTERM');
    await fleet.startServer();
    expect(await exited).toBe(0);
    expect(stdout).toBe('web-prod: before\nweb-prod: after\n');
    expect(stderr).toMatch(/lost the server; reconnecting/);
    expect(stderr).toMatch(new RegExp(`job ${jobId}: 1 node, 1 succeeded`));
    expect(stderr).not.toMatch(/Call cancelled/);
  });

  it('says which kind of token is unknown', async () => {
    const r = await fleet.cli(['api-tokens', 'revoke', 'nosuchtoken']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no API token "nosuchtoken"/);
    const created = await fleet.cli(['api-tokens', 'create', '--role', 'viewer']);
    const id = /^fa1_([0-9a-f]+)_/.exec(created.stdout)![1]!;
    expect((await fleet.cli(['api-tokens', 'revoke', id])).code).toBe(0);
    expect((await fleet.cli(['api-tokens', 'revoke', id])).code).toBe(0); // again: nothing to do, not an error
  });

  it('prints the exact install line with the token in it', async () => {
    const r = await fleet.cli(['tokens', 'create']);
    expect(r.code).toBe(0);
    const token = r.stdout.trim();
    expect(token).toMatch(/^fj1_/);
    const line = /install an agent with:\n {2}(.*)\n/.exec(r.stderr)?.[1] ?? '';
    expect(line).toMatch(/^curl -fsSL -k --pinnedpubkey '?sha256\/\/[^' ]+'? https:\/\/127\.0\.0\.1:\d+\/install\.sh \| sudo sh -s -- --token fj1_/);
    expect(line.endsWith(`--token ${token}`)).toBe(true);
    expect(line).not.toContain('<token>');
  });

  it('asks for the node name on a terminal before removing it, and refuses without one', async () => {
    const scripted = await fleet.cli(['nodes', 'remove', 'web-dev']);
    expect(scripted.code).toBe(2);
    expect(scripted.stderr).toMatch(/add --yes/);

    const run = async (answer: string) => {
      const term = pty.spawn(process.execPath, [fleetJs, 'nodes', 'remove', 'web-dev'], { env: { ...process.env, FLEET_CONFIG: fleet.configFile } as Record<string, string>, cols: 120, rows: 30 });
      let screen = '';
      term.onData((d) => (screen += d));
      const exited = new Promise<number>((ok) => term.onExit(({ exitCode }) => ok(exitCode)));
      await waitFor('the prompt', () => screen.includes('Type its name to confirm'));
      term.write(`${answer}\r`);
      return { code: await exited, screen };
    };
    const wrong = await run('web-de');
    expect(wrong.code).toBe(1);
    expect(wrong.screen).toMatch(/node web-dev not removed/);
    expect((await fleet.nodes()).some((n) => n.name === 'web-dev')).toBe(true);
    const right = await run('web-dev');
    expect(right.code, right.screen).toBe(0);
    expect(right.screen).toMatch(/node web-dev removed/);
    expect((await fleet.nodes()).some((n) => n.name === 'web-dev')).toBe(false);
  });
});
