// Prometheus metrics for fleet-server (prom-client): one registry per server, our own metrics
// under the `fleet_` prefix beside prom-client's default process metrics. Counters are fed by the
// collaborators that see the events (enrollment, dispatcher, request logging); gauges are read
// from their sources when scraped, so they can never drift from the truth.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { runStateToJSON, type RunState } from '../proto/gen/fleet/v1/control';

/** Where the scrape-time gauges read their values. */
export interface MetricSources {
  /** Enrolled nodes and how many of them are connected now. */
  nodes(): Promise<{ enrolled: number; online: number }>;
  /** Open remote shell sessions. */
  openShells(): number;
  /** Agent links held by this server (with replicas, `nodes` counts every replica's). */
  links?(): number;
}

/** Which side of the server saw a request: the gRPC Control port or the HTTPS port. */
export type RequestVia = 'grpc' | 'http';

/** Seconds between a job's creation and a command sent to a node. */
const DISPATCH_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** "RUN_STATE_TIMED_OUT" → "timed-out", the form the CLI prints. */
export function runStateLabel(state: RunState): string {
  return runStateToJSON(state).replace(/^RUN_STATE_/, '').toLowerCase().replaceAll('_', '-');
}

/**
 * The server's metrics. Create one per server and hand it to the parts that count events.
 *
 * @example
 *   const metrics = new Metrics({ nodes: async () => ({ enrolled: 3, online: 2 }), openShells: () => 0 });
 *   metrics.jobStarted();
 *   const text = await metrics.text(); // Prometheus text format
 */
export class Metrics {
  /** The registry holding every metric below and the default process metrics. */
  readonly registry = new Registry();
  readonly #enrollments: Counter<'result'>;
  readonly #jobsStarted: Counter;
  readonly #runsFinished: Counter<'state'>;
  readonly #dispatchLatency: Histogram;
  readonly #authFailures: Counter<'via'>;
  readonly #internalErrors: Counter<'via'>;

  /**
   * `replica`: with several replicas, this one's id, added as the label `replica` to every metric
   * (gauges of the whole fleet, such as fleet_nodes, read the same on every replica).
   */
  constructor(sources: MetricSources, options: { replica?: string } = {}) {
    const registers = [this.registry];
    if (options.replica) this.registry.setDefaultLabels({ replica: options.replica });
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'fleet_agent_links',
      help: 'Agents connected to this server now.',
      registers,
      collect() {
        this.set(sources.links?.() ?? 0);
      },
    });
    new Gauge({
      name: 'fleet_nodes',
      help: 'Enrolled nodes by connection state (online: an agent is connected now).',
      labelNames: ['state'],
      registers,
      async collect() {
        const { enrolled, online } = await sources.nodes();
        this.set({ state: 'online' }, online);
        this.set({ state: 'offline' }, Math.max(0, enrolled - online));
      },
    });
    new Gauge({
      name: 'fleet_nodes_enrolled',
      help: 'Nodes enrolled on this server (online or not).',
      registers,
      async collect() {
        this.set((await sources.nodes()).enrolled);
      },
    });
    new Gauge({
      name: 'fleet_shell_sessions_active',
      help: 'Remote shell sessions open now (CLI and web).',
      registers,
      collect() {
        this.set(sources.openShells());
      },
    });
    this.#enrollments = new Counter({ name: 'fleet_enrollments_total', help: 'Enrollment attempts by result (ok, refused).', labelNames: ['result'], registers });
    this.#jobsStarted = new Counter({ name: 'fleet_jobs_started_total', help: 'Jobs started (fleet exec and the Control API).', registers });
    this.#runsFinished = new Counter({ name: 'fleet_node_runs_finished_total', help: "Per-node job runs that reached a final state, by that state.", labelNames: ['state'], registers });
    this.#dispatchLatency = new Histogram({
      name: 'fleet_job_dispatch_latency_seconds',
      help: 'Time from a job being created to its command being sent to a node (includes time queued for an offline node or a concurrency slot).',
      buckets: DISPATCH_BUCKETS,
      registers,
    });
    this.#authFailures = new Counter({ name: 'fleet_api_auth_failures_total', help: 'Requests refused for a missing, malformed or unknown API token, by port (grpc, http).', labelNames: ['via'], registers });
    this.#internalErrors = new Counter({ name: 'fleet_internal_errors_total', help: 'Requests that failed with an internal server error, by port (grpc, http).', labelNames: ['via'], registers });
    // Present from the first scrape, so rate() has a starting point.
    for (const result of ['ok', 'refused']) this.#enrollments.inc({ result }, 0);
    for (const via of ['grpc', 'http']) {
      this.#authFailures.inc({ via }, 0);
      this.#internalErrors.inc({ via }, 0);
    }
  }

  /** Counts one enrollment attempt. */
  enrollment(ok: boolean): void {
    this.#enrollments.inc({ result: ok ? 'ok' : 'refused' });
  }

  /** Counts one started job. */
  jobStarted(): void {
    this.#jobsStarted.inc();
  }

  /** Records a command sent to a node, `seconds` after its job was created. */
  runDispatched(seconds: number): void {
    this.#dispatchLatency.observe(Math.max(0, seconds));
  }

  /** Counts a node run that reached a final state. */
  runFinished(state: RunState): void {
    this.#runsFinished.inc({ state: runStateLabel(state) });
  }

  /** Counts a request refused for its API token. */
  authFailure(via: RequestVia): void {
    this.#authFailures.inc({ via });
  }

  /** Counts a request that failed with an internal error. */
  internalError(via: RequestVia): void {
    this.#internalErrors.inc({ via });
  }

  /** The Content-Type of `text()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric in the Prometheus text exposition format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
