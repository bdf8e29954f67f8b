// The result spool: every exec event is appended to spool/<job>.jsonl before it is sent, and the
// file is removed only when the server acknowledges the final event. After a crash or a lost
// link, everything unacknowledged is sent again (the server stores events idempotently by seq).
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ExecEvent } from '../proto/gen/fleet/v1/agent';
import { writeFileAtomic } from '../common/atomic-write';

interface SpooledJob {
  nextSeq: number;
  acked: number;
  finalSeq: number | null;
}

const JOB_ID = /^[a-z]-[0-9a-z]{4,40}$/;
/** How long the ids of finished jobs are remembered, so a re-sent command is not run twice. */
const REMEMBER_MS = 24 * 3_600_000;

export class Spool {
  readonly #dir: string;
  readonly #doneDir: string;
  readonly #log: Logger;
  readonly #jobs = new Map<string, SpooledJob>();

  constructor(dir: string, log: Logger) {
    this.#dir = dir;
    this.#doneDir = join(dir, 'done');
    this.#log = log;
    mkdirSync(this.#doneDir, { recursive: true, mode: 0o700 });
  }

  /** True for ids that may name a spool file (job ids come from the network). */
  static validJobId(jobId: string): boolean {
    return JOB_ID.test(jobId);
  }

  #file(jobId: string): string {
    return join(this.#dir, `${jobId}.jsonl`);
  }

  /**
   * Loads spooled jobs after a start. A job with no final event was cut off by an agent restart:
   * it gets one, so the server learns what happened instead of waiting forever.
   */
  recover(): void {
    const now = Date.now();
    for (const name of readdirSync(this.#doneDir)) {
      const file = join(this.#doneDir, name);
      if (now - statSync(file).mtimeMs > REMEMBER_MS) unlinkSync(file);
    }
    for (const name of readdirSync(this.#dir)) {
      if (!name.endsWith('.jsonl')) continue;
      const jobId = name.slice(0, -'.jsonl'.length);
      const events = this.#read(jobId);
      // Drop a line torn by a crash, so what is appended next starts on a line of its own.
      const intact = events.map((e) => JSON.stringify(ExecEvent.toJSON(e)) + '\n').join('');
      if (readFileSync(this.#file(jobId), 'utf8') !== intact) writeFileAtomic(this.#file(jobId), intact, { mode: 0o600 });
      const last = events.at(-1);
      this.#jobs.set(jobId, { nextSeq: (last ? Number(last.seq) : 0) + 1, acked: 0, finalSeq: last?.body?.$case === 'finished' ? Number(last.seq) : null });
      if (last?.body?.$case !== 'finished') {
        this.#log.warn({ job: jobId }, 'a command was cut off by an agent restart; reporting it as failed');
        this.append(jobId, { $case: 'finished', value: { exitCode: -1, signal: '', timedOut: false, error: 'the agent restarted while the command was running; its outcome is unknown' } });
      }
    }
  }

  #read(jobId: string): ExecEvent[] {
    const events: ExecEvent[] = [];
    for (const line of readFileSync(this.#file(jobId), 'utf8').split('\n')) {
      if (!line) continue;
      try {
        events.push(ExecEvent.fromJSON(JSON.parse(line)));
      } catch {
        // A line torn by a crash mid-write: everything before it is intact.
        break;
      }
    }
    return events;
  }

  /** True when this job is spooled or finished recently: a command for it must not run again. */
  knows(jobId: string): boolean {
    return this.#jobs.has(jobId) || existsSync(join(this.#doneDir, jobId));
  }

  knownJobIds(): string[] {
    return [...this.#jobs.keys()];
  }

  /** Starts spooling a job. */
  begin(jobId: string): void {
    writeFileSync(this.#file(jobId), '', { flag: 'a', mode: 0o600 });
    this.#jobs.set(jobId, { nextSeq: 1, acked: 0, finalSeq: null });
  }

  /** Appends one event (numbering it) and returns it, ready to send. */
  append(jobId: string, body: NonNullable<ExecEvent['body']>): ExecEvent {
    const job = this.#jobs.get(jobId);
    if (!job) throw new Error(`job ${jobId} is not spooled`);
    const event: ExecEvent = { jobId, seq: job.nextSeq++, atUnixMs: Date.now(), body };
    appendFileSync(this.#file(jobId), JSON.stringify(ExecEvent.toJSON(event)) + '\n');
    if (body.$case === 'finished') job.finalSeq = Number(event.seq);
    return event;
  }

  /** The server stored everything up to `seq`; a fully acknowledged job leaves the spool. */
  ack(jobId: string, seq: number): void {
    const job = this.#jobs.get(jobId);
    if (!job) return;
    job.acked = Math.max(job.acked, seq);
    if (job.finalSeq !== null && job.acked >= job.finalSeq) {
      writeFileSync(join(this.#doneDir, jobId), '');
      unlinkSync(this.#file(jobId));
      this.#jobs.delete(jobId);
    }
  }

  /** Every event not yet acknowledged, job by job in order. */
  unacknowledged(): ExecEvent[] {
    const out: ExecEvent[] = [];
    for (const [jobId, job] of this.#jobs) out.push(...this.#read(jobId).filter((e) => Number(e.seq) > job.acked));
    return out;
  }
}
