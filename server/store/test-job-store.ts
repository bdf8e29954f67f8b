// The contract every JobStore keeps (job-store.ts), as a test suite a store runs on itself: the
// SQLite one (job-store.test.ts) and the PostgreSQL one (server/postgres/pg-job-store.test.ts).
// What the job dispatcher relies on: batches stored whole, replays told apart from new output,
// and a replay boundary that splits a job's output exactly into before and after.
import { describe, expect, it } from 'vitest';
import { OutputStream } from '../../proto/gen/fleet/v1/common';
import { RunState } from '../../proto/gen/fleet/v1/control';
import type { JobOutputRecord, JobRecord, JobStore, OutputRecord, RunRecord } from './job-store';

/** A job created at `createdAt`, not finished. */
function jobRecord(id: string, createdAt = 1_000): JobRecord {
  return {
    id,
    createdAt,
    createdBy: 'token:ops',
    spec: { argv: ['uname', '-a'], shell: '', selector: 'role=web', nodes: [], maxConcurrency: '10%', maxErrors: 2, timeoutMs: 60_000, queueTtlMs: 0 },
    finishedAt: null,
  };
}

/** A pending run of `jobId` on `nodeId`. */
function runRecord(jobId: string, nodeId: string, position: number): RunRecord {
  const times = { queueExpiresAt: null, dispatchedAt: null, startedAt: null, finishedAt: null };
  return { jobId, nodeId, nodeName: `name-${nodeId}`, position, state: RunState.RUN_STATE_PENDING, exitCode: null, signal: null, error: null, ...times };
}

/** Output chunk `seq` of `nodeId` in `jobId`; its bytes say where it came from. */
export function chunk(jobId: string, nodeId: string, seq: number, text = `${nodeId}#${seq}\n`): JobOutputRecord {
  return { jobId, nodeId, seq, stream: OutputStream.OUTPUT_STREAM_STDOUT, data: Buffer.from(text), at: 5_000 + seq };
}

/** A job's whole stored output up to `last`, read `pageSize` chunks at a time as a replay reads it. */
export async function replay(store: JobStore, jobId: string, last: number, pageSize = 1_000): Promise<(OutputRecord & { rowid: number })[]> {
  const all: (OutputRecord & { rowid: number })[] = [];
  for (let after = 0; ; ) {
    const page = await store.outputPage(jobId, after, last, pageSize);
    if (page.length === 0) return all;
    all.push(...page);
    after = page.at(-1)!.rowid;
  }
}

const text = (chunks: OutputRecord[]) => chunks.map((c) => c.data.toString()).join('');

/** Runs the JobStore contract against stores made by `make` (a fresh, empty one per test). */
export function jobStoreContract(name: string, make: () => Promise<JobStore>): void {
  describe(`JobStore contract: ${name}`, () => {
    it('gives back a job as created, with its runs in position order', async () => {
      const store = await make();
      const job = jobRecord('j-1');
      await store.create(job, [runRecord('j-1', 'n-b', 1), runRecord('j-1', 'n-c', 2), runRecord('j-1', 'n-a', 0)]);
      expect(await store.get('j-1')).toEqual(job);
      expect((await store.runs('j-1')).map((r) => r.nodeId)).toEqual(['n-a', 'n-b', 'n-c']);
      expect((await store.runs('j-1'))[0]).toEqual(runRecord('j-1', 'n-a', 0));
      expect(await store.get('j-2')).toBeUndefined();
      expect(await store.runs('j-2')).toEqual([]);
    });

    it('stores a job and its runs together or not at all', async () => {
      const store = await make();
      await store.create(jobRecord('j-1'), []);
      // The second run names the same node: the job and its first run are not kept either.
      await expect(store.create(jobRecord('j-2'), [runRecord('j-2', 'n-1', 0), runRecord('j-2', 'n-1', 1)])).rejects.toThrow();
      expect(await store.get('j-2')).toBeUndefined();
      expect(await store.runs('j-2')).toEqual([]);
      // A job id already taken is refused and the job kept as it was.
      await expect(store.create({ ...jobRecord('j-1'), createdBy: 'someone else' }, [])).rejects.toThrow();
      expect((await store.get('j-1'))?.createdBy).toBe('token:ops');
    });

    it('lists the newest jobs first, up to the limit', async () => {
      const store = await make();
      for (const [id, at] of [['j-a', 3_000], ['j-b', 1_000], ['j-c', 2_000], ['j-d', 2_000]] as const) await store.create(jobRecord(id, at), []);
      // Jobs created in the same millisecond: the greater id first.
      expect((await store.list(10)).map((j) => j.id)).toEqual(['j-a', 'j-d', 'j-c', 'j-b']);
      expect((await store.list(2)).map((j) => j.id)).toEqual(['j-a', 'j-d']);
    });

    it('finds the unfinished jobs, oldest first, and records when a job finished', async () => {
      const store = await make();
      for (const [id, at] of [['j-a', 3_000], ['j-b', 1_000], ['j-c', 2_000]] as const) await store.create(jobRecord(id, at), []);
      await store.finish('j-c', 9_000);
      expect((await store.unfinished()).map((j) => j.id)).toEqual(['j-b', 'j-a']);
      expect((await store.get('j-c'))?.finishedAt).toBe(9_000);
      expect((await store.list(1))[0]).toMatchObject({ id: 'j-a', finishedAt: null });
    });

    it('stores the runs of a batch in their last state, and ignores runs it does not have', async () => {
      const store = await make();
      await store.create(jobRecord('j-1'), [runRecord('j-1', 'n-1', 0), runRecord('j-1', 'n-2', 1)]);
      const started: RunRecord = { ...runRecord('j-1', 'n-1', 0), state: RunState.RUN_STATE_RUNNING, dispatchedAt: 10, startedAt: 11 };
      const failed: RunRecord = { ...started, state: RunState.RUN_STATE_FAILED, exitCode: 0, signal: 'SIGKILL', error: 'killed', finishedAt: 12 };
      const queued: RunRecord = { ...runRecord('j-1', 'n-2', 1), state: RunState.RUN_STATE_QUEUED, queueExpiresAt: 99 };
      expect(await store.write({ runs: [started, queued, failed, runRecord('j-1', 'n-unknown', 2), runRecord('j-none', 'n-1', 0)] })).toEqual([]);
      expect(await store.runs('j-1')).toEqual([failed, queued]);
      expect(await store.runs('j-none')).toEqual([]);
      expect(await store.write({})).toEqual([]);
    });

    it('moves a stored run only forward: a stale write is left out, a final state stays, a result replaces LOST', async () => {
      const store = await make();
      await store.create(jobRecord('j-1'), [runRecord('j-1', 'n-1', 0), runRecord('j-1', 'n-2', 1)]);
      const running: RunRecord = { ...runRecord('j-1', 'n-1', 0), state: RunState.RUN_STATE_RUNNING, startedAt: 11 };
      const dispatched: RunRecord = { ...runRecord('j-1', 'n-1', 0), state: RunState.RUN_STATE_DISPATCHED, dispatchedAt: 10 };
      // Another server stored the agent's start; the driver's older "dispatched" comes after it.
      await store.write({ runs: [running] });
      await store.write({ runs: [dispatched] });
      expect((await store.runs('j-1'))[0]).toEqual(running);
      const succeeded: RunRecord = { ...running, state: RunState.RUN_STATE_SUCCEEDED, exitCode: 0, finishedAt: 12 };
      const lost: RunRecord = { ...running, state: RunState.RUN_STATE_LOST, error: 'no result', finishedAt: 40 };
      await store.write({ runs: [succeeded] });
      await store.write({ runs: [lost] });
      expect((await store.runs('j-1'))[0]).toEqual(succeeded);
      // LOST is final but for a late result.
      const lost2: RunRecord = { ...runRecord('j-1', 'n-2', 1), state: RunState.RUN_STATE_LOST, error: 'no result', finishedAt: 40 };
      const late: RunRecord = { ...lost2, state: RunState.RUN_STATE_FAILED, exitCode: 3, error: null, finishedAt: 41 };
      await store.write({ runs: [lost2] });
      await store.write({ runs: [late] });
      await store.write({ runs: [{ ...late, state: RunState.RUN_STATE_SUCCEEDED, exitCode: 0 }] });
      expect((await store.runs('j-1'))[1]).toEqual(late);
    });

    it('tells new output from a replay, and stores each chunk once', async () => {
      const store = await make();
      await store.create(jobRecord('j-1'), [runRecord('j-1', 'n-1', 0), runRecord('j-1', 'n-2', 1)]);
      expect(await store.write({ output: [chunk('j-1', 'n-1', 1), chunk('j-1', 'n-1', 2)] })).toEqual([true, true]);
      // The agent sends 2 and 3 again (it missed the ack) with 4; 2 comes twice more in the batch,
      // with other bytes; the same seq from another node or in another job is new.
      const again = [chunk('j-1', 'n-1', 2, 'again'), chunk('j-1', 'n-1', 3), chunk('j-1', 'n-1', 3, 'twice'), chunk('j-1', 'n-2', 2), chunk('j-2', 'n-1', 2), chunk('j-1', 'n-1', 4)];
      expect(await store.write({ output: again })).toEqual([false, true, false, true, true, true]);
      const stored = await replay(store, 'j-1', await store.lastOutputRowid('j-1'));
      expect(text(stored)).toBe('n-1#1\nn-1#2\nn-1#3\nn-2#2\nn-1#4\n');
      expect(await store.write({ output: again })).toEqual([false, false, false, false, false, false]);
      expect(await replay(store, 'j-1', await store.lastOutputRowid('j-1'))).toEqual(stored);
    });

    it('gives back every byte, stream and time of the output', async () => {
      const store = await make();
      const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x0a, 0, 0x5c, 0x78]);
      const big = Buffer.alloc(200_000, 'x');
      const written: JobOutputRecord[] = [
        { jobId: 'j-1', nodeId: 'n-1', seq: 1, stream: OutputStream.OUTPUT_STREAM_STDERR, data: bytes, at: 1_796_637_210_684 },
        { jobId: 'j-1', nodeId: 'n-1', seq: 2 ** 40, stream: OutputStream.OUTPUT_STREAM_STDOUT, data: big, at: 1 },
        { jobId: 'j-1', nodeId: 'n-1', seq: 3, stream: OutputStream.OUTPUT_STREAM_STDOUT, data: Buffer.alloc(0), at: 2 },
      ];
      expect(await store.write({ output: written })).toEqual([true, true, true]);
      const read = await replay(store, 'j-1', await store.lastOutputRowid('j-1'));
      // (Bytes compared on their own: a deep comparison of 200 kB takes seconds.)
      expect(read.map(({ rowid: _, data: __, ...o }) => o)).toEqual(written.map(({ jobId: _, data: __, ...o }) => o));
      expect(read.map((o) => Buffer.isBuffer(o.data) && written.some((w) => w.seq === o.seq && w.data.equals(o.data)))).toEqual([true, true, true]);
    });

    it('stores a batch whole or not at all', async () => {
      const store = await make();
      const runs = [runRecord('j-1', 'n-1', 0), runRecord('j-1', 'n-2', 1)];
      await store.create(jobRecord('j-1'), runs);
      const running: RunRecord = { ...runs[0]!, state: RunState.RUN_STATE_RUNNING, startedAt: 7 };
      // A run without a state cannot be stored: the batch fails, its output and other run too.
      const broken = { ...runs[1]!, state: null as unknown as RunState };
      await expect(store.write({ output: [chunk('j-1', 'n-1', 1)], runs: [running, broken] })).rejects.toThrow();
      expect(await store.lastOutputRowid('j-1')).toBe(0);
      expect(await store.runs('j-1')).toEqual(runs);
      // Sent again, the chunk is new: nothing of the failed batch was kept.
      expect(await store.write({ output: [chunk('j-1', 'n-1', 1)], runs: [running] })).toEqual([true]);
      expect(await store.runs('j-1')).toEqual([running, runs[1]]);
    });

    it('replays up to where it began: chunks stored later lie after that position', async () => {
      const store = await make();
      expect(await store.lastOutputRowid('j-1')).toBe(0);
      expect(await store.outputPage('j-1', 0, 0, 10)).toEqual([]);
      // Two jobs' output interleaved, as several agents send it.
      for (let seq = 1; seq <= 5; seq++) await store.write({ output: [chunk('j-1', 'n-1', seq), chunk('j-2', 'n-1', seq), chunk('j-1', 'n-2', seq)] });
      const last = await store.lastOutputRowid('j-1');
      await store.write({ output: [chunk('j-1', 'n-1', 6), chunk('j-2', 'n-1', 6)] });
      const before = await replay(store, 'j-1', last);
      expect(before).toHaveLength(10);
      expect(text(before)).toBe([1, 2, 3, 4, 5].map((s) => `n-1#${s}\nn-2#${s}\n`).join(''));
      const next = await store.lastOutputRowid('j-1');
      expect(next).toBeGreaterThan(last);
      expect(text(await store.outputPage('j-1', last, next, 10))).toBe('n-1#6\n');
      expect(text(await replay(store, 'j-2', await store.lastOutputRowid('j-2')))).toBe([1, 2, 3, 4, 5, 6].map((s) => `n-1#${s}\n`).join(''));
    });

    it('reads output a page at a time, in the order it was stored', async () => {
      const store = await make();
      const written = Array.from({ length: 25 }, (_, i) => chunk('j-1', `n-${i % 3}`, 100 - i));
      await store.write({ output: written.slice(0, 10) });
      await store.write({ output: written.slice(10) });
      const last = await store.lastOutputRowid('j-1');
      const first = await store.outputPage('j-1', 0, last, 7);
      expect(first).toHaveLength(7);
      const second = await store.outputPage('j-1', first.at(-1)!.rowid, last, 7);
      expect(text([...first, ...second])).toBe(text(written.slice(0, 14)));
      // Pages of 4 and of 1,000 read the same chunks; up to an earlier position, fewer.
      expect(text(await replay(store, 'j-1', last, 4))).toBe(text(written));
      expect(text(await replay(store, 'j-1', last))).toBe(text(written));
      expect(text(await replay(store, 'j-1', first[2]!.rowid, 2))).toBe(text(written.slice(0, 3)));
    });
  });
}
