// Jobs, each node's run of a job, and the output the agents sent back.
import type { RunState } from '../../proto/gen/fleet/v1/control';
import type { OutputStream } from '../../proto/gen/fleet/v1/common';
import type { Db } from './database';

export interface JobSpec {
  argv: string[];
  shell: string;
  selector: string;
  nodes: string[];
  maxConcurrency: string;
  maxErrors: number;
  timeoutMs: number;
  queueTtlMs: number;
}

export interface JobRecord {
  id: string;
  createdAt: number;
  createdBy: string;
  spec: JobSpec;
  finishedAt: number | null;
}

export interface RunRecord {
  jobId: string;
  nodeId: string;
  nodeName: string;
  position: number;
  state: RunState;
  exitCode: number | null;
  signal: string | null;
  error: string | null;
  queueExpiresAt: number | null;
  dispatchedAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface OutputRecord {
  nodeId: string;
  seq: number;
  stream: OutputStream;
  data: Buffer;
  at: number;
}

/** A job_runs row as both SQLite and PostgreSQL return it (BIGINT read as numbers). */
export interface RunRow {
  job_id: string;
  node_id: string;
  node_name: string;
  position: number;
  state: number;
  exit_code: number | null;
  signal: string | null;
  error: string | null;
  queue_expires_at: number | null;
  dispatched_at: number | null;
  started_at: number | null;
  finished_at: number | null;
}

/** A job_runs row as a RunRecord (shared with the PostgreSQL driver). */
export function toRunRecord(r: RunRow): RunRecord {
  return {
    jobId: r.job_id,
    nodeId: r.node_id,
    nodeName: r.node_name,
    position: r.position,
    state: r.state as RunState,
    exitCode: r.exit_code,
    signal: r.signal,
    error: r.error,
    queueExpiresAt: r.queue_expires_at,
    dispatchedAt: r.dispatched_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

/** A jobs row (the spec is JSON text in both databases). */
export interface JobRow {
  id: string;
  created_at: number;
  created_by: string;
  spec: string;
  finished_at: number | null;
}

/** A jobs row as a JobRecord (shared with the PostgreSQL driver). */
export function toJobRecord(r: JobRow): JobRecord {
  return { id: r.id, createdAt: r.created_at, createdBy: r.created_by, spec: JSON.parse(r.spec) as JobSpec, finishedAt: r.finished_at };
}

/** A job_output row with its position in the job's output (`rowid` in SQLite, `id` in PostgreSQL). */
export interface OutputRow {
  rowid: number;
  node_id: string;
  seq: number;
  stream: number;
  data: Buffer;
  at: number;
}

/** A job_output row as an OutputRecord with its position (shared with the PostgreSQL driver). */
export function toOutputRecord(r: OutputRow): OutputRecord & { rowid: number } {
  return { rowid: r.rowid, nodeId: r.node_id, seq: r.seq, stream: r.stream as OutputStream, data: r.data, at: r.at };
}

/** One chunk of output of a job, as the dispatcher stores it. */
export interface JobOutputRecord extends OutputRecord {
  jobId: string;
}

/**
 * Where jobs, their runs and their output live; every call is async so a shared database can
 * stand behind it. Hot-path writes come in batches: each batch is stored whole or not at all.
 */
export interface JobStore {
  /** Stores a new job and its runs in one transaction. */
  create(job: JobRecord, runs: RunRecord[]): Promise<void>;
  get(id: string): Promise<JobRecord | undefined>;
  /** The newest `limit` jobs, newest first (by creation time, then id). */
  list(limit: number): Promise<JobRecord[]>;
  /** Jobs not finished, oldest first: what a server resumes when it starts. */
  unfinished(): Promise<JobRecord[]>;
  /** A job's runs in their position order. */
  runs(jobId: string): Promise<RunRecord[]>;
  /**
   * Stores a batch at once: output chunks and the runs' current state (a run that is not stored
   * is left out; one named twice ends in its last state). Answers one flag per chunk, in order:
   * true when it was stored now, false when that job, node and seq was stored before (a replay,
   * by this server or another one at the same time, or earlier in the same batch), which is then
   * not stored again. Several servers may write the same job's output at once.
   *
   * A run's stored state only moves forward (common/run-states.ts runMayBecome): a write that
   * would take it back, or change a final state other than LOST, is left out. With several
   * servers, the one driving a job and the ones its agents report to both write its runs.
   */
  write(batch: { output?: readonly JobOutputRecord[]; runs?: readonly RunRecord[] }): Promise<boolean[]>;
  finish(jobId: string, at: number): Promise<void>;
  /**
   * The position of the newest stored chunk of a job, or 0: where a replay that starts now ends.
   * Positions grow in the order chunks are stored, so a replay up to it (`outputPage`) sees
   * exactly the chunks stored before this call, and every chunk stored after the call lies above
   * it, whenever the pages are read. This holds when several servers write the job's output at
   * once too (PostgreSQL: `PgJobStore` stores one job's output one transaction at a time).
   */
  lastOutputRowid(jobId: string): Promise<number>;
  /** Up to `limit` chunks of a job in the order they were stored, after `afterRowid` and up to `lastRowid`. */
  outputPage(jobId: string, afterRowid: number, lastRowid: number, limit: number): Promise<(OutputRecord & { rowid: number })[]>;
}

/** SQL for runStateRank of the state in `column`. */
const runRankSql = (column: string) => `(CASE WHEN ${column} <= 4 THEN ${column} WHEN ${column} = 10 THEN 5 ELSE 6 END)`;

/**
 * SQL that is true when a stored run in state `from` may be set to `to` (common/run-states.ts
 * runMayBecome), for the guarded updates of both databases.
 */
export const runMayBecomeSql = (from: string, to: string) => `(${runRankSql(from)} < 6 AND ${runRankSql(to)} >= ${runRankSql(from)})`;

/** JobStore in SQLite (better-sqlite3): the embedded default. */
export class SqliteJobStore implements JobStore {
  readonly #db: Db;
  readonly #updateRun;
  readonly #insertOutput;

  constructor(db: Db) {
    this.#db = db;
    this.#updateRun = db.prepare(
      `UPDATE job_runs SET state = @state, exit_code = @exitCode, signal = @signal, error = @error,
         queue_expires_at = @queueExpiresAt, dispatched_at = @dispatchedAt, started_at = @startedAt, finished_at = @finishedAt
       WHERE job_id = @jobId AND node_id = @nodeId AND ${runMayBecomeSql('state', '@state')}`,
    );
    this.#insertOutput = db.prepare('INSERT OR IGNORE INTO job_output (job_id, node_id, seq, stream, data, at) VALUES (?, ?, ?, ?, ?, ?)');
  }

  /** Stores a new job and its runs in one transaction. */
  async create(job: JobRecord, runs: RunRecord[]): Promise<void> {
    const insertRun = this.#db.prepare(
      `INSERT INTO job_runs (job_id, node_id, node_name, position, state, exit_code, signal, error, queue_expires_at, dispatched_at, started_at, finished_at)
       VALUES (@jobId, @nodeId, @nodeName, @position, @state, @exitCode, @signal, @error, @queueExpiresAt, @dispatchedAt, @startedAt, @finishedAt)`,
    );
    this.#db.transaction(() => {
      this.#db
        .prepare('INSERT INTO jobs (id, created_at, created_by, spec, finished_at) VALUES (?, ?, ?, ?, ?)')
        .run(job.id, job.createdAt, job.createdBy, JSON.stringify(job.spec), job.finishedAt);
      for (const run of runs) insertRun.run(run);
    })();
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const row = this.#db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    return row && toJobRecord(row);
  }

  async list(limit: number): Promise<JobRecord[]> {
    return (this.#db.prepare('SELECT * FROM jobs ORDER BY created_at DESC, id DESC LIMIT ?').all(limit) as JobRow[]).map(toJobRecord);
  }

  async unfinished(): Promise<JobRecord[]> {
    return (this.#db.prepare('SELECT * FROM jobs WHERE finished_at IS NULL ORDER BY created_at').all() as JobRow[]).map(toJobRecord);
  }

  async runs(jobId: string): Promise<RunRecord[]> {
    return (this.#db.prepare('SELECT * FROM job_runs WHERE job_id = ? ORDER BY position').all(jobId) as RunRow[]).map(toRunRecord);
  }

  async write(batch: { output?: readonly JobOutputRecord[]; runs?: readonly RunRecord[] }): Promise<boolean[]> {
    return this.#db.transaction(() => {
      const stored = (batch.output ?? []).map((o) => this.#insertOutput.run(o.jobId, o.nodeId, o.seq, o.stream, o.data, o.at).changes === 1);
      for (const run of batch.runs ?? []) this.#updateRun.run(run);
      return stored;
    })();
  }

  async finish(jobId: string, at: number): Promise<void> {
    this.#db.prepare('UPDATE jobs SET finished_at = ? WHERE id = ?').run(at, jobId);
  }

  /** The newest stored chunk of a job (its rowid), or 0: where a replay that starts now ends. */
  async lastOutputRowid(jobId: string): Promise<number> {
    return (this.#db.prepare('SELECT coalesce(max(rowid), 0) AS last FROM job_output WHERE job_id = ?').get(jobId) as { last: number }).last;
  }

  /** Up to `limit` chunks of a job in arrival order, after `afterRowid` and up to `lastRowid`. */
  async outputPage(jobId: string, afterRowid: number, lastRowid: number, limit: number): Promise<(OutputRecord & { rowid: number })[]> {
    const rows = this.#db
      .prepare('SELECT rowid, node_id, seq, stream, data, at FROM job_output WHERE job_id = ? AND rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?')
      .all(jobId, afterRowid, lastRowid, limit) as OutputRow[];
    return rows.map(toOutputRecord);
  }
}
