// The job dispatcher: resolves a job's targets, sends signed exec commands to agents within the
// job's rate limits (max concurrency, max errors), reports or queues offline nodes, stores the
// events agents send back (idempotently, in batches), acknowledges them, and tells watchers.
// Unfinished jobs are picked up again after a server restart. The jobs it drives live in memory;
// the store is written behind, in order, one batch at a time (see #write).
//
// With several replicas (`replicated`), each job is driven by the replica holding its lease, and
// each replica stores the events of the agents connected to it: the driver sends commands through
// whichever replica holds a node's link (ClusterLinks), hears the runs the others store on the bus
// (and reads them back from the store every scan, in case an event was missed), and a replica
// takes over an unfinished job whose lease lapsed (its driver died). The store keeps a run from
// moving backwards (runMayBecome), so the writers never undo each other.
import type { Logger } from 'pino';
import type { CommandRejected, ExecEvent } from '../../proto/gen/fleet/v1/agent';
import type { CommandSender } from '../commands';
import { OutputStream } from '../../proto/gen/fleet/v1/common';
import { RunState, type Job, type JobEvent, type NodeOutput, type NodeRun, type StartJobRequest } from '../../proto/gen/fleet/v1/control';
import type { AgentHub, AgentHubListener } from '../agent-hub';
import { jobTopic, LocalBus, LocalLeases, type DriverLeases, type EventBus } from '../bus';
import { InvalidRequestError, JobNotFoundError } from '../errors';
import { resolveTargets } from '../targets';
import { newId } from '../ids';
import type { AuditLog, JobOutputRecord, JobRecord, JobStore, NodeRecord, NodeStore, RunRecord } from '../store';
import { runMayBecome, runStateRank, TERMINAL_RUN_STATES } from '../../common/run-states';
import type { Metrics } from '../metrics';
import { concurrencyLimit } from './concurrency';

/** A dispatched run with no result this long after its timeout is marked LOST. */
export const LOST_GRACE_MS = 30_000;
const MAX_COMMAND_BYTES = 64 * 1024;
const MAX_TIMEOUT_MS = 7 * 86_400_000;
/** Agent events held in memory while the store is away, at most (see #retryLater). */
const RETAINED_EVENTS = 200_000;
/** Stored output chunks read per query when replaying a job. */
const OUTPUT_PAGE = 256;

interface ActiveJob {
  job: JobRecord;
  runs: Map<string, RunRecord>;
  limit: number;
  /**
   * Runs not dispatched yet (pending or queued), in position order, from `head` on. Runs that
   * moved on are dropped when the walk reaches them, so moving a job forward never rescans or
   * sorts all of its runs (with 10,000 runs and an event batch every few milliseconds, it did).
   */
  waiting: RunRecord[];
  head: number;
  /** Counts kept up to date by #setRun. */
  inFlight: number;
  failures: number;
  terminal: number;
  /** Stops hearing the job's runs from other replicas (replicated only). */
  unsubscribe: () => void;
}

const isWaiting = (r: RunRecord) => r.state === RunState.RUN_STATE_PENDING || r.state === RunState.RUN_STATE_QUEUED;

function activeJob(job: JobRecord, runs: RunRecord[], limit: number): ActiveJob {
  const count = (states: ReadonlySet<RunState>) => runs.filter((r) => states.has(r.state)).length;
  return {
    job,
    runs: new Map(runs.map((r) => [r.nodeId, r])),
    limit,
    waiting: runs.filter(isWaiting).sort((a, b) => a.position - b.position),
    head: 0,
    inFlight: count(IN_FLIGHT),
    failures: count(FAILED_STATES),
    terminal: count(TERMINAL_RUN_STATES),
    unsubscribe: () => {},
  };
}

/** A job event on the bus; output carries the agent's sequence number, so a follower can drop what its replay already sent. */
export type BusJobEvent = JobEvent & { seq?: number };

const FAILED_STATES: ReadonlySet<RunState> = new Set([RunState.RUN_STATE_FAILED, RunState.RUN_STATE_TIMED_OUT, RunState.RUN_STATE_LOST]);
const IN_FLIGHT: ReadonlySet<RunState> = new Set([RunState.RUN_STATE_DISPATCHED, RunState.RUN_STATE_RUNNING]);

/** What the dispatcher needs of the agent links: the hub, or a replica's view of all of them (ClusterLinks). */
export type DispatchLinks = Pick<AgentHub, 'isOnline' | 'isRestarting' | 'send'>;

export class JobDispatcher implements Pick<AgentHubListener, 'onOnline' | 'onOffline' | 'onExecEvent' | 'onCommandRejected'> {
  readonly #jobs: JobStore;
  readonly #nodes: NodeStore;
  readonly #hub: DispatchLinks;
  readonly #scanMs: number;
  readonly #audit: AuditLog;
  readonly #log: Logger;
  readonly #commands: Pick<CommandSender, 'send'>;
  readonly #defaultTimeoutMs: number;
  readonly #metrics: Pick<Metrics, 'jobStarted' | 'runDispatched' | 'runFinished'> | undefined;
  readonly #active = new Map<string, ActiveJob>();
  readonly #bus: EventBus;
  readonly #leases: DriverLeases;
  #inbox: { nodeId: string; event: ExecEvent }[] = [];
  #flushScheduled = false;
  #timer: NodeJS.Timeout | undefined;
  /** The last store write queued: every write waits for the one before, so they land in order. */
  #writing: Promise<unknown> = Promise.resolve();
  /** Runs changed in memory and not yet queued for the store. */
  readonly #dirty = new Set<RunRecord>();
  #saveScheduled = false;

  constructor(deps: {
    jobs: JobStore;
    nodes: NodeStore;
    hub: DispatchLinks;
    audit: AuditLog;
    log: Logger;
    commands: Pick<CommandSender, 'send'>;
    /**
     * Other replicas drive jobs too (shared store, bus and leases): hear their run changes, read
     * the driven jobs' runs back and look for jobs to take over every `scanMs`.
     */
    replicated?: { scanMs: number };
    defaultTimeoutMs: number;
    metrics?: Pick<Metrics, 'jobStarted' | 'runDispatched' | 'runFinished'>;
    /** Where job events go to followers (default: in-process). */
    bus?: EventBus;
    /** Which jobs this server drives (default: all it starts or finds unfinished). */
    leases?: DriverLeases;
  }) {
    this.#bus = deps.bus ?? new LocalBus(deps.log);
    this.#leases = deps.leases ?? new LocalLeases();
    this.#metrics = deps.metrics;
    this.#jobs = deps.jobs;
    this.#nodes = deps.nodes;
    this.#hub = deps.hub;
    this.#audit = deps.audit;
    this.#log = deps.log;
    this.#commands = deps.commands;
    this.#defaultTimeoutMs = deps.defaultTimeoutMs;
    this.#scanMs = deps.replicated?.scanMs ?? 0;
  }

  #scanTimer: NodeJS.Timeout | undefined;
  #scanning = false;

  /** Reloads unfinished jobs and starts the timer for queue expiry and lost runs. */
  async start(): Promise<void> {
    if (this.#scanMs) this.#leases.onLost((id) => this.#lose(id));
    const resumed = await this.#takeOver();
    if (resumed) this.#log.info({ jobs: resumed }, 'resuming unfinished jobs');
    this.#timer = setInterval(() => this.#tick(), 1000);
    this.#timer.unref();
    if (this.#scanMs) {
      this.#scanTimer = setInterval(() => void this.#scan(), this.#scanMs);
      this.#scanTimer.unref();
    }
  }

  /**
   * Starts driving the unfinished jobs this server can claim (another replica may drive some:
   * then their events come over the bus). Answers how many it took.
   */
  async #takeOver(): Promise<number> {
    let taken = 0;
    for (const job of await this.#jobs.unfinished()) {
      if (this.#active.has(job.id) || !(await this.#leases.claim(job.id))) continue;
      const runs = await this.#jobs.runs(job.id);
      // Finished or taken meanwhile (by this server's own startJob, for one).
      if (this.#active.has(job.id)) continue;
      const active = this.#activate(job, runs, concurrencyLimit(job.spec.maxConcurrency, runs.length));
      taken++;
      if (this.#scanMs) {
        this.#log.info({ job: job.id }, 'took over a job whose driver stopped');
        // Commands the last driver sent may not have arrived: sent again (an agent ignores a job it knows).
        for (const run of active.runs.values()) if (IN_FLIGHT.has(run.state) && this.#hub.isOnline(run.nodeId)) this.#sendCommand(active, run);
        this.#pump(active, true);
      }
    }
    return taken;
  }

  /** Drives a job from now on: kept in memory and, with other replicas, hearing the runs they store. */
  #activate(job: JobRecord, runs: RunRecord[], limit: number): ActiveJob {
    const active = activeJob(job, runs, limit);
    this.#active.set(job.id, active);
    if (this.#scanMs) active.unsubscribe = this.#bus.subscribe<BusJobEvent>(jobTopic(job.id), (e) => this.#heard(active, e));
    return active;
  }

  /** A run another replica stored (its agent reports there): taken in when it moved forward. */
  #heard(active: ActiveJob, event: BusJobEvent): void {
    if (event.body?.$case !== 'run' || this.#active.get(active.job.id) !== active) return;
    if (this.#merge(active, fromRunMessage(event.body.value))) this.#pump(active);
  }

  /** Takes a run's newer state (from another replica) into memory; true when it changed. */
  #merge(active: ActiveJob, newer: Pick<RunRecord, 'nodeId' | 'state' | 'exitCode' | 'signal' | 'error' | 'startedAt' | 'finishedAt'>): boolean {
    const run = active.runs.get(newer.nodeId);
    if (!run || runStateRank(newer.state) <= runStateRank(run.state) || !runMayBecome(run.state, newer.state)) return false;
    const { state, exitCode, signal, error, startedAt, finishedAt } = newer;
    this.#applyRun(active, run, { state, exitCode, signal, error, startedAt: startedAt ?? run.startedAt, finishedAt });
    return true;
  }

  /** Every scanMs with other replicas: read the driven jobs' runs back, and take over jobs left without a driver. */
  async #scan(): Promise<void> {
    if (this.#scanning) return;
    this.#scanning = true;
    try {
      for (const active of [...this.#active.values()]) {
        if (active.inFlight === 0) continue;
        let changed = false;
        for (const run of await this.#jobs.runs(active.job.id)) changed = this.#merge(active, run) || changed;
        if (changed) this.#pump(active);
      }
      await this.#takeOver();
    } catch (err) {
      this.#log.warn({ err }, 'could not check the jobs other replicas drive');
    } finally {
      this.#scanning = false;
    }
  }

  /** This server's lease on a job lapsed (another replica may drive it now): stop driving it. */
  #lose(jobId: string): void {
    const active = this.#active.get(jobId);
    if (!active) return;
    this.#log.warn({ job: jobId }, 'lost the lease on a job; another replica drives it now');
    active.unsubscribe();
    this.#active.delete(jobId);
  }

  /** Stops the timer and stores what is still in memory. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    clearInterval(this.#scanTimer);
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    await this.#flush();
    this.#saveDirty();
    await this.#writing;
  }

  /**
   * Validates and stores a job, then starts dispatching it. `authorize` sees the resolved targets
   * first and throws to refuse the job (a token limited to a selector).
   */
  async startJob(request: StartJobRequest, actor: string, authorize?: (targets: readonly NodeRecord[]) => void): Promise<Job> {
    const spec = {
      argv: request.argv,
      shell: request.shell,
      selector: request.selector.trim(),
      nodes: request.nodes,
      maxConcurrency: request.maxConcurrency.trim(),
      maxErrors: request.maxErrors,
      timeoutMs: Number(request.timeoutMs) || this.#defaultTimeoutMs,
      queueTtlMs: Number(request.queueTtlMs),
    };
    if ((spec.argv.length > 0) === (spec.shell !== '')) throw new InvalidRequestError('give either a program with arguments or a shell script, not both or neither');
    if (spec.argv.length > 0 && spec.argv[0] === '') throw new InvalidRequestError('the program name is empty');
    if (Buffer.byteLength(spec.argv.join('\0') + spec.shell) > MAX_COMMAND_BYTES) throw new InvalidRequestError(`the command is larger than ${MAX_COMMAND_BYTES} bytes`);
    if (spec.timeoutMs > MAX_TIMEOUT_MS) throw new InvalidRequestError('the timeout is longer than 7 days');
    const targets = await resolveTargets(this.#nodes, { selector: spec.selector, nodes: spec.nodes, all: request.all });
    authorize?.(targets);
    const limit = concurrencyLimit(spec.maxConcurrency, targets.length);
    const now = Date.now();
    const job: JobRecord = { id: newId('j'), createdAt: now, createdBy: actor, spec, finishedAt: null };
    const runs: RunRecord[] = targets.map((n, position) => ({
      jobId: job.id,
      nodeId: n.id,
      nodeName: n.name,
      position,
      state: RunState.RUN_STATE_PENDING,
      exitCode: null,
      signal: null,
      error: null,
      queueExpiresAt: null,
      dispatchedAt: null,
      startedAt: null,
      finishedAt: null,
    }));
    // The lease first: another replica's scan must not take over a job before its creator drives it.
    await this.#leases.claim(job.id);
    await this.#write(() => this.#jobs.create(job, runs)).catch(async (err: unknown) => {
      await this.#leases.release(job.id).catch(() => {});
      throw err;
    });
    const what = spec.shell ? `sh -c ${JSON.stringify(spec.shell)}` : JSON.stringify(spec.argv);
    await this.#audit.record({ actor, action: 'job.start', target: job.id, ok: true, detail: `${what} on ${targets.length} node(s)` });
    this.#log.info({ job: job.id, nodes: targets.length, by: actor }, 'job started');
    this.#metrics?.jobStarted();
    const active = this.#activate(job, runs, limit);
    this.#pump(active, true);
    return this.describe(job.id);
  }

  /** The job with its runs, as the Control service returns it (what this server wrote is read back). */
  async describe(jobId: string): Promise<Job> {
    await this.#writing;
    return this.#describeNow(jobId);
  }

  /** The job from memory when this server drives it, else from the store. */
  async #describeNow(jobId: string): Promise<Job> {
    const active = this.#active.get(jobId);
    if (active) return toJobMessage(active.job, [...active.runs.values()].sort((a, b) => a.position - b.position));
    const job = await this.#jobs.get(jobId);
    if (!job) throw new JobNotFoundError(jobId);
    return toJobMessage(job, await this.#jobs.runs(jobId));
  }

  /** Newest jobs first. */
  async list(limit: number): Promise<Job[]> {
    await this.#writing;
    const jobs: Job[] = [];
    for (const j of await this.#jobs.list(limit)) jobs.push(await this.#describeNow(j.id));
    return jobs;
  }

  /**
   * A job's stored output in arrival order, read a page at a time (so a large job is never all in
   * memory), up to what is stored now.
   */
  async storedOutput(jobId: string): Promise<AsyncIterable<NodeOutput>> {
    const job = await this.describe(jobId);
    return this.#outputUpTo(job, await this.#jobs.lastOutputRowid(jobId));
  }

  /** A job's stored output up to `last` (a position lastOutputRowid returned), a page at a time. */
  async *#outputUpTo(job: Job, last: number): AsyncIterable<NodeOutput> {
    for await (const chunk of this.#outputBetween(job, 0, last)) yield chunk.value;
  }

  /** A job's stored output after position `after` up to `last`, with each chunk's position and seq. */
  async *#outputBetween(job: Job, after: number, last: number): AsyncIterable<{ rowid: number; seq: number; value: NodeOutput }> {
    const names = new Map(job.runs.map((r) => [r.nodeId, r.nodeName]));
    for (;;) {
      const page = await this.#jobs.outputPage(job.id, after, last, OUTPUT_PAGE);
      if (page.length === 0) return;
      for (const o of page) {
        yield { rowid: o.rowid, seq: o.seq, value: { nodeId: o.nodeId, nodeName: names.get(o.nodeId) ?? o.nodeId, stream: o.stream, data: o.data, atUnixMs: o.at } };
      }
      after = page.at(-1)!.rowid;
    }
  }

  /**
   * Follows a job: sends the job, its stored output (waiting for `send` whenever it returns a
   * promise, so a slow reader holds the replay back), then live events; the last event is `done`.
   * Events that happen during the replay are held and sent after it, in order. The bus is heard
   * from before the job is read, so no event after the read is missed; output the replay already
   * sent is dropped by its sequence number (with several replicas, a chunk another replica stored
   * before the read may be heard after it). With other replicas, the store is checked every
   * scanMs too, so a follower whose bus missed the end still ends. Returns a function that stops
   * following.
   */
  async follow(jobId: string, send: (event: JobEvent) => void | Promise<void>): Promise<() => void> {
    let stopped = false;
    let replaying = true;
    let ended = false;
    /** A catch-up from the store is running; the end was sent (it is sent once). */
    let catching = false;
    let endSent = false;
    const end = async (value: Job) => {
      if (endSent || stopped) return;
      endSent = true;
      await send({ body: { $case: 'done', value } });
    };
    const held: BusJobEvent[] = [];
    // Output sent, per node: up to a seq by the first replay (stored in seq order), and each seq
    // sent after it (live, or by the catch-up, which fills what a bus outage missed).
    const replayed = new Map<string, number>();
    const sentLater = new Map<string, Set<number>>();
    /** True the first time a chunk is offered; `later`: noted as sent after the first replay. */
    const first = (nodeId: string, seq: number, later: boolean) => {
      if (seq <= (replayed.get(nodeId) ?? 0)) return false;
      let seen = sentLater.get(nodeId);
      if (seen?.has(seq)) return false;
      if (!later) replayed.set(nodeId, seq);
      else {
        if (!seen) sentLater.set(nodeId, (seen = new Set()));
        seen.add(seq);
      }
      return true;
    };
    /** The last stored position the first replay read. */
    let position = 0;
    let firstReplay = true;
    /** Each run's state as last sent, so a run event older than the job read first is not sent after it. */
    const runStates = new Map<string, RunState>();
    const deliver = (event: BusJobEvent) => {
      if (ended) return;
      const body = event.body;
      if (body?.$case === 'output' && event.seq !== undefined && !first(body.value.nodeId, event.seq, true)) return;
      if (body?.$case === 'run') {
        const known = runStates.get(body.value.nodeId);
        if (known !== undefined && runStateRank(body.value.state) < runStateRank(known)) return;
        runStates.set(body.value.nodeId, body.value.state);
      }
      if (body?.$case === 'done') {
        finish();
        // The bus missed events since this follow began: what it missed is in the store.
        if ((this.#bus.outages?.() ?? 0) !== outagesAt) void catchUp(body.value);
        else void end(body.value);
        return;
      }
      void send({ body });
    };
    const live = (event: BusJobEvent) => {
      if (replaying) held.push(event);
      else deliver(event);
    };
    const outagesAt = this.#bus.outages?.() ?? 0;
    let unsubscribe = this.#bus.subscribe(jobTopic(jobId), live);
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      ended = true;
      clearInterval(timer);
      unsubscribe();
    };
    const stop = () => {
      stopped = true;
      finish();
    };
    // In the write queue: batches before this one are stored and published, later ones are
    // stored after `last` and published to `live`, so the replay and the live events meet.
    let read: { job: Job; last: number };
    try {
      read = await this.#write(async () => ({ job: await this.#describeNow(jobId), last: await this.#jobs.lastOutputRowid(jobId) }));
    } catch (err) {
      unsubscribe();
      throw err;
    }
    const { job, last } = read;
    if (job.done) {
      unsubscribe();
      unsubscribe = () => {};
      held.length = 0;
    }
    /** Sends stored output after `position` up to `upTo` that was not sent yet. */
    const replay = async (upTo: number) => {
      const later = !firstReplay;
      for await (const chunk of this.#outputBetween(job, position, upTo)) {
        if (stopped) return;
        if (!later) position = chunk.rowid;
        if (first(chunk.value.nodeId, chunk.seq, later)) await send({ body: { $case: 'output', value: chunk.value } });
      }
      firstReplay = false;
    };
    for (const r of job.runs) runStates.set(r.nodeId, r.state);
    void (async () => {
      await send({ body: { $case: 'job', value: job } });
      await replay(last);
      if (stopped) return;
      replaying = false;
      if (job.done) {
        ended = true;
        await end(job);
        return;
      }
      for (const event of held.splice(0)) deliver(event);
      if (this.#scanMs && !ended) timer = setInterval(() => void catchUp(), this.#scanMs);
    })().catch((err: unknown) => {
      this.#log.error({ err, job: jobId }, 'following a job failed');
      stop();
    });
    // The job ended and the bus missed its 'done' (given: heard, but output may have been missed):
    // the rest of the output from the store, then the end.
    const catchUp = async (done?: Job) => {
      if (endSent || (catching && !done)) return;
      catching = true;
      try {
        if (!done) {
          const stored = await this.#jobs.get(jobId);
          if (!stored || stored.finishedAt === null) return;
        }
        const now = done ?? (await this.#describeNow(jobId));
        finish();
        await replay(await this.#jobs.lastOutputRowid(jobId));
        await end(now);
      } catch (err) {
        this.#log.warn({ err, job: jobId }, 'could not check whether a followed job ended');
      } finally {
        catching = false;
      }
    };
    return stop;
  }

  // --- AgentHubListener -------------------------------------------------------------------

  onOnline(nodeId: string): void {
    for (const active of this.#active.values()) {
      const run = active.runs.get(nodeId);
      if (!run) continue;
      // A run in flight when the link dropped is sent again; the agent ignores jobs it knows.
      if (IN_FLIGHT.has(run.state)) this.#sendCommand(active, run);
      else if (isWaiting(run)) this.#pump(active);
    }
  }

  onOffline(nodeId: string): void {
    const now = Date.now();
    for (const active of [...this.#active.values()]) {
      const run = active.runs.get(nodeId);
      if (!run || !isWaiting(run)) continue;
      // Only this node's run can change: report or queue it without walking the others.
      this.#offline(active, run, now);
      if (active.terminal === active.runs.size) this.#finish(active, now);
    }
  }

  onExecEvent(nodeId: string, event: ExecEvent): void {
    this.#inbox.push({ nodeId, event });
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => void this.#flush());
    }
  }

  onCommandRejected(nodeId: string, rejection: CommandRejected): void {
    const active = this.#active.get(rejection.jobId);
    const run = active?.runs.get(nodeId);
    if (!active || !run || TERMINAL_RUN_STATES.has(run.state)) return;
    this.#log.warn({ job: rejection.jobId, nodeId, reason: rejection.reason }, 'agent refused a command');
    this.#setRun(active, run, { state: RunState.RUN_STATE_FAILED, error: `the agent refused the command: ${rejection.reason}`, finishedAt: Date.now() });
    this.#pump(active);
  }

  // --- internals --------------------------------------------------------------------------

  /**
   * A batch the store did not take (the database is down or restarting) is tried again a second
   * later, before newer events, so nothing waits for the agents to reconnect; nothing is
   * acknowledged until it is stored. Past RETAINED_EVENTS held, a batch is dropped instead: its
   * agents still have it and send it again when they reconnect.
   */
  #retryLater(batch: { nodeId: string; event: ExecEvent }[]): void {
    if (this.#inbox.length + batch.length > RETAINED_EVENTS) {
      this.#log.error({ events: batch.length }, 'the store is away and too many agent events wait; dropping these until their agents reconnect and send them again');
      return;
    }
    this.#inbox = [...batch, ...this.#inbox];
    if (this.#retryTimer) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#flush();
    }, 1000);
    this.#retryTimer.unref();
  }

  #retryTimer: NodeJS.Timeout | undefined;

  /**
   * Stores a batch of agent events at once, then acknowledges and publishes them. When the store
   * fails nothing is acknowledged and the batch is tried again (#retryLater).
   */
  async #flush(): Promise<void> {
    this.#flushScheduled = false;
    if (this.#retryTimer) return; // the retry flushes everything waiting
    const batch = this.#inbox;
    this.#inbox = [];
    if (batch.length === 0) return;
    // Runs of jobs this server no longer drives (late or replayed events), read once per batch.
    const stored = new Map<string, Map<string, RunRecord>>();
    try {
      for (const { event } of batch) {
        if (!this.#active.has(event.jobId) && !stored.has(event.jobId)) stored.set(event.jobId, new Map((await this.#jobs.runs(event.jobId)).map((r) => [r.nodeId, r])));
      }
    } catch (err) {
      this.#log.error({ err }, 'could not read the runs of jobs driven elsewhere; trying again in a second');
      this.#retryLater(batch);
      return;
    }
    const acks = new Map<string, { nodeId: string; jobId: string; seq: number }>();
    // What to publish, in order; a run that changes more than once in a batch (started and
    // finished together) is stored and published once, in its last state, where it last changed.
    const published: ({ jobId: string; event: BusJobEvent } | RunRecord | null)[] = [];
    const changedAt = new Map<RunRecord, number>();
    const changed = (active: ActiveJob | undefined, run: RunRecord, change: Partial<RunRecord>) => {
      this.#applyRun(active, run, change);
      const before = changedAt.get(run);
      if (before !== undefined) published[before] = null;
      changedAt.set(run, published.push(run) - 1);
    };
    const touched = new Set<ActiveJob>();
    const storedRun = (jobId: string, nodeId: string) => stored.get(jobId)?.get(nodeId);
    const output: JobOutputRecord[] = [];
    const outputEvents: { jobId: string; event: BusJobEvent }[] = [];
    {
      for (const { nodeId, event } of batch) {
        const key = `${nodeId}\0${event.jobId}`;
        const seq = Number(event.seq);
        if ((acks.get(key)?.seq ?? 0) < seq) acks.set(key, { nodeId, jobId: event.jobId, seq });
        const active = this.#active.get(event.jobId);
        const run = active ? active.runs.get(nodeId) : storedRun(event.jobId, nodeId);
        if (!run || !event.body) continue;
        if (active) touched.add(active);
        const at = Number(event.atUnixMs) || Date.now();
        switch (event.body.$case) {
          case 'started':
            if (!TERMINAL_RUN_STATES.has(run.state)) changed(active, run, { state: RunState.RUN_STATE_RUNNING, startedAt: at });
            break;
          case 'output': {
            const { stream, data } = event.body.value;
            output.push({ jobId: event.jobId, nodeId, seq, stream: stream === OutputStream.OUTPUT_STREAM_STDERR ? stream : OutputStream.OUTPUT_STREAM_STDOUT, data, at });
            // Published only if stored now (not a replay of a stored chunk): see below.
            const chunk = { jobId: event.jobId, event: { body: { $case: 'output', value: { nodeId, nodeName: run.nodeName, stream, data, atUnixMs: at } }, seq } } satisfies { jobId: string; event: BusJobEvent };
            outputEvents.push(chunk);
            published.push(chunk);
            break;
          }
          case 'finished':
            if (!TERMINAL_RUN_STATES.has(run.state) || run.state === RunState.RUN_STATE_LOST) {
              const f = event.body.value;
              const state = f.timedOut
                ? RunState.RUN_STATE_TIMED_OUT
                : f.exitCode === 0 && !f.signal && !f.error
                  ? RunState.RUN_STATE_SUCCEEDED
                  : RunState.RUN_STATE_FAILED;
              changed(active, run, { state, exitCode: f.exitCode, signal: f.signal || null, error: f.error || null, finishedAt: at, startedAt: run.startedAt ?? at });
            }
            break;
        }
      }
    }
    const runs = [...changedAt.keys()];
    for (const run of runs) this.#dirty.delete(run);
    await this.#write(async () => {
      let fresh: boolean[];
      try {
        fresh = await this.#jobs.write({ output, runs: runs.map((r) => ({ ...r })) });
      } catch (err) {
        this.#log.error({ err }, 'could not store agent events; trying again in a second');
        // The runs changed in memory are stored with the next batch.
        for (const run of runs) this.#markDirty(run);
        this.#retryLater(batch);
        return;
      }
      const replayed = new Set(outputEvents.filter((_, i) => !fresh[i]));
      for (const ack of acks.values()) this.#hub.send(ack.nodeId, { body: { $case: 'ack', value: { jobId: ack.jobId, seq: ack.seq } } });
      for (const p of published) {
        if (p === null) continue;
        if ('event' in p) {
          if (!replayed.has(p)) this.#bus.publish(jobTopic(p.jobId), p.event);
        } else this.#bus.publish<JobEvent>(jobTopic(p.jobId), { body: { $case: 'run', value: toRunMessage(p) } } satisfies JobEvent);
      }
    });
    for (const active of touched) this.#pump(active);
  }

  /**
   * Queues a store write behind the ones before it and returns its result. A write that fails
   * fails only its caller; the queue goes on.
   */
  #write<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#writing.then(fn);
    this.#writing = result.catch(() => undefined);
    return result;
  }

  /** A run changed in memory: it is stored soon, in one batch with the others changed meanwhile. */
  #markDirty(run: RunRecord): void {
    this.#dirty.add(run);
    if (this.#saveScheduled) return;
    this.#saveScheduled = true;
    setImmediate(() => this.#saveDirty());
  }

  /** Queues the runs changed in memory for the store (in their current state). */
  #saveDirty(): void {
    this.#saveScheduled = false;
    if (this.#dirty.size === 0) return;
    const runs = [...this.#dirty];
    this.#dirty.clear();
    const snapshot = runs.map((r) => ({ ...r }));
    void this.#write(() => this.#jobs.write({ runs: snapshot })).catch((err: unknown) => {
      this.#log.error({ err }, 'could not store the state of runs; trying again in a second');
      // Kept for the once-a-second tick (not at once: a store that is down would spin).
      for (const run of runs) this.#dirty.add(run);
    });
  }

  /** Applies a change to a run, stores it, and publishes it to watchers. */
  #setRun(active: ActiveJob | undefined, run: RunRecord, change: Partial<RunRecord>): void {
    this.#applyRun(active, run, change);
    this.#markDirty(run);
    this.#bus.publish<JobEvent>(jobTopic(run.jobId), { body: { $case: 'run', value: toRunMessage(run) } } satisfies JobEvent);
  }

  /** Applies a change to a run in memory, keeping the job's counts (the caller stores it). */
  #applyRun(active: ActiveJob | undefined, run: RunRecord, change: Partial<RunRecord>): void {
    const before = run.state;
    Object.assign(run, change);
    if (this.#metrics && run.state !== before) {
      if (run.state === RunState.RUN_STATE_DISPATCHED && active) this.#metrics.runDispatched((Date.now() - active.job.createdAt) / 1000);
      if (TERMINAL_RUN_STATES.has(run.state) && !TERMINAL_RUN_STATES.has(before)) this.#metrics.runFinished(run.state);
    }
    if (active) {
      active.runs.set(run.nodeId, run);
      const after = run.state;
      const delta = (states: ReadonlySet<RunState>) => (states.has(after) ? 1 : 0) - (states.has(before) ? 1 : 0);
      active.inFlight += delta(IN_FLIGHT);
      active.failures += delta(FAILED_STATES);
      active.terminal += delta(TERMINAL_RUN_STATES);
    }
  }

  /**
   * Sends a run's exec command. A run whose command the link does not take (the node dropped
   * meanwhile) stays in flight: it is sent again when the node comes back, or given up as lost.
   */
  #sendCommand(active: ActiveJob, run: RunRecord): void {
    const { spec } = active.job;
    void this.#commands.send(run.nodeId, `${active.job.id}/${run.nodeId}`, { $case: 'exec', value: { jobId: active.job.id, argv: spec.argv, shell: spec.shell, timeoutMs: spec.timeoutMs } });
  }

  /**
   * Moves a job forward: skips what is left once max errors is reached, reports or queues runs
   * of offline nodes, dispatches within the concurrency limit, and finishes the job when every
   * run is done. `all` walks every waiting run; otherwise the walk stops at the first online run
   * with no free slot (offline runs beyond it are reported when the node goes offline, or by the
   * once-a-second full pass).
   */
  #pump(active: ActiveJob, all = false): void {
    if (active.job.finishedAt !== null) return;
    const now = Date.now();
    const { spec } = active.job;
    const stopped = spec.maxErrors > 0 && active.failures >= spec.maxErrors;
    const failures = active.failures;
    const w = active.waiting;
    {
      let front = true;
      for (let i = active.head; i < w.length; i++) {
        const run = w[i]!;
        if (isWaiting(run)) {
          if (stopped) {
            this.#setRun(active, run, { state: RunState.RUN_STATE_SKIPPED, error: `not run: ${failures} node(s) failed (max errors ${spec.maxErrors})`, finishedAt: now });
          } else if (!this.#hub.isOnline(run.nodeId)) {
            this.#offline(active, run, now);
          } else if (active.inFlight < active.limit) {
            this.#sendCommand(active, run);
            this.#setRun(active, run, { state: RunState.RUN_STATE_DISPATCHED, dispatchedAt: now });
          } else if (!all) {
            break;
          }
        }
        if (front && !isWaiting(run)) active.head = i + 1;
        else front = false;
      }
      if (active.head > 1024 && active.head * 2 > w.length) {
        w.splice(0, active.head);
        active.head = 0;
      }
    }
    if (active.terminal === active.runs.size) this.#finish(active, now);
  }

  /** A waiting run whose node is offline: reported at once, queued, or given up when its queue time is over. */
  #offline(active: ActiveJob, run: RunRecord, now: number): void {
    const { spec } = active.job;
    // A node restarting into a new agent version is not offline: its runs wait for it.
    if (this.#hub.isRestarting(run.nodeId)) return;
    if (spec.queueTtlMs <= 0) {
      this.#setRun(active, run, { state: RunState.RUN_STATE_OFFLINE, error: 'node is offline', finishedAt: now });
    } else if (run.state === RunState.RUN_STATE_PENDING) {
      this.#setRun(active, run, { state: RunState.RUN_STATE_QUEUED, queueExpiresAt: active.job.createdAt + spec.queueTtlMs });
    } else if (now >= (run.queueExpiresAt ?? 0)) {
      this.#setRun(active, run, { state: RunState.RUN_STATE_OFFLINE, error: 'node stayed offline past the queue time', finishedAt: now });
    }
  }

  #finish(active: ActiveJob, now: number): void {
    if (active.job.finishedAt !== null) return;
    active.job.finishedAt = now;
    const job = toJobMessage(active.job, [...active.runs.values()].sort((a, b) => a.position - b.position));
    // Its runs first, then the job's end, so a reader that sees it finished sees its runs too.
    this.#saveDirty();
    this.#log.info({ job: job.id, runs: job.runs.length }, 'job finished');
    // Dropped from memory and announced in the write queue, once stored: a follower queued
    // before this finds it here (finished), one queued after finds it finished in the store.
    void this.#write(async () => {
      try {
        await this.#jobs.finish(active.job.id, now);
      } catch (err) {
        this.#log.error({ err, job: job.id }, 'could not store the end of a job');
      }
      active.unsubscribe();
      this.#active.delete(active.job.id);
      this.#bus.publish<JobEvent>(jobTopic(active.job.id), { body: { $case: 'done', value: job } } satisfies JobEvent);
    });
    void this.#leases.release(active.job.id).catch((err: unknown) => this.#log.error({ err, job: job.id }, 'could not release the lease of a finished job'));
  }

  /** Once a second: expire queues and give up on runs whose agent never reported back. */
  #tick(): void {
    const now = Date.now();
    if (!this.#saveScheduled) this.#saveDirty();
    for (const active of [...this.#active.values()]) {
      const timeout = active.job.spec.timeoutMs;
      for (const run of active.runs.values()) {
        if (IN_FLIGHT.has(run.state) && timeout > 0 && run.dispatchedAt !== null && now > run.dispatchedAt + timeout + LOST_GRACE_MS) {
          this.#setRun(active, run, { state: RunState.RUN_STATE_LOST, error: 'no result from the agent in time (it may report later)', finishedAt: now });
        }
      }
      this.#pump(active, true);
    }
  }
}

/** A run as the bus carries it, back to the fields a driver merges (0 and '' are absent). */
function fromRunMessage(r: NodeRun): Pick<RunRecord, 'nodeId' | 'state' | 'exitCode' | 'signal' | 'error' | 'startedAt' | 'finishedAt'> {
  const final = TERMINAL_RUN_STATES.has(r.state);
  return { nodeId: r.nodeId, state: r.state, exitCode: final ? r.exitCode : null, signal: r.signal || null, error: r.error || null, startedAt: r.startedUnixMs || null, finishedAt: r.finishedUnixMs || null };
}

function toRunMessage(r: RunRecord): NodeRun {
  return {
    nodeId: r.nodeId,
    nodeName: r.nodeName,
    state: r.state,
    exitCode: r.exitCode ?? 0,
    signal: r.signal ?? '',
    error: r.error ?? '',
    startedUnixMs: r.startedAt ?? 0,
    finishedUnixMs: r.finishedAt ?? 0,
  };
}

function toJobMessage(job: JobRecord, runs: RunRecord[]): Job {
  const s = job.spec;
  return {
    id: job.id,
    createdUnixMs: job.createdAt,
    createdBy: job.createdBy,
    argv: s.argv,
    shell: s.shell,
    selector: s.selector,
    nodes: s.nodes,
    maxConcurrency: s.maxConcurrency,
    maxErrors: s.maxErrors,
    timeoutMs: s.timeoutMs,
    queueTtlMs: s.queueTtlMs,
    done: job.finishedAt !== null,
    finishedUnixMs: job.finishedAt ?? 0,
    runs: runs.map(toRunMessage),
  };
}
