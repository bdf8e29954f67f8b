// The desired-state commands run in-process against a fake Control client: what they send, what
// they print, and their exit codes.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CheckState, ResourceState } from '../../proto/gen/fleet/v1/common';
import type { Rollout, RolloutNode, UploadFileInfo } from '../../proto/gen/fleet/v1/control';
import type { ControlClient } from '../client';
import { CliEnv } from '../env';
import { buildProgram, main } from '../main';

type Calls = Record<string, unknown[]>;

class FakeClient {
  readonly calls: Calls = {};
  readonly uploads: { info: UploadFileInfo; bytes: number }[] = [];
  snapshots: Rollout[] = [];
  constructor(readonly answers: Record<string, unknown>) {}

  async call(method: string, request: unknown): Promise<unknown> {
    (this.calls[method] ??= []).push(request);
    if (!(method in this.answers)) throw new Error(`unexpected call ${method}`);
    return this.answers[method];
  }

  watchRollout(id: string): EventEmitter {
    (this.calls.watchRollout ??= []).push(id);
    const stream = new EventEmitter();
    setImmediate(() => {
      for (const r of this.snapshots) stream.emit('data', r);
      stream.emit('end');
    });
    return stream;
  }

  async uploadFile(info: UploadFileInfo, chunks: AsyncIterable<Buffer>): Promise<unknown> {
    let bytes = 0;
    for await (const c of chunks) bytes += c.length;
    this.uploads.push({ info, bytes });
    return { sha256: info.sha256, size: info.size, existed: false };
  }
}

class FakeEnv extends CliEnv {
  constructor(
    io: CliEnv['io'],
    readonly fake: FakeClient,
  ) {
    super(io, '/nonexistent/config.json');
  }
  override client(): ControlClient {
    return this.fake as unknown as ControlClient;
  }
}

async function run(fake: FakeClient, argv: string[]) {
  let stdout = '';
  let stderr = '';
  const env = new FakeEnv({ stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } }, fake);
  await buildProgram(env).parseAsync(argv, { from: 'user' });
  return { code: env.exitCode, stdout, stderr };
}

const res = (id: string, status: string, changes: string[] = [], error = ''): ResourceState => ({ id, status, changes, error });
const check = (name: string, passing: boolean, output = ''): CheckState => ({ spec: 'web', name, passing, output, sinceUnixMs: Date.now() - 120_000, checkedUnixMs: Date.now() });

function rollout(state: string, currentBatch: number, nodes: Partial<RolloutNode>[]): Rollout {
  return {
    id: 'r-abc123',
    spec: 'web',
    revision: 3,
    previousRevision: 2,
    state,
    reason: state === 'failed' ? '1 node(s) failed in batch 2 of 2 (maxErrors 0)' : '',
    createdBy: 'admin',
    createdUnixMs: Date.now(),
    updatedUnixMs: Date.now(),
    batchSize: 1,
    batches: nodes.length,
    currentBatch,
    maxErrors: 0,
    errors: 0,
    healthGateMs: 0,
    autoRollback: false,
    rollbackOf: '',
    nodes: nodes.map((n, i) => ({ nodeId: `n${i}`, nodeName: `web-${i + 1}`, batch: i, state: 'waiting', resources: [], error: '', updatedUnixMs: 1, ...n })),
  };
}

describe('desired-state commands', () => {
  let dir: string;
  const binary = '#!/bin/sh\necho hi\n';
  const sum = createHash('sha256').update(binary).digest('hex');
  const spec = () => {
    writeFileSync(join(dir, 'hello'), binary);
    writeFileSync(join(dir, 'web.yaml'), `name: web\nselector: role=web\nresources:\n  - type: binary\n    name: hello\n    version: "1"\n    file: ./hello # local\n    sha256: ${sum}\n`);
    return join(dir, 'web.yaml');
  };
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fleet-cli-state-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('plan uploads local files, sends hosted: instead, and prints the diff; a node that failed to plan makes it exit 1', async () => {
    const fake = new FakeClient({
      planSpec: {
        spec: 'web',
        currentRevision: 0,
        specChanged: true,
        nodes: [
          { nodeId: 'a', nodeName: 'web-1', outcome: 'changes', error: '', resources: [res('binary:hello', 'pending', ['download hello 1 (sha256 abc…)', 'link bin/hello → 1'])] },
          { nodeId: 'b', nodeName: 'web-2', outcome: 'timeout', error: 'no answer within 60 s', resources: [] },
        ],
      },
    });
    const r = await run(fake, ['plan', '-f', spec()]);
    expect(fake.uploads).toEqual([{ info: { name: 'hello', size: binary.length, sha256: sum }, bytes: binary.length }]);
    const sent = fake.calls.planSpec![0] as { yaml: string; fileName: string };
    expect(sent.yaml).toContain(`hosted: ${sum} # local`);
    expect(sent.fileName).toBe(join(dir, 'web.yaml'));
    expect(r.stdout).toContain('web-1: 1 to change\n    + binary:hello  download hello 1 (sha256 abc…); link bin/hello → 1\n');
    expect(r.stdout).toContain('web-2: failed: no answer within 60 s');
    expect(r.stdout).toContain('2 nodes: 1 to change, 1 failed');
    expect(r.code).toBe(1);

    const json = await run(fake, ['plan', '-f', spec(), '-o', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ spec: 'web', nodes: [{ nodeName: 'web-1' }, { nodeName: 'web-2' }] });
  });

  it('plan and apply report an invalid spec as file:line:col lines, exit 1, and need no server', async () => {
    writeFileSync(join(dir, 'bad.yaml'), 'name: bad\nresources:\n  - type: teleport\n');
    let stderr = '';
    const io = { stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s) } };
    expect(await main(['apply', '-f', join(dir, 'bad.yaml')], io, '/nonexistent/config.json')).toBe(1);
    expect(stderr).toMatch(/^.*bad\.yaml:3:\d+: resources\[0\]\.type: unknown resource type "teleport"/);
    expect(stderr).not.toMatch(/^fleet:/);
    stderr = '';
    expect(await main(['plan', '-f', join(dir, 'missing.yaml')], io, '/nonexistent/config.json')).toBe(1);
    expect(stderr).toMatch(/^fleet: cannot read spec file .*missing\.yaml: no such file/);
  });

  it('apply follows the rollout: a line per node as it settles, batches on stderr, the verdict last, exit 1 when it failed', async () => {
    const fake = new FakeClient({ applySpec: { spec: 'web', revision: 3, specChanged: true, rollout: rollout('running', 0, [{}, {}]) } });
    fake.snapshots = [
      rollout('running', 0, [{ state: 'applying' }, {}]),
      rollout('running', 0, [{ state: 'applied', resources: [res('binary:hello', 'changed', ['download'])] }, {}]),
      rollout('running', 1, [{ state: 'applied', resources: [res('binary:hello', 'changed', ['download'])] }, { state: 'applying' }]),
      rollout('failed', 1, [{ state: 'applied', resources: [res('binary:hello', 'changed', ['download'])] }, { state: 'failed', error: 'binary:hello: sha256 mismatch' }]),
    ];
    const r = await run(fake, ['apply', '-f', spec()]);
    expect(r.stdout).toBe(
      [
        'spec web revision 3 stored',
        'rollout r-abc123: 2 nodes in 2 batches of 1',
        'web-1: applied (1 changed)',
        'web-2: failed: binary:hello: sha256 mismatch',
        'rollout r-abc123 failed: 1 node(s) failed in batch 2 of 2 (maxErrors 0)',
        '',
      ].join('\n'),
    );
    expect(r.stderr).toBe('batch 1/2\nbatch 2/2\n');
    expect(r.code).toBe(1);
  });

  it('apply of an unchanged spec says it repairs drift, and that nothing changed; -o json prints only JSON', async () => {
    const fake = new FakeClient({ applySpec: { spec: 'web', revision: 3, specChanged: false, rollout: rollout('running', 0, [{}]) } });
    fake.snapshots = [rollout('succeeded', 1, [{ state: 'unchanged', resources: [res('binary:hello', 'ok')] }])];
    const r = await run(fake, ['apply', '-f', spec()]);
    expect(r.stdout).toContain('spec web unchanged (revision 3); rolling it out again to repair drift\n');
    expect(r.stdout).toContain('web-1: unchanged\n');
    expect(r.stdout).toContain('rollout r-abc123 succeeded; nothing to change: 1 node already up to date\n');
    expect(r.code).toBe(0);

    const json = await run(fake, ['apply', '-f', spec(), '-o', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ spec: 'web', revision: 3, rollout: { state: 'succeeded' } });
    expect(json.stderr).toBe('');

    const detached = await run(fake, ['apply', '-f', spec(), '--detach']);
    expect(detached.stdout).toBe('r-abc123\n');
  });

  it('health lists one row per check and exits 1 when any fails; nodes -o wide shows a HEALTH column', async () => {
    const fake = new FakeClient({
      listHealth: {
        nodes: [
          { nodeId: 'a', nodeName: 'web-1', online: true, checks: [check('http', true, 'HTTP 200'), check('port', false, 'connect ECONNREFUSED\n127.0.0.1:80')] },
          { nodeId: 'b', nodeName: 'web-2', online: false, checks: [] },
        ],
      },
      listNodes: {
        nodes: [
          { id: 'a', name: 'web-1', online: true, labels: {}, agentVersion: '1.0.0', enrolledUnixMs: 1, lastSeenUnixMs: 1, joinTokenId: '', checks: [check('http', true), check('port', false), check('x', false)] },
          { id: 'b', name: 'web-2', online: true, labels: {}, agentVersion: '1.0.0', enrolledUnixMs: 1, lastSeenUnixMs: 1, joinTokenId: '', checks: [check('http', true)] },
          { id: 'c', name: 'web-3', online: true, labels: {}, agentVersion: '1.0.0', enrolledUnixMs: 1, lastSeenUnixMs: 1, joinTokenId: '', checks: [] },
        ],
      },
    });
    const h = await run(fake, ['health']);
    expect(h.code).toBe(1);
    const lines = h.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NODE\s+ONLINE\s+CHECK\s+STATUS\s+SINCE\s+OUTPUT$/);
    expect(lines[1]).toMatch(/^web-1\s+yes\s+web\/http\s+passing\s+2m ago\s+HTTP 200$/);
    expect(lines[2]).toMatch(/^web-1\s+yes\s+web\/port\s+failing\s+2m ago\s+connect ECONNREFUSED 127\.0\.0\.1:80$/);
    expect(lines[3]).toMatch(/^web-2\s+no\s+-\s+-\s+-\s+-$/);

    const wide = await run(fake, ['nodes', '-o', 'wide']);
    const rows = wide.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^NAME\s+STATUS\s+ID\s+VERSION\s+OS\s+KERNEL\s+CPUS\s+MEMORY\s+ADDRESSES\s+LAST SEEN\s+LABELS\s+HEALTH$/);
    expect(rows[1]).toMatch(/\s2\/3 failing$/);
    expect(rows[2]).toMatch(/\sok$/);
    expect(rows[3]).toMatch(/\s-$/);
  });

  it('history --out writes the files for a git repository', async () => {
    const fake = new FakeClient({
      listHistory: {
        deployments: [{ atUnixMs: Date.UTC(2025, 0, 1), spec: 'web', revision: 1, nodeId: 'a', nodeName: 'web-1', rolloutId: 'r-1', actor: 'admin', outcome: 'applied', detail: '' }],
        revisions: [{ spec: 'web', revision: 1, yaml: 'name: web\n', digest: 'd', createdBy: 'admin', createdUnixMs: Date.UTC(2025, 0, 1) }],
      },
    });
    const out = join(dir, 'history');
    const r = await run(fake, ['history', '--out', out]);
    expect(r.stdout).toContain('3 file(s) written, 0 already up to date');
    expect(readFileSync(join(out, 'web/revision-1.yaml'), 'utf8')).toBe('name: web\n');
    expect(fake.calls.listHistory).toEqual([{ spec: '', node: '', limit: 100_000 }]);
    const again = await run(fake, ['history', '--out', out]);
    expect(again.stdout).toBe('0 file(s) written, 3 already up to date\n');
    const table = await run(fake, ['history']);
    expect(table.stdout).toMatch(/2025-01-01T00:00:00Z\s+web\s+1\s+web-1\s+applied\s+admin\s+-/);
  });
});
