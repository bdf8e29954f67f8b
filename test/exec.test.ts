// Journey: `fleet exec` fans out to selected nodes, streams prefixed output, summarises, and
// exits 0/1/2; rate control and offline handling behave as documented.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet, waitFor, type Proc } from './harness';

interface RunView {
  node: string;
  state: string;
  exitCode: number;
  startedAt: string | null;
  finishedAt: string | null;
  stdout?: string;
  stderr?: string;
}

describe('fleet exec', () => {
  const fleet = new Fleet();
  const agents = new Map<string, Proc>();

  beforeAll(async () => {
    await fleet.startServer();
    const token = await fleet.token(['--uses', '4']);
    for (const [name, role] of [['app-1', 'web'], ['app-2', 'web'], ['app-3', 'web'], ['db-1', 'db']] as const) {
      agents.set(name, fleet.startAgent(name, token, ['--label', `role=${role}`]));
    }
    await fleet.waitOnline(['app-1', 'app-2', 'app-3', 'db-1']);
  });
  afterAll(() => fleet.stop());

  it('streams per-node stdout and stderr, records exit 3, exits 1, and the job can be shown afterwards', async () => {
    const r = await fleet.cli(['exec', '-l', 'role=web', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r.code).toBe(1);
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(['app-1: out', 'app-2: out', 'app-3: out']);
    for (const n of ['app-1', 'app-2', 'app-3']) expect(r.stderr).toContain(`${n}: err\n`);
    expect(r.stderr).not.toContain('db-1');
    expect(r.stderr).toMatch(/job (j-\w+): 3 nodes, 3 failed/);
    expect(r.stderr).toMatch(/app-2\s+failed\s+exit 3/);
    const jobId = /job (j-\w+):/.exec(r.stderr)![1]!;

    const shown = await fleet.cli(['jobs', 'show', jobId]);
    expect(shown.code).toBe(1);
    expect(shown.stdout.split('\n').filter(Boolean).sort()).toEqual(['app-1: out', 'app-2: out', 'app-3: out']);
    expect(shown.stderr).toMatch(/app-1\s+failed\s+exit 3/);

    const job = await fleet.json<{ done: boolean; runs: RunView[] }>(['jobs', 'show', jobId]);
    expect(job.done).toBe(true);
    expect(job.runs.map((x) => [x.node, x.state, x.exitCode])).toEqual([
      ['app-1', 'failed', 3],
      ['app-2', 'failed', 3],
      ['app-3', 'failed', 3],
    ]);
    const listed = await fleet.cli(['jobs', 'list']);
    expect(listed.stdout).toContain(jobId);
  });

  it('exits 0 when every node succeeds, and json output carries each node\'s output', async () => {
    const r = await fleet.cli(['exec', 'app-1', 'db-1', '-o', 'json', '--', 'printf', '%s', 'hello world']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { runs: RunView[] };
    expect(out.runs.map((x) => [x.node, x.state, x.stdout])).toEqual([
      ['app-1', 'succeeded', 'hello world'],
      ['db-1', 'succeeded', 'hello world'],
    ]);
    // A last line without a newline still gets printed, prefixed.
    const text = await fleet.cli(['exec', 'db-1', '--', 'printf', 'no newline']);
    expect(text.stdout).toBe('db-1: no newline\n');
  });

  it('streams multi-byte output intact, wherever the node\'s output is cut into chunks', async () => {
    // 3000 lines of 35 bytes, written at once: the agent reads the pipe 64 KiB at a time, and
    // 65536 falls inside a character.
    const file = join(fleet.dir, 'multi-byte.txt');
    const lines = Array.from({ length: 3000 }, (_, i) => `${String(i).padStart(4, '0')} 日本語✓é 日本語✓é`);
    writeFileSync(file, lines.map((l) => `${l}\n`).join(''));
    const r = await fleet.cli(['exec', 'app-1', '--', 'cat', file]);
    expect(r.code, r.stderr).toBe(0);
    const got = r.stdout.split('\n').filter(Boolean);
    expect(got.filter((l) => l.includes('\uFFFD'))).toEqual([]);
    expect(got).toEqual(lines.map((l) => `app-1: ${l}`));
    // Shown again later, from what the server stored.
    const shown = await fleet.cli(['jobs', 'show', /job (j-\w+):/.exec(r.stderr)![1]!]);
    expect(shown.stdout.split('\n').filter(Boolean)).toEqual(got);
  });

  it('exits 2 on usage errors and 1 on unknown targets, with clear messages', async () => {
    const noCommand = await fleet.cli(['exec', '-l', 'role=web']);
    expect(noCommand.code).toBe(2);
    expect(noCommand.stderr).toMatch(/put the command after --/);
    const noTarget = await fleet.cli(['exec', '--', 'true']);
    expect(noTarget.code).toBe(2);
    const badSelector = await fleet.cli(['exec', '-l', 'role=', '--timeout', 'soon', '--', 'true']);
    expect(badSelector.code).toBe(1);
    expect(badSelector.stderr).toMatch(/invalid duration "soon"/);
    const unknown = await fleet.cli(['exec', 'nope-9', '--', 'true']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no node named or with id "nope-9"/);
    const none = await fleet.cli(['exec', '-l', 'role=cache', '--', 'true']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no node matches selector "role=cache"/);
  });

  it('--max-concurrency 1 runs one node at a time', async () => {
    const r = await fleet.cli(['exec', '-l', 'role=web', '--max-concurrency', '1', '-o', 'json', '--', 'sleep', '0.5']);
    expect(r.code).toBe(0);
    const runs = (JSON.parse(r.stdout) as { runs: RunView[] }).runs.map((x) => ({ start: Date.parse(x.startedAt!), end: Date.parse(x.finishedAt!) }));
    runs.sort((a, b) => a.start - b.start);
    expect(runs).toHaveLength(3);
    for (let i = 1; i < runs.length; i++) expect(runs[i]!.start).toBeGreaterThanOrEqual(runs[i - 1]!.end);
    // Without the limit the same command overlaps.
    const free = await fleet.cli(['exec', '-l', 'role=web', '-o', 'json', '--', 'sleep', '0.5']);
    const parallel = (JSON.parse(free.stdout) as { runs: RunView[] }).runs.map((x) => ({ start: Date.parse(x.startedAt!), end: Date.parse(x.finishedAt!) }));
    expect(Math.max(...parallel.map((p) => p.start))).toBeLessThan(Math.min(...parallel.map((p) => p.end)));
  });

  it('--max-errors 1 stops dispatch after the first failure', async () => {
    const r = await fleet.cli(['exec', '-l', 'role=web', '--max-concurrency', '1', '--max-errors', '1', '-o', 'json', '--', 'false']);
    expect(r.code).toBe(1);
    const runs = (JSON.parse(r.stdout) as { runs: RunView[] }).runs;
    expect(runs.map((x) => x.state)).toEqual(['failed', 'skipped', 'skipped']);
  });

  it('reports an offline node at once, and with --queue runs it when it returns', async () => {
    await agents.get('app-3')!.kill('SIGTERM');
    await waitFor('app-3 offline', async () => !(await fleet.nodes()).find((n) => n.name === 'app-3')?.online);

    const r = await fleet.cli(['exec', '-l', 'role=web', '-o', 'json', '--', 'echo', 'hi']);
    expect(r.code).toBe(1);
    const runs = (JSON.parse(r.stdout) as { runs: RunView[] }).runs;
    expect(runs.map((x) => [x.node, x.state])).toEqual([
      ['app-1', 'succeeded'],
      ['app-2', 'succeeded'],
      ['app-3', 'offline'],
    ]);

    const queued = await fleet.cli(['exec', '-l', 'role=web', '--queue', '1m', '--detach', '--', 'echo', 'back']);
    expect(queued.code).toBe(0);
    const jobId = queued.stdout.trim();
    const waiting = await waitFor('app-1 and app-2 done, app-3 queued', async () => {
      const job = await fleet.json<{ done: boolean; runs: RunView[] }>(['jobs', 'show', jobId]);
      const states = job.runs.map((x) => x.state);
      return states.join() === 'succeeded,succeeded,queued' && job;
    });
    expect(waiting.done).toBe(false);

    agents.set('app-3', fleet.startAgent('app-3'));
    const follow = await fleet.cli(['jobs', 'show', jobId]);
    expect(follow.code).toBe(0);
    expect(follow.stdout).toContain('app-3: back\n');
    expect(follow.stderr).toMatch(/3 nodes, 3 succeeded/);
  });

  it('replays a large job completely, page by page', async () => {
    // 6 MB per node arrives in many chunks (many pages of stored output) and is replayed in order.
    const r = await fleet.cli(['exec', 'app-1', 'db-1', '-o', 'json', '--', 'sh', '-c', 'head -c 6000000 /dev/zero | tr "\\0" x; echo; echo end']);
    expect(r.code).toBe(0);
    const runs = (JSON.parse(r.stdout) as { runs: RunView[] }).runs;
    for (const run of runs) expect(run.stdout).toBe(`${'x'.repeat(6_000_000)}\nend\n`);
    const id = (JSON.parse(r.stdout) as { id: string }).id;
    const shown = await fleet.cli(['jobs', 'show', id]);
    expect(shown.code).toBe(0);
    const lines = shown.stdout.split('\n').filter(Boolean);
    // "db-1: end", "app-1: end", and the two long lines with their prefixes.
    expect(lines.map((l) => l.length).sort((a, b) => a - b)).toEqual([9, 10, 6_000_006, 6_000_007]);
  });

  it('a timeout kills the command and is reported as timed out', async () => {
    const r = await fleet.cli(['exec', 'db-1', '--timeout', '500ms', '--', 'sh', '-c', 'echo started; sleep 20']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('db-1: started\n');
    expect(r.stderr).toMatch(/db-1\s+timed-out\s+timed out after 500 ms/);
  });
});
