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


interface RunRow {
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

function runFromRow(r: RunRow): RunRecord {
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

interface JobRow {
  id: string;
  created_at: number;
  created_by: string;
  spec: string;
  finished_at: number | null;
}

function jobFromRow(r: JobRow): JobRecord {
  return { id: r.id, createdAt: r.created_at, createdBy: r.created_by, spec: JSON.parse(r.spec) as JobSpec, finishedAt: r.finished_at };
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
  list(limit: number): Promise<JobRecord[]>;
  unfinished(): Promise<JobRecord[]>;
  runs(jobId: string): Promise<RunRecord[]>;
  /**
   * Stores a batch at once: output chunks (each answered true, or false when that job, node and
   * seq was stored before: a replay) and the runs' current state.
   */
  write(batch: { output?: readonly JobOutputRecord[]; runs?: readonly RunRecord[] }): Promise<boolean[]>;
  finish(jobId: string, at: number): Promise<void>;
  /** The newest stored chunk of a job (its rowid), or 0: where a replay that starts now ends. */
  lastOutputRowid(jobId: string): Promise<number>;
  /** Up to `limit` chunks of a job in arrival order, after `afterRowid` and up to `lastRowid`. */
  outputPage(jobId: string, afterRowid: number, lastRowid: number, limit: number): Promise<(OutputRecord & { rowid: number })[]>;
}

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
       WHERE job_id = @jobId AND node_id = @nodeId`,
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
    return row && jobFromRow(row);
  }

  async list(limit: number): Promise<JobRecord[]> {
    return (this.#db.prepare('SELECT * FROM jobs ORDER BY created_at DESC, id DESC LIMIT ?').all(limit) as JobRow[]).map(jobFromRow);
  }

  async unfinished(): Promise<JobRecord[]> {
    return (this.#db.prepare('SELECT * FROM jobs WHERE finished_at IS NULL ORDER BY created_at').all() as JobRow[]).map(jobFromRow);
  }

  async runs(jobId: string): Promise<RunRecord[]> {
    return (this.#db.prepare('SELECT * FROM job_runs WHERE job_id = ? ORDER BY position').all(jobId) as RunRow[]).map(runFromRow);
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
      .all(jobId, afterRowid, lastRowid, limit) as { rowid: number; node_id: string; seq: number; stream: number; data: Buffer; at: number }[];
    return rows.map((r) => ({ rowid: r.rowid, nodeId: r.node_id, seq: r.seq, stream: r.stream as OutputStream, data: r.data, at: r.at }));
  }
}
