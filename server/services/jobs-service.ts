// Jobs: start one on nodes, list and show them, follow one's events to the end. A limited token
// may start jobs only within its scope and sees only the jobs that ran entirely within it.
import type { GetJobRequest, Job, JobEvent, ListJobsRequest, ListJobsResponse, NodeOutput, StartJobRequest } from '../../proto/gen/fleet/v1/control';
import { JobNotFoundError } from '../errors';
import type { JobDispatcher } from '../jobs';
import { Role } from '../store';
import { actorOf, type Caller } from './caller';
import type { Gate } from './gate';

/** The most jobs one list answers. */
const MAX_JOBS = 500;

export interface JobsDeps {
  gate: Gate;
  dispatcher: JobDispatcher;
}

export class JobsService {
  readonly #d: JobsDeps;

  constructor(d: JobsDeps) {
    this.#d = d;
  }

  /** A job the caller may see (every node it ran on within the scope); otherwise audited and not found. */
  async #visible(caller: Caller, id: string, operation: string): Promise<Job> {
    const job = await this.#d.dispatcher.describe(id);
    if (!(await this.#d.gate.access.seesIds(caller.principal, job.runs.map((r) => r.nodeId)))) {
      await this.#d.gate.hidden(caller, operation, `job ${job.id}`);
      throw new JobNotFoundError(id);
    }
    return job;
  }

  async startJob(caller: Caller, req: StartJobRequest): Promise<Job> {
    this.#d.gate.require(caller, Role.Operator);
    return this.#d.dispatcher.startJob(req, actorOf(caller), (targets) => this.#d.gate.access.requireNodes(caller.principal, targets, 'this job'));
  }

  async listJobs(caller: Caller, req: ListJobsRequest): Promise<ListJobsResponse> {
    this.#d.gate.require(caller, Role.Viewer);
    const limit = Math.min(req.limit || 20, MAX_JOBS);
    return { jobs: await this.#d.gate.access.newestVisible(caller.principal, limit, (n) => this.#d.dispatcher.list(n), (j) => j.runs.map((r) => r.nodeId)) };
  }

  async getJob(caller: Caller, req: GetJobRequest): Promise<Job> {
    this.#d.gate.require(caller, Role.Viewer);
    return this.#visible(caller, req.id, 'GetJob');
  }

  /** A job and its stored output, read lazily (the output may be large). */
  async jobOutput(caller: Caller, req: GetJobRequest): Promise<{ job: Job; output: AsyncIterable<NodeOutput> }> {
    this.#d.gate.require(caller, Role.Viewer);
    const job = await this.#visible(caller, req.id, 'GetJob');
    return { job, output: await this.#d.dispatcher.storedOutput(job.id) };
  }

  /**
   * Replays a job's stored events, then its live ones, to `send` until the job is done; returns a
   * function that stops following. `send` may return a promise to hold the replay back (a slow reader).
   */
  async watchJob(caller: Caller, req: GetJobRequest, send: (event: JobEvent) => void | Promise<void>): Promise<() => void> {
    this.#d.gate.require(caller, Role.Viewer);
    await this.#visible(caller, req.id, 'WatchJob');
    return this.#d.dispatcher.follow(req.id, send);
  }
}
