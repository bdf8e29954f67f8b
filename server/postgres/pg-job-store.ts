// Jobs, each node's run of a job, and the output the agents sent back, in PostgreSQL: the
// JobStore of several fleet-servers on one database. Each server stores the events of the agents
// connected to it, so one job's output may be written by several servers at once: a write takes a
// per-job lock for its transaction, which keeps each job's output positions in commit order (the
// replay boundary stays exact) and lets a replayed chunk be told from a new one.
import type { PoolClient } from 'pg';
import { runMayBecomeSql, toJobRecord, toOutputRecord, toRunRecord, type JobOutputRecord, type JobRecord, type JobRow, type JobStore, type OutputRecord, type OutputRow, type RunRecord, type RunRow } from '../store';
import { inTransaction, type PgPool } from './pg-database';

/** The first key of the per-job advisory locks ("jobs" in ASCII); the second is hashtext(job id). */
const JOB_LOCK = 0x6a6f6273;

/**
 * Takes the transaction's lock on each job named in $2, in key order so that two writers never wait
 * for each other in a circle. (A volatile function in the select list runs after the sort.)
 */
const LOCK_JOBS = 'SELECT pg_advisory_xact_lock($1, k) FROM (SELECT DISTINCT hashtext(j) AS k FROM unnest($2::text[]) AS j) AS keys ORDER BY k';

const RUN_COLUMNS = 'job_id, node_id, node_name, position, state, exit_code, signal, error, queue_expires_at, dispatched_at, started_at, finished_at';

/** Runs as rows `u` from twelve parameter arrays ($1–$12), in the order `runColumns` gives them. */
const RUN_ROWS = `unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::int[], $6::int[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[]) AS u (${RUN_COLUMNS})`;

function runColumns(runs: readonly RunRecord[]): unknown[][] {
  const fields = ['jobId', 'nodeId', 'nodeName', 'position', 'state', 'exitCode', 'signal', 'error', 'queueExpiresAt', 'dispatchedAt', 'startedAt', 'finishedAt'] as const;
  return fields.map((f) => runs.map((r) => r[f]));
}

/** The last state of each run named in `runs` (a batch may name a run twice; the later one wins). */
function lastStates(runs: readonly RunRecord[]): RunRecord[] {
  return [...new Map(runs.map((r) => [`${r.jobId}\0${r.nodeId}`, r])).values()];
}

/**
 * JobStore in PostgreSQL.
 *
 * Concurrency: `write` takes a transaction-scoped advisory lock on every job its batch names
 * before it writes, so one job's writes commit one at a time while different jobs' go on in
 * parallel. Output positions (an identity column) are drawn under that lock, so within a job they
 * grow in commit order: `lastOutputRowid` (the largest visible position) is an exact cut, with
 * every chunk below it already committed and every later one above it, even with several servers
 * writing the job's output. Chunks are inserted with ON CONFLICT DO NOTHING on (job, node, seq);
 * a chunk another server stored first, or stores meanwhile, is answered false and not stored twice.
 * Runs are updates guarded by state (runMayBecome): the server driving a job and the servers its
 * agents report to write the same runs, and a stale write never undoes a newer one.
 */
export class PgJobStore implements JobStore {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  /** Stores a new job and its runs in one transaction. */
  async create(job: JobRecord, runs: RunRecord[]): Promise<void> {
    await inTransaction(this.#pool, async (client) => {
      await client.query('INSERT INTO jobs (id, created_at, created_by, spec, finished_at) VALUES ($1, $2, $3, $4, $5)', [
        job.id,
        job.createdAt,
        job.createdBy,
        JSON.stringify(job.spec),
        job.finishedAt,
      ]);
      if (runs.length) await client.query(`INSERT INTO job_runs (${RUN_COLUMNS}) SELECT * FROM ${RUN_ROWS}`, runColumns(runs));
    });
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const { rows } = await this.#pool.query<JobRow>('SELECT * FROM jobs WHERE id = $1', [id]);
    return rows[0] && toJobRecord(rows[0]);
  }

  /** The newest `limit` jobs, newest first (ids compared byte by byte, as SQLite does). */
  async list(limit: number): Promise<JobRecord[]> {
    const { rows } = await this.#pool.query<JobRow>('SELECT * FROM jobs ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT $1', [limit]);
    return rows.map(toJobRecord);
  }

  async unfinished(): Promise<JobRecord[]> {
    const { rows } = await this.#pool.query<JobRow>('SELECT * FROM jobs WHERE finished_at IS NULL ORDER BY created_at, id COLLATE "C"');
    return rows.map(toJobRecord);
  }

  async runs(jobId: string): Promise<RunRecord[]> {
    const { rows } = await this.#pool.query<RunRow>('SELECT * FROM job_runs WHERE job_id = $1 ORDER BY position', [jobId]);
    return rows.map(toRunRecord);
  }

  /** Stores a batch in one transaction under its jobs' locks (see the class comment). */
  async write(batch: { output?: readonly JobOutputRecord[]; runs?: readonly RunRecord[] }): Promise<boolean[]> {
    const output = batch.output ?? [];
    const runs = lastStates(batch.runs ?? []);
    if (output.length === 0 && runs.length === 0) return [];
    return inTransaction(this.#pool, async (client) => {
      const jobs = new Set([...output.map((o) => o.jobId), ...runs.map((r) => r.jobId)]);
      await client.query(LOCK_JOBS, [JOB_LOCK, [...jobs]]);
      const fresh = output.length ? await this.#insertOutput(client, output) : [];
      if (runs.length) {
        await client.query(
          `UPDATE job_runs AS r SET state = u.state, exit_code = u.exit_code, signal = u.signal, error = u.error, queue_expires_at = u.queue_expires_at,
             dispatched_at = u.dispatched_at, started_at = u.started_at, finished_at = u.finished_at
           FROM ${RUN_ROWS} WHERE r.job_id = u.job_id AND r.node_id = u.node_id AND ${runMayBecomeSql('r.state', 'u.state')}`,
          runColumns(runs),
        );
      }
      return fresh;
    });
  }

  /** Inserts the chunks in one statement, in order; true for each one stored now. */
  async #insertOutput(client: PoolClient, output: readonly JobOutputRecord[]): Promise<boolean[]> {
    const { rows } = await client.query<{ job_id: string; node_id: string; seq: number }>(
      `INSERT INTO job_output (job_id, node_id, seq, stream, data, at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::int[], $5::bytea[], $6::bigint[])
       ON CONFLICT (job_id, node_id, seq) DO NOTHING RETURNING job_id, node_id, seq`,
      [output.map((o) => o.jobId), output.map((o) => o.nodeId), output.map((o) => o.seq), output.map((o) => o.stream), output.map((o) => o.data), output.map((o) => o.at)],
    );
    const stored = new Set(rows.map((r) => `${r.job_id}\0${r.node_id}\0${r.seq}`));
    // A chunk named twice in the batch was stored (at most) once, the first time.
    return output.map((o) => stored.delete(`${o.jobId}\0${o.nodeId}\0${o.seq}`));
  }

  async finish(jobId: string, at: number): Promise<void> {
    await this.#pool.query('UPDATE jobs SET finished_at = $1 WHERE id = $2', [at, jobId]);
  }

  /** The largest committed position of the job's output, or 0: an exact replay boundary (see the class comment). */
  async lastOutputRowid(jobId: string): Promise<number> {
    const { rows } = await this.#pool.query<{ last: number }>('SELECT coalesce(max(id), 0) AS last FROM job_output WHERE job_id = $1', [jobId]);
    return rows[0]!.last;
  }

  /** Up to `limit` chunks of a job in the order they were stored, after `afterRowid` and up to `lastRowid`. */
  async outputPage(jobId: string, afterRowid: number, lastRowid: number, limit: number): Promise<(OutputRecord & { rowid: number })[]> {
    const { rows } = await this.#pool.query<OutputRow>(
      'SELECT id AS rowid, node_id, seq, stream, data, at FROM job_output WHERE job_id = $1 AND id > $2 AND id <= $3 ORDER BY id LIMIT $4',
      [jobId, afterRowid, lastRowid, limit],
    );
    return rows.map(toOutputRecord);
  }
}
